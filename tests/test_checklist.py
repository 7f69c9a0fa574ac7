"""The clause checklist CSV: good files load in order; malformed ones are refused with their line number."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import ConfigError
from pipeline.tasks.checklist import load_checklist, parse_checklist


def test_a_good_checklist_loads_in_order_with_quoted_commas_and_a_bom(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('\ufeffname,description\nGoverning Law,"Which state\'s law, if any?"\n\nAudit Rights\n', "utf-8")
    items = load_checklist(path)
    assert [(i.name, i.description) for i in items] == [
        ("Governing Law", "Which state's law, if any?"), ("Audit Rights", "")]


@pytest.mark.parametrize("text, line, words", [
    ('name,description\nA,fine\nB,"never closed\nC,lost\nD,lost\n', 3, "malformed CSV"),
    ('name,description\nA,"closed" then more\n', 2, "malformed CSV"),
    ("name,description\nA,x\nB,one,two\n", 3, "3 cells, the header has 2"),
    ("name,description\nA,x\n,y\n", 3, "empty name"),
    ("name,description\nA,x\na,y\n", 3, "duplicate name"),
])
def test_malformed_checklists_are_refused_with_the_line_number(text, line, words):
    with pytest.raises(ConfigError) as caught:
        parse_checklist(text, "c.csv")
    assert f"line {line}" in str(caught.value) and words in str(caught.value)


def test_run_refuses_a_checklist_with_an_unclosed_quote_before_reading_any_pdf(tmp_path):
    checklist = tmp_path / "c.csv"
    checklist.write_text('name,description\nGoverning Law,"which law\nAudit Rights,audits\n', "utf-8")
    (tmp_path / "in").mkdir()
    result = CliRunner().invoke(app, ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                      "--checklist", str(checklist)])
    assert result.exit_code == 2, result.output
    assert "line 2" in result.output and "malformed CSV" in result.output
    assert not Path(tmp_path / "out" / "run_report.json").exists()
