"""`docpipe eval cuad` end to end on real PDFs in CUAD's layout: known answers, confidences, reuse."""

import csv
import json

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import RunConfig
from scripted_engine import ScriptedEngine
from pipeline.errors import ConfigError
from pipeline.eval.evaluate import evaluate_cuad
from pipeline.ingest.read import file_sha256
from tests.conftest import filler, write_pdf

GOVERNING = "This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware."
ASSIGN = "Neither party may assign this Agreement without the prior written consent of the other party."
GOVERNING_B = "This Agreement and any dispute arising from it shall be governed by the laws of the State of Texas."
COLUMNS = ("Governing Law", "Anti-Assignment", "Non-Compete")


@pytest.fixture
def cuad(tmp_path):
    """Two contracts: a.pdf (governing law on page 2, assignment on page 3) and b.pdf (governing law on page
    1), with the expert's spans in a master sheet like CUAD's (title-cased names, -Answer columns); the
    sheet's c.pdf is missing."""
    folder = tmp_path / "cuad"
    write_pdf(folder / "pdf" / "a.pdf", [filler(80, "a1"), filler(40) + " " + GOVERNING, ASSIGN + " " + filler(30)])
    write_pdf(folder / "pdf" / "b.pdf", [GOVERNING_B + " " + filler(50, "b"), filler(60, "b2")])
    gold = {"a.pdf": {"Governing Law": [GOVERNING], "Anti-Assignment": [ASSIGN]},
            "b.pdf": {"Governing Law": [GOVERNING_B]}, "c.pdf": {"Governing Law": ["a contract we do not have"]}}
    with (folder / "master_clauses.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Filename", *[c for name in COLUMNS for c in (name, f"{name}-Answer")]])
        for pdf, spans in gold.items():
            writer.writerow([pdf, *[c for name in COLUMNS for c in (repr(spans.get(name, [])), "")]])
    return folder


def _doc_id(folder, name):
    return file_sha256(folder / "pdf" / name)[:16]


def test_scores_a_scripted_engine_with_confidences_exactly(cuad, tmp_path):
    wrong_page = {"category": "Anti-Assignment", "quote": ASSIGN, "page_number": 2, "confidence": 0.6}
    engine = ScriptedEngine({
        f"{_doc_id(cuad, 'a.pdf')}:clauses": {"clauses": [
            {"category": "Governing Law", "quote": GOVERNING, "page_number": 2, "confidence": 0.9},
            wrong_page,  # claimed page 2; cite relocates it to page 3, which holds the gold span
            {"category": "Non-Compete", "quote": "The parties shall not compete anywhere.", "page_number": 1,
             "confidence": 0.3},  # in no gold and in no page: a false positive, unverified
        ]},
        f"{_doc_id(cuad, 'b.pdf')}:clauses": {"clauses": []},
    })
    report = evaluate_cuad(cuad, tmp_path / "out", RunConfig(), engine=engine)
    assert {r.task for r in engine.requests} == {"clauses"}
    assert report.documents == {"total": 2, "ok": 2, "partial": 0, "failed": 0, "missing_pdf": 1}
    o = report.overall
    assert (o.gold, o.predicted, o.tp, o.fp, o.fn) == (3, 3, 2, 1, 1)
    assert o.precision == pytest.approx(2 / 3) and o.recall == pytest.approx(2 / 3) and o.f1 == pytest.approx(2 / 3)
    assert (o.page_correct, o.page_total) == (2, 2)
    assert (o.absent_correct, o.absent_total) == (2, 3)  # b said both absent; a's Non-Compete was not
    assert (o.present_correct, o.present_total) == (2, 3)  # b's governing law was said absent
    assert o.citations == {"verified": 1, "relocated": 1, "unverified": 1}
    # ranked .9 (hit), .6 (hit), .3 (miss): recall 1/3, 2/3, 2/3 at precision 1, 1, 2/3; 80% recall never reached
    assert report.confidences and o.aupr == pytest.approx(2 / 3) and o.precision_at_80_recall == 0.0
    law = report.per_category["Governing Law"]
    assert (law.gold, law.tp, law.fn, law.precision, law.recall) == (2, 1, 1, 1.0, 0.5)
    assert list(report.per_category) == list(COLUMNS)
    saved = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert saved["overall"]["f1"] == pytest.approx(2 / 3) and set(saved["per_category"]) == set(COLUMNS)
    assert "| **overall** | 3 | 3 | 2 | 66.7 | 66.7 | 66.7 | 100.0 | 66.7 | 66.7 | 1/1/1 | 66.7 | 0.0 |" in (
        tmp_path / "out" / "eval.md").read_text()


def _eval(*args):
    return CliRunner().invoke(app, ["eval", "cuad", *map(str, args)])


def test_cli_extractive_is_deterministic_and_rescoring_reuses_results(cuad, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    result = _eval(cuad, "--output", first)
    assert result.exit_code == 0, result.output
    assert "extractive: precision" in result.output and "page accuracy 100.0%" in result.output
    assert "2 contracts (0 failed, 1 without PDF)" in result.output
    assert _eval(cuad, "--output", second, "--engine", "extractive").exit_code == 0
    assert (first / "eval.json").read_bytes() == (second / "eval.json").read_bytes()
    report = json.loads((first / "eval.json").read_text())
    assert report["overall"]["tp"] == 3 and report["engine"] == {"name": "extractive", "model": None}
    assert report["per_category"]["Non-Compete"]["absent_accuracy"] == 1.0

    # Same config: the results in OUT are scored again, the engine does not run (the edit below survives).
    path = first / _doc_id(cuad, "b.pdf") / "result.json"
    doc = json.loads(path.read_text())
    doc["clauses"] = [c for c in doc["clauses"] if c["category"] != "Governing Law"]
    path.write_text(json.dumps(doc))
    assert _eval(cuad, "--output", first).exit_code == 0
    assert json.loads((first / "eval.json").read_text())["overall"]["tp"] == 2
    assert _eval(cuad, "--output", first, "--rescore").exit_code == 0
    assert json.loads((first / "eval.json").read_text())["overall"]["tp"] == 2
    # A different run config runs the engine again.
    assert _eval(cuad, "--output", first, "--max-context", "65536").exit_code == 0
    assert json.loads((first / "eval.json").read_text())["overall"]["tp"] == 3


def test_keyword_engine_is_selectable(cuad, tmp_path):
    result = _eval(cuad, "--output", tmp_path / "kw", "--engine", "keyword")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "kw" / "eval.json").read_text())
    assert report["engine"]["name"] == "keyword" and not report["confidences"]
    assert report["overall"]["aupr"] is None  # no confidences: stated as null, not 0


def test_rescore_without_results_is_a_usage_error(cuad, tmp_path):
    result = _eval(cuad, "--output", tmp_path / "empty", "--rescore")
    assert result.exit_code == 2 and "no result" in result.output
    with pytest.raises(ConfigError, match="CUAD's layout"):
        evaluate_cuad(tmp_path, tmp_path / "out", RunConfig())


def test_a_contract_that_fails_counts_as_missed_and_exits_1(cuad, tmp_path):
    (cuad / "pdf" / "c.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog")  # the sheet's c.pdf, corrupt
    result = _eval(cuad, "--output", tmp_path / "out")
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert report["documents"] == {"total": 3, "ok": 2, "partial": 0, "failed": 1, "missing_pdf": 0}
    assert (report["overall"]["gold"], report["overall"]["tp"], report["overall"]["fn"]) == (4, 3, 1)
    assert report["gold_unplaced"] == 1  # its text could not be read, so its span has no page
    assert report["per_category"]["Anti-Assignment"]["absent_total"] == 2  # b said it absent, c said nothing
    assert report["per_category"]["Anti-Assignment"]["absent_correct"] == 1
