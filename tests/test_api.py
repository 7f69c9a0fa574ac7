"""The Python API: `run_folder` gives the result models, takes str or Path, uses the same run store and
writes the same files as `docpipe run`; `import pipeline` stays light until the API is used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline import load_task, run_folder
from pipeline.cli import app
from pipeline.errors import ConfigError
from pipeline.models import Completion, DocResult
from tests.conftest import SAMPLES
from tests.fake_server import MODEL, FakeServer


def _files(out: Path) -> dict[str, object]:
    """What a run leaves in `out` that does not vary from run to run."""
    found: dict[str, object] = {}
    for path in sorted(out.glob("*/result.json")):
        found[path.parent.name] = {k: v for k, v in json.loads(path.read_text()).items() if k != "seconds"}
    for name in ("clauses.csv",):
        found[name] = (out / name).read_text()
    return found


def test_import_pipeline_does_not_load_the_api():
    code = "import sys, pipeline; assert 'pipeline.api' not in sys.modules and 'pipeline.run.core' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_run_folder_returns_results_and_writes_what_the_cli_writes(tmp_path):
    results = run_folder(str(SAMPLES), str(tmp_path / "api"), tasks=["summary", "clauses"])
    assert len(results) == 3 and all(isinstance(r, DocResult) and r.status == "ok" for r in results)
    assert results.report.totals["processed"] == 3
    stored = {r.doc_id: r for r in results}
    for doc_id, result in stored.items():
        assert DocResult.model_validate_json((tmp_path / "api" / doc_id / "result.json").read_text()) == result
    cli = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(tmp_path / "cli")])
    assert cli.exit_code == 0, cli.output
    assert _files(tmp_path / "api") == _files(tmp_path / "cli")
    again = run_folder(Path(SAMPLES), tmp_path / "api")  # the same store: nothing is redone
    assert again.report.totals["reused"] == 3 and again.report.totals["processed"] == 0
    assert {r.doc_id: r for r in again} == stored


def test_run_folder_takes_task_definitions_and_a_server_as_plain_values(tmp_path):
    task = load_task("contract_terms")
    with FakeServer() as server:
        results = run_folder(SAMPLES / "cybergy-affiliate-agreement.pdf", tmp_path, tasks=[task], engine="server",
                             model=MODEL, server={"base_url": server.url + "/v1", "max_retries": 0})
    (result,) = results
    assert set(result.extractions) == {"contract_terms"} and result.summary == () and result.clauses == ()
    with pytest.raises(ConfigError, match="max_context"):
        run_folder(SAMPLES, tmp_path, max_context=10)


def test_run_folder_checks_task_files_against_the_engine_object_it_is_given(tmp_path):
    """A task from a file on an engine object that runs any task: not refused by the default engine's name."""
    from tests.scripted_engine import ScriptedEngine

    engine = ScriptedEngine({"contract_terms": Completion(request_id="", error="no reply scripted")})
    results = run_folder(SAMPLES / "cybergy-affiliate-agreement.pdf", tmp_path, tasks=["contract_terms"],
                         engine=engine)
    assert [r.status for r in results] == ["failed"] and engine.requests  # the engine was asked, not refused
    assert engine.requests[0].task == "contract_terms"
