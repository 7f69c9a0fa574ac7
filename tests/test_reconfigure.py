"""Issue 18: a folder made with one configuration and run with another, and every configuration error,
exit 2 before any document is touched (real contracts, the real CLI)."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import SAMPLES
from tests.exports_check import assert_truthful

SAMPLE_PDFS = sorted(SAMPLES.glob("*.pdf"))


def docpipe(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in `out` (the store included) with its bytes and mtime: what 'touched' would change."""
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != ".docpipe.lock"}


@pytest.fixture
def done(tmp_path: Path) -> tuple[Path, Path]:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    for sample in SAMPLE_PDFS:
        shutil.copyfile(sample, inbox / sample.name)
    assert docpipe("run", inbox, "-o", out).exit_code == 0
    return inbox, out


def test_another_configuration_exits_2_naming_the_settings_unless_reconfigure(done):
    inbox, out = done
    before = snapshot(out)
    result = docpipe("run", inbox, "-o", out, "--tasks", "summary", "--summary-points", "3")
    assert result.exit_code == 2
    assert "task_names" in result.output and "summary_points: 8 → 3" in result.output and "--reconfigure" in result.output
    assert snapshot(out) == before  # nothing touched: every result.json, clauses.csv and the store as they were
    assert docpipe("run", inbox, "-o", out).exit_code == 0  # the folder's own configuration still runs
    assert "0 processed" in docpipe("run", inbox, "-o", out).stdout
    redone = docpipe("run", inbox, "-o", out, "--tasks", "summary", "--reconfigure")
    assert redone.exit_code == 0 and f"{len(SAMPLE_PDFS)} processed" in redone.stdout
    rows = assert_truthful(out, [inbox / s.name for s in SAMPLE_PDFS])
    assert all(r["clauses"] == [] and r["summary"] for r in rows)
    assert docpipe("run", inbox, "-o", out, "--tasks", "summary").exit_code == 0  # now the folder's own


@pytest.mark.parametrize("flags, says", [
    (["--tokenizer", "/no/such/dir"], "--tokenizer /no/such/dir: no such folder"),
    (["--tasks", "summary,sumary"], "task 'sumary': no such task"),
    (["--tensor-parallel-size", "2"], "--tensor-parallel-size only apply to --engine vllm"),
    (["--gpu-memory-utilization", "0.5", "--dtype", "bfloat16"], "--dtype, --gpu-memory-utilization only apply"),
    (["--engine", "keyword", "--max-num-seqs", "4"], "--max-num-seqs only apply"),
    (["--engine", "extractive", "--model", "./models/no-such-qwen"], "--model ./models/no-such-qwen: no such folder"),
    (["--checklist", "/no/such/checklist.csv"], "checklist /no/such/checklist.csv: cannot read"),
])
def test_configuration_errors_exit_2_before_any_document_is_touched(done, tmp_path, flags, says):
    inbox, out = done
    before = snapshot(out)
    result = docpipe("run", inbox, "-o", out, *flags)
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split())
    assert snapshot(out) == before
    assert_truthful(out, [inbox / s.name for s in SAMPLE_PDFS])
