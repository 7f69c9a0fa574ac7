"""Issue 18: the review and exports show exactly the last run's inputs, with their current content —
after files are deleted, changed or added between runs, after a kill between the last record and the
review, and after `docpipe prune`."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.store.current import MARKER
from tests.conftest import REPO, SAMPLES, write_contracts, write_pdf
from tests.exports_check import assert_truthful, exported

SAMPLE_PDFS = sorted(SAMPLES.glob("*.pdf"))


def docpipe(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_the_eleven_file_inbox_story(tmp_path):
    """11 files, then 2 deleted, 2 overwritten with other contracts, 1 added, 1 corrupt repaired: the
    exports list the 10 current files with their current content, `status` says the same, prune removes
    exactly the superseded and vanished folders, and a run after it reuses everything."""
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    files = write_contracts(inbox, 7)
    for sample in SAMPLE_PDFS:
        files.append(inbox / sample.name)
        shutil.copyfile(sample, files[-1])
    corrupt = inbox / "scan-upload.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog")  # cut off in transfer
    files.append(corrupt)
    assert len(files) == 11
    assert docpipe("run", inbox, "-o", out, "--tasks", "clauses").exit_code == 1
    assert_truthful(out, files)
    first_ids = {r["source"]["path"]: r["doc_id"] for r in exported(out)}

    files[0].unlink()
    files[1].unlink()
    shutil.copyfile(SAMPLE_PDFS[0], files[2])  # overwritten with a contract that is also in the inbox
    write_pdf(files[3], ["A new version of this contract. This Agreement shall be governed by the laws of "
                         "the State of Vermont."])
    write_pdf(corrupt, ["Repaired upload. The term of this Agreement is 9 years from the Effective Date."])
    added = write_pdf(inbox / "new-lease.pdf", ["Lease. Neither party may assign this Agreement."])
    current = [*files[2:], added]
    result = docpipe("run", inbox, "-o", out, "--tasks", "clauses")
    assert result.exit_code == 0, result.output
    rows = assert_truthful(out, current)
    assert len(rows) == 10 and len((out / "results.jsonl").read_text().splitlines()) == 10
    index = (out / "index.html").read_text()
    assert files[0].name not in index and files[1].name not in index and "not a PDF" not in index

    state = json.loads(docpipe("status", out, "--json").stdout)
    listed = sorted(d["path"] for kind in ("done", "partial", "failed") for d in state["documents"][kind])
    listed += [d["path"] for d in state["documents"]["duplicates"]]
    assert sorted(listed) == sorted(r["source"]["path"] for r in rows)
    assert state["documents"]["failed"] == [] and state["documents"]["pending"] == []

    stale = {first_ids[str(p)] for p in (files[0], files[1], files[2], files[3], corrupt)}
    listing = docpipe("prune", out, "--dry-run")
    assert listing.exit_code == 0 and f"{len(stale)} result folder(s)" in listing.stdout
    assert all((out / doc_id).is_dir() for doc_id in stale)  # a dry run removes nothing
    pruned = docpipe("prune", out)
    assert pruned.exit_code == 0 and all(f"removed {out / d}/" in pruned.stdout for d in stale)
    assert not any((out / doc_id).exists() for doc_id in stale)
    kept = {r["doc_id"] for r in rows}
    assert kept == {p.name for p in out.iterdir() if (p / "result.json").is_file()}
    again = docpipe("run", inbox, "-o", out, "--tasks", "clauses")
    assert again.exit_code == 0 and "0 processed" in again.stdout
    assert_truthful(out, current)


def test_an_empty_inbox_says_so_and_exports_nothing(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    (first,) = write_contracts(inbox, 1)
    assert docpipe("run", inbox, "-o", out).exit_code == 0
    first.unlink()
    result = docpipe("run", inbox, "-o", out)
    assert result.exit_code == 0 and f"no PDFs found under {inbox}" in result.stdout
    assert "citation" not in result.stdout
    report = json.loads((out / "run_report.json").read_text())
    assert report["documents"] == [] and "citations_found_ratio" not in report["totals"]
    assert_truthful(out, [])


KILL_AT_REVIEW = """
import os, signal, sys
from pipeline.run import core
from pipeline.cli import app
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # after the last record, before the review is rebuilt
core.refresh_review = killed
sys.argv = ["docpipe", *sys.argv[1:]]
app()
"""


def test_a_kill_between_the_last_record_and_the_review_is_repaired_by_the_next_run(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    files = write_contracts(inbox, 3)
    assert docpipe("run", inbox, "-o", out, "--tasks", "clauses").exit_code == 0
    write_pdf(files[1], ["Changed. This Agreement shall be governed by the laws of the State of Alaska."])
    files[2].unlink()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-c", KILL_AT_REVIEW, "run", str(inbox), "-o", str(out), "--tasks",
                             "clauses"], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rows = exported(out)  # stale: the old content of files[1] and the deleted files[2]
    assert len(rows) == 3 and "Alaska" not in (out / "clauses.csv").read_text()
    built = json.loads((out / MARKER).read_text())["generation"]
    result = docpipe("run", inbox, "-o", out, "--tasks", "clauses")  # nothing to process, but a stale review
    assert result.exit_code == 0 and "0 processed" in result.stdout
    assert json.loads((out / MARKER).read_text())["generation"] > built
    assert_truthful(out, files[:2])
    assert "Alaska" in (out / "clauses.csv").read_text()
    (out / "clauses.csv").unlink()  # a review file lost another way: the marker alone does not hide it
    assert docpipe("run", inbox, "-o", out, "--tasks", "clauses").exit_code == 0
    assert_truthful(out, files[:2])
