from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.store.lock import lock_path, output_lock
from tests.conftest import write_contracts


def test_a_held_lock_makes_a_run_exit_4_at_once_and_is_released_after(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    write_contracts(folder, 1)
    out.mkdir()
    with output_lock(out):
        result = CliRunner().invoke(app, ["run", str(folder), "-o", str(out)])
        assert result.exit_code == 4
        assert "another docpipe run" in result.output and "exit code 4" in result.output
        assert not list(out.glob("*/result.json")) and not (out / "run_report.json").exists()
    assert lock_path(out).read_text().strip().isdigit()  # the holder's pid, for the message
    assert CliRunner().invoke(app, ["run", str(folder), "-o", str(out)]).exit_code == 0
