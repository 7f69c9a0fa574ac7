"""Reply room per task (issue 22): --reply-room / DOCPIPE_REPLY_ROOM reach every request, count in the result
key only when set, and a typo is refused before any work."""

import pytest
from typer.testing import CliRunner

from pipeline.api import make_config
from pipeline.cli import app
from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.store.key import key_parts, result_key
from pipeline.tasks.checklist import load_checklist
from tests.conftest import SAMPLES


def test_room_overrides_the_task_reserve_and_the_reduce_follows_the_summary():
    config = RunConfig(reply_room={"summary": 800, "clauses": 2500})
    assert config.reserve("summary") == 800
    assert config.reserve("reduce_summary") == 800
    assert config.reserve("clauses") == 2500
    assert RunConfig().reserve("clauses") == 4096
    assert RunConfig(reply_room={"summary": 800}, thinking=True).reserve("summary") == 800 + 4096


def test_room_changes_the_key_only_when_set():
    checklist = load_checklist()
    base = result_key(key_parts(RunConfig(), checklist))
    assert result_key(key_parts(RunConfig(reply_room={}), checklist)) == base
    assert result_key(key_parts(RunConfig(reply_room={"summary": 800}), checklist)) != base


def test_a_task_not_run_or_a_tiny_room_is_refused():
    with pytest.raises(ConfigError, match="summry"):
        make_config(reply_room={"summry": 800})
    with pytest.raises(ConfigError, match="at least 16"):
        make_config(reply_room={"summary": 4})


def test_the_flag_and_the_environment_reach_the_plan(tmp_path):
    pdf = next(SAMPLES.glob("*.pdf"))
    runner = CliRunner()
    shown = runner.invoke(app, ["plan", str(pdf), "--json", "--reply-room", "summary=800,clauses=2500"])
    assert shown.exit_code == 0, shown.output
    assert '"output_reserve": 2500' in shown.output
    env = runner.invoke(app, ["plan", str(pdf), "--json"], env={"DOCPIPE_REPLY_ROOM": "clauses=3000"})
    assert env.exit_code == 0, env.output
    assert '"output_reserve": 3000' in env.output
    bad = runner.invoke(app, ["plan", str(pdf), "--reply-room", "summary"])
    assert bad.exit_code == 2 and "TASK=TOKENS" in bad.output
