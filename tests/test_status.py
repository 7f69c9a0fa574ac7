import json

from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import write_contracts


def test_status_lists_done_failed_with_causes_and_duplicates(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    (first,) = write_contracts(folder, 1)
    (folder / "copy.pdf").write_bytes(first.read_bytes())
    (folder / "notes.pdf").write_text("not a PDF")
    assert CliRunner().invoke(app, ["run", str(folder), "-o", str(out), "--tasks", "clauses"]).exit_code == 1
    text = CliRunner().invoke(app, ["status", str(out)])
    assert text.exit_code == 0
    assert "finished" in text.stdout and "1 done, 0 partial, 1 failed, 0 pending, 1 duplicates" in text.stdout
    assert "notes.pdf: ingest/InputError: notes.pdf: not a PDF" in text.stdout
    state = json.loads(CliRunner().invoke(app, ["status", str(out), "--json"]).stdout)
    assert state["documents"]["duplicates"] == [{"path": str(folder / "copy.pdf"), "same_as": str(first)}]


def test_status_of_a_folder_never_run_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["status", str(tmp_path)])
    assert result.exit_code == 2 and "no run store" in result.output
