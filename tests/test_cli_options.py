"""The options of `docpipe run`, `plan` and `eval cuad` are the table's (`pipeline/cli_options.py`): the
commands typer builds take exactly its entries, in its order, with its flags, help, defaults and env
variables; and every entry lands somewhere real (a RunConfig, EngineSettings or ServerSettings field)."""

from __future__ import annotations

import click
import pytest
import typer

from pipeline.cli import app
from pipeline.cli_options import EVAL, OPTIONS, PLAN, REQUIRED, RUN, Opt, grouped
from pipeline.config import EngineSettings, RunConfig, ServerSettings


def _command(*names: str) -> click.Command:
    command = typer.main.get_command(app)
    for name in names:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


@pytest.mark.parametrize(("names", "table"), [(("run",), RUN), (("plan",), PLAN), (("eval", "cuad"), EVAL)],
                         ids=["run", "plan", "eval cuad"])
def test_each_command_takes_exactly_its_table_in_order(names, table: dict[str, Opt]):
    params = [p for p in _command(*names).params if p.name != "help"]
    assert [p.name for p in params] == list(table)
    for param in params:
        opt = table[param.name]
        assert param.help == opt.info.help and param.metavar == opt.info.metavar, param.name
        assert param.required == (opt.default is REQUIRED), param.name
        if opt.default is not REQUIRED:
            assert param.default == opt.default, param.name
        assert param.envvar == opt.info.envvar, param.name
        flags = [f for f in (opt.info.default, *(opt.info.param_decls or ())) if isinstance(f, str) and f.startswith("-")]
        if flags:  # declared flags are the option's; undeclared ones typer makes from the name
            assert param.opts + param.secondary_opts == [f for d in flags for f in d.split("/")], param.name
        elif isinstance(param, click.Option):
            assert param.opts[0] == "--" + param.name.replace("_", "-"), param.name


def test_the_reply_room_reads_its_env_variable(monkeypatch):
    (param,) = [p for p in _command("run").params if p.name == "reply_room"]
    assert param.envvar == "DOCPIPE_REPLY_ROOM" and param.opts == ["--reply-room"]


def test_every_entry_lands_in_a_real_setting():
    """An entry of no group is the RunConfig field of its name; engine and server entries are fields of their
    settings (the --data-parallel flag is EngineSettings' data_parallel_size); run entries are read by name."""
    config = set(RunConfig.model_fields)
    assert [n for n, o in OPTIONS.items() if o.group is None and n not in config] == []
    assert set(grouped("engine")) <= set(EngineSettings.model_fields)
    assert set(grouped("server")) <= set(ServerSettings.model_fields)
    assert "data_parallel_size" in EngineSettings.model_fields
    assert not set(grouped("run")) & (config - {"engine", "batch_documents", "reply_room", "tasks"})
