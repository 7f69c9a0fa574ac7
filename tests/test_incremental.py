"""Incremental runs through `runner.run` on real PDFs: what is skipped, what is redone, and why."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from pipeline.config import RunConfig
from pipeline.engines.extractive import ExtractiveEngine
from pipeline.errors import ConfigError
from scripted_engine import ScriptedEngine
from pipeline.models import Completion
from pipeline.run.core import run
from pipeline.store.runstore import store_path
from tests.conftest import REPO, encrypt_pdf, write_contracts, write_pdf

CONFIG = RunConfig(tasks=("clauses",))


class CountingEngine(ExtractiveEngine):
    """The real extractive engine, remembering which documents it was asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.doc_ids: list[str] = []

    def generate(self, requests):
        self.doc_ids += sorted({r.doc_id for r in requests})
        return super().generate(requests)


def _run(folder: Path, out: Path, config: RunConfig = CONFIG):
    engine = CountingEngine()
    return run([folder], out, config, engine=engine), engine


def _rows(out: Path) -> dict[str, tuple]:
    with sqlite3.connect(store_path(out)) as db:
        rows = db.execute("SELECT path, status, run_id, finished_at, attempts, final FROM results").fetchall()
    return {Path(r[0]).name: r[1:] for r in rows}


def test_unchanged_documents_are_not_redone(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, 3)
    first, engine = _run(folder, out)
    assert first.totals["processed"] == 3 and len(engine.doc_ids) == 3
    rows, mtimes = _rows(out), {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    again, engine = _run(folder, out)
    assert engine.doc_ids == [] and again.totals["reused"] == 3 and again.totals["processed"] == 0
    assert all(d.cached for d in again.documents) and again.totals["ok"] == 3
    assert _rows(out) == rows and {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")} == mtimes


def test_a_changed_file_redoes_that_file_only(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    paths = write_contracts(folder, 3)
    _run(folder, out)
    write_pdf(paths[1], ["Contract one, rewritten. The Supplier shall indemnify the Customer."])
    os.utime(paths[2])  # touched, same content: hashed again, not redone
    report, engine = _run(folder, out)
    assert report.totals["processed"] == 1 and len(engine.doc_ids) == 1
    assert {d.path for d in report.documents if not d.cached} == {str(paths[1])}


def test_a_changed_config_redoes_everything_and_force_too(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, 2)
    _run(folder, out)
    checklist = tmp_path / "mine.csv"
    checklist.write_text("name,description\nGoverning Law,which law governs\n")
    changed = CONFIG.model_copy(update={"checklist": checklist})
    with pytest.raises(ConfigError, match="other settings: checklist"):  # refused: nothing is touched
        _run(folder, out, changed)
    changed = changed.model_copy(update={"reconfigure": True})
    assert _run(folder, out, changed)[0].totals["processed"] == 2
    assert _run(folder, out, changed)[0].totals["processed"] == 0
    # Back to the first config: its results were overwritten, so they are redone, not wrongly reused.
    assert _run(folder, out, CONFIG.model_copy(update={"reconfigure": True}))[0].totals["processed"] == 2
    forced, engine = _run(folder, out, CONFIG.model_copy(update={"redo": "all"}))
    assert forced.totals["processed"] == 2 and len(engine.doc_ids) == 2
    assert {r[3] for r in _rows(out).values()} == {2}  # attempts: the first run of this config, and --force


def test_same_pdf_under_two_names_is_processed_once(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    (original,) = write_contracts(folder, 1)
    copy = folder / "zz copy of it.pdf"
    copy.write_bytes(original.read_bytes())
    report, engine = _run(folder, out)
    assert len(engine.doc_ids) == 1 and report.totals["duplicates"] == 1 and report.totals["documents"] == 2
    by_path = {d.path: d for d in report.documents}
    assert by_path[str(copy)].duplicate_of == str(original)
    assert by_path[str(copy)].doc_id == by_path[str(original)].doc_id
    assert (out / by_path[str(copy)].doc_id / "result.json").is_file()
    assert _run(folder, out)[1].doc_ids == []


def test_failures_final_or_retried(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, 1)
    (folder / "notes.pdf").write_text("not a PDF at all")
    encrypt_pdf(write_pdf(tmp_path / "plain.pdf", ["Secret terms."]), folder / "locked.pdf", "pw")
    _run(folder, out)
    _run(folder, out)
    rows = _rows(out)
    assert rows["notes.pdf"][3:] == (1, 1)  # the file itself is bad: final, not retried while unchanged
    assert rows["locked.pdf"][3:] == (2, 0)  # a password may come: retried
    report, _ = _run(folder, out, CONFIG.model_copy(update={"password": SecretStr("pw"), "redo": "failed"}))
    assert report.totals["processed"] == 2 and _rows(out)["locked.pdf"][0] == "ok"


def test_engine_failures_are_retried_up_to_a_limit(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, 1)
    failing = Completion(request_id="-", error="server went away")
    for attempt in range(1, 5):
        engine = ScriptedEngine({"*": failing})
        report = run([folder], out, CONFIG, engine=engine)
        assert report.totals["failed"] == 1
        assert len(engine.requests) == (1 if attempt <= 3 else 0)  # the 4th run leaves it alone


def test_missing_result_file_is_redone_and_stray_temp_files_go(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, 2)
    report, _ = _run(folder, out)
    gone = out / report.documents[0].doc_id / "result.json"
    gone.unlink()
    stray = out / report.documents[1].doc_id / ".result.json.abc123.tmp"
    stray.write_text('{"half": ')
    again, engine = _run(folder, out)
    assert again.totals["processed"] == 1 and gone.is_file() and not stray.exists()


def test_a_run_with_nothing_to_do_loads_no_tokenizer_and_no_engine(tmp_path):
    """Nor the PDF reader (no worker process) nor the HTML review report (left as it is)."""
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, 2)
    _run(folder, out)
    report_mtime = (out / "index.html").stat().st_mtime_ns
    code = (
        "import sys; from pathlib import Path; from pipeline.config import RunConfig; from pipeline.run.core import run;"
        f"r = run([Path({str(folder)!r})], Path({str(out)!r}), RunConfig(tasks=('clauses',)));"
        "assert r.totals['reused'] == 2, r.totals;"
        "heavy = [m for m in ('transformers', 'pypdf', 'tokenizers', 'jinja2', 'pipeline.render.review') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ | {"PYTHONPATH": str(REPO)})
    assert (out / "index.html").stat().st_mtime_ns == report_mtime
    (out / "index.html").unlink()  # a missing report is written again, even with nothing new
    _run(folder, out)
    assert (out / "index.html").is_file()


def test_run_report_lists_every_input(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, 2)
    _run(folder, out)
    write_contracts(folder, 3)  # a third, new contract
    report, _ = _run(folder, out)
    saved = json.loads((out / "run_report.json").read_text())
    assert saved["totals"]["documents"] == 3 and saved["totals"]["reused"] == 2 and saved["totals"]["processed"] == 1
    assert [d["cached"] for d in saved["documents"]] == [True, True, False]


@pytest.mark.parametrize("field", ["password", "batch_documents"])
def test_options_that_cannot_change_results_do_not_redo(tmp_path, field):
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, 1)
    _run(folder, out)
    value = {"password": "secret", "batch_documents": 1}[field]
    assert _run(folder, out, CONFIG.model_copy(update={field: value}))[0].totals["processed"] == 0
