"""Real `docpipe run` processes: killed with SIGKILL mid-run, stopped with SIGTERM, and run twice at once.

Each test polls the run store (SQLite, WAL: readable while the run writes) to act at the right moment,
never a guessed sleep.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.store.runstore import store_path
from tests.conftest import REPO, write_contracts

DOCS = 16  # each a few tenths of a second: the test acts between two documents, far from the end
ARGS = ["--tasks", "clauses", "--batch-documents", "1"]


def start(folder: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(folder), "-o", str(out), *ARGS],
        env=os.environ | {"PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def query(out: Path, sql: str) -> list[tuple]:
    if not store_path(out).is_file():
        return []
    with sqlite3.connect(store_path(out), timeout=30) as db:
        try:
            return db.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the run has not created its tables yet
            return []


def wait_for(proc: subprocess.Popen, out: Path, sql: str, timeout: float = 120) -> None:
    """Poll until `sql` returns a row with a true first column, while `proc` still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(out, sql)
        if rows and rows[0][0]:
            assert proc.poll() is None, "the run ended before the moment the test waits for"
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {sql}")


def done_rows(out: Path) -> dict[str, tuple]:
    rows = query(out, "SELECT doc_key, run_id, finished_at, attempts FROM results WHERE status = 'ok'")
    return {r[0]: r[1:] for r in rows}


def results_without_timings(out: Path) -> dict[str, dict]:
    found = {}
    for path in out.glob("*/result.json"):
        doc = json.loads(path.read_text())
        doc.pop("seconds")
        found[path.parent.name] = doc
    return found


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_finishes_without_redoing(tmp_path):
    folder, out, clean = tmp_path / "in", tmp_path / "out", tmp_path / "clean"
    write_contracts(folder, DOCS, pages=6)
    proc = start(folder, out)
    wait_for(proc, out, "SELECT count(*) FROM results WHERE status = 'ok'")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    before = done_rows(out)
    assert 1 <= len(before) < DOCS, "the kill must land mid-run"

    rerun = start(folder, out)
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    after = done_rows(out)
    assert len(after) == DOCS
    assert {key: after[key] for key in before} == before  # same run, same time, one attempt: not redone
    assert {row[0] for key, row in after.items() if key not in before} == {2}
    assert query(out, "SELECT run_id, state FROM runs ORDER BY run_id") == [(1, "killed"), (2, "finished")]
    totals = json.loads((out / "run_report.json").read_text())["totals"]
    assert totals["reused"] == len(before) and totals["processed"] == DOCS - len(before)
    assert not list(out.rglob("*.tmp"))  # no partial file left behind

    uninterrupted = CliRunner().invoke(app, ["run", str(folder), "-o", str(clean), *ARGS])
    assert uninterrupted.exit_code == 0, uninterrupted.output
    assert results_without_timings(out) == results_without_timings(clean)


@pytest.mark.slow
def test_second_run_is_locked_out_and_sigterm_stops_cleanly(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, DOCS, pages=6)
    first = start(folder, out)
    wait_for(first, out, "SELECT count(*) FROM results WHERE status = 'ok'")

    second = CliRunner().invoke(app, ["run", str(folder), "-o", str(out), *ARGS])
    assert second.exit_code == 4
    assert f"another docpipe run (pid {first.pid})" in second.output

    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 143, stderr
    assert "stopped by SIGTERM" in stderr
    done = len(done_rows(out))
    report = json.loads((out / "run_report.json").read_text())
    assert report["stopped_by"] == "SIGTERM" and report["totals"]["processed"] == done < DOCS
    assert report["totals"]["pending"] == DOCS - done
    assert query(out, "SELECT state FROM runs") == [("interrupted",)]

    status = CliRunner().invoke(app, ["status", str(out), "--json"])
    state = json.loads(status.stdout)
    assert state["last_run"]["state"] == "interrupted"
    assert len(state["documents"]["done"]) == done and len(state["documents"]["pending"]) == DOCS - done

    resumed = CliRunner().invoke(app, ["run", str(folder), "-o", str(out), *ARGS])
    assert resumed.exit_code == 0, resumed.output
    assert f"{DOCS - done} processed, {done} unchanged" in resumed.output


@pytest.mark.slow
def test_sigkill_after_k_streamed_documents_keeps_them_for_the_rerun(tmp_path):
    """With every document of the run in flight at once (the default batch size), results are still written one
    by one as documents finish: kill after k ≥ 2 are recorded; those k exist and the rerun reuses them."""
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, DOCS, pages=6)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(folder), "-o", str(out), "--tasks", "clauses"],
        env=os.environ | {"PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for(proc, out, "SELECT count(*) >= 2 FROM results WHERE status = 'ok'")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    before = done_rows(out)
    assert 2 <= len(before) < DOCS, "the kill must land mid-run"
    ids = [row[0] for row in query(out, "SELECT doc_id FROM results WHERE status = 'ok'")] if query(
        out, "SELECT count(*) FROM pragma_table_info('results') WHERE name = 'doc_id'")[0][0] else []
    assert len(list(out.glob("*/result.json"))) >= len(before)
    assert all((out / doc_id / "result.json").is_file() for doc_id in ids)
    rerun = CliRunner().invoke(app, ["run", str(folder), "-o", str(out), "--tasks", "clauses"])
    assert rerun.exit_code == 0, rerun.output
    after = done_rows(out)
    assert len(after) == DOCS and {key: after[key] for key in before} == before  # reused, not redone
    assert json.loads((out / "run_report.json").read_text())["totals"]["reused"] == len(before)
