"""Task files: the bundled ones load; a broken one is refused before any work with an error that names the
file, the key and what is allowed (exit 2 through the CLI); `docpipe tasks` lists them one line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import ConfigError
from pipeline.tasks.registry import BUILTIN, available_tasks, load_task, load_tasks, reduce_task, reduced_task
from tests.conftest import SAMPLES

GOOD = '''
name = "my_task"
description = "one line"
instructions = "Task: find things. {% include 'fields.j2' %}"
[[fields]]
name = "thing"
type = "string"
[[fields]]
name = "quote"
type = "string"
[[fields]]
name = "page_number"
type = "integer"
'''


def _file(tmp_path: Path, text: str, name: str = "my_task.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bundled_tasks_load_built_ins_first():
    listed = available_tasks()
    assert [name for name, _ in listed][:2] == list(BUILTIN)
    assert {"contract_terms", "paper_findings"} <= {name for name, _ in listed}
    assert load_task("contract_terms").items == "one" and load_task("paper_findings").merge == "distinct"
    assert load_task("summary").merge == "reduce" and load_task("clauses").merge == "distinct"


def test_a_task_file_loads_by_path_with_its_defaults(tmp_path):
    task = load_task(_file(tmp_path, GOOD))
    assert (task.name, task.items, task.merge, task.quote_field) == ("my_task", "many", "distinct", "quote")
    assert [f.name for f in task.value_fields] == ["thing"]


@pytest.mark.parametrize(("change", "key", "allowed"), [
    (("items", 'items = "some"\n'), "'items'", "'one' or 'many'"),
    (("extra", 'colour = "red"\n'), "'colour'", "allowed keys: name, description"),
    (("type", None), "'fields[0] (thing).type'", "'string', 'integer'"),
    (("enum", None), "'fields[0] (thing)'", "needs 'values'"),
    (("quote", 'quote_field = "thing2"\n'), "(top level)", "quote_field: 'thing2' must name a field of type string"),
    (("merge", 'merge = "one"\n'), "(top level)", "allowed: distinct, reduce"),
    (("name", 'name = "Bad Name"\n'), "'name'", "lower-case letters"),
])
def test_a_broken_task_file_names_the_file_the_key_and_what_is_allowed(tmp_path, change, key, allowed):
    kind, line = change
    text = GOOD
    if kind == "type":
        text = text.replace('name = "thing"\ntype = "string"', 'name = "thing"\ntype = "text"')
    elif kind == "enum":
        text = text.replace('name = "thing"\ntype = "string"', 'name = "thing"\ntype = "enum"')
    elif kind == "name":
        text = text.replace('name = "my_task"\n', line)
    else:
        text = line + text
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_task(path)
    message = str(caught.value)
    assert str(path) in message and key in message and allowed in message, message


def test_not_toml_and_a_built_in_name_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_task(_file(tmp_path, "name = ", "broken.toml"))
    with pytest.raises(ConfigError, match="taken by a built-in"):
        load_task(_file(tmp_path, GOOD.replace('"my_task"', '"summary"'), "summary.toml"))
    with pytest.raises(ConfigError, match="no such task; bundled tasks: summary, clauses"):
        load_task("no_such_task")
    with pytest.raises(ConfigError, match="two tasks are named 'my_task'"):
        load_tasks([_file(tmp_path, GOOD), _file(tmp_path, GOOD, "again.toml")])


def test_the_cli_refuses_a_bad_task_file_before_any_work(tmp_path):
    bad = _file(tmp_path, GOOD.replace('type = "integer"', 'type = "int"'))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(out), "--engine", "server",
                                      "--base-url", "http://127.0.0.1:9/v1", "--task", str(bad)])
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output and "page_number" in result.output and "'integer'" in result.output
    assert not out.exists()  # nothing read, nothing written


def test_the_extractive_engine_refuses_task_file_tasks_naming_them(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(out), "--task", "summary",
                                      "--task", "contract_terms", "--task", str(_file(tmp_path, GOOD))])
    assert result.exit_code == 2
    assert "cannot run: contract_terms, my_task" in result.output and not out.exists()


def test_docpipe_tasks_lists_one_line_each():
    result = CliRunner().invoke(app, ["tasks"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [["summary", "built-in"], ["clauses", "built-in"]]
    assert any(line.split()[:2] == ["contract_terms", "example"] for line in lines)
    assert len(lines) == len(available_tasks())


def test_tasks_from_the_config_file(tmp_path):
    config = _file(tmp_path, 'tasks = ["summary"]\n', "run.toml")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(SAMPLES / "cybergy-affiliate-agreement.pdf"), "-o", str(out),
                                      "--config", str(config)])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    assert '"clauses": []' in (folder / "result.json").read_text()  # only the summary ran
    bad = _file(tmp_path, 'tasks = "summary"\n', "bad.toml")
    result = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(out), "--config", str(bad)])
    assert result.exit_code == 2 and "key 'tasks'" in result.output


def test_a_task_file_may_merge_free_text_by_the_reduce(tmp_path):
    task = load_task(_file(tmp_path, 'merge = "reduce"\ntext_field = "thing"\n' + GOOD))
    assert (task.merge, task.text_field) == ("reduce", "thing")
    assert reduce_task(task.name) == "reduce_my_task" and reduced_task("reduce_my_task") == "my_task"
    assert reduced_task("my_task") is None and reduce_task("summary") == "reduce_summary"


@pytest.mark.parametrize("text_field", [None, "quote"])
def test_the_reduce_needs_a_free_text_field_besides_the_quote(tmp_path, text_field):
    head = 'merge = "reduce"\n' + (f'text_field = "{text_field}"\n' if text_field else "")
    path = _file(tmp_path, head + GOOD)
    with pytest.raises(ConfigError) as caught:
        load_task(path)
    message = str(caught.value)
    assert str(path) in message and "text_field must name a string field besides the quote" in message
    assert "fields: thing, quote, page_number" in message, message


def test_names_of_reduce_requests_are_refused(tmp_path):
    # A task named "reduce_x" would share its request names with the reduce of a task "x".
    with pytest.raises(ConfigError, match="key 'name': names starting with 'reduce_'"):
        load_task(_file(tmp_path, GOOD.replace('"my_task"', '"reduce_summary"'), "r.toml"))
