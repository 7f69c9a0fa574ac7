"""End to end through the CLI on real PDFs: samples, planted clauses on known pages, bad input."""

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import SAMPLES, encrypt_pdf, filler

GOVERNING = "This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware."
ASSIGN = "Neither party may assign this Agreement without the prior written consent of the other party."


def _run(*args: str):
    return CliRunner().invoke(app, ["run", *args])


def test_samples_produce_cited_results(tmp_path):
    result = _run(str(SAMPLES), "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run_report.json").read_text())
    assert report["totals"]["ok"] == len(list(SAMPLES.glob("*.pdf")))
    for row in report["documents"]:
        doc = json.loads((tmp_path / row["doc_id"] / "result.json").read_text())
        assert doc["schema_version"] and doc["status"] == "ok" and doc["route"]["kind"] == "whole"
        assert doc["source"]["sha256"].startswith(row["doc_id"]) and doc["engine"]["name"] == "extractive"
        citations = [p["citation"] for p in doc["summary"]] + [c["citation"] for c in doc["clauses"]]
        found = sum(c["status"] in ("verified", "relocated") for c in citations)
        assert citations and found / len(citations) >= 0.9
        assert (tmp_path / row["doc_id"] / "summary.md").read_text().startswith("# ")


def test_planted_clauses_cite_their_exact_pages(make_pdf, tmp_path):
    pages = [filler(120, str(i)) for i in range(9)]
    pages[2] = filler(60) + " " + GOVERNING + " " + filler(40)
    pages[6] = filler(30) + " " + ASSIGN + " " + filler(60)
    pdf = make_pdf("planted.pdf", pages)
    result = _run(str(pdf), "-o", str(tmp_path / "out"), "--tasks", "clauses")
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    doc = json.loads((folder / "result.json").read_text())
    by_category = {c["category"]: c["citation"] for c in doc["clauses"]}
    assert by_category["Governing Law"]["page_number"] == 3
    assert by_category["Anti-Assignment"]["page_number"] == 7
    assert all(c["status"] == "verified" for c in by_category.values())
    assert "Governing Law" not in doc["absent"] and "Non-Compete" in doc["absent"]


def test_bad_documents_fail_alone_with_clear_errors(make_pdf, tmp_path):
    folder = tmp_path / "in"
    make_pdf("in/good.pdf", [GOVERNING])
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog\n%%EOF\n")
    (folder / "notes.pdf").write_text("just some text, not a PDF")
    encrypt_pdf(make_pdf("plain.pdf", ["secret"]), folder / "locked.pdf", "pw")
    out = tmp_path / "out"
    result = _run(str(folder), "-o", str(out))
    assert result.exit_code == 1
    report = json.loads((out / "run_report.json").read_text())
    status = {Path(r["path"]).name: r for r in report["documents"]}
    assert status["good.pdf"]["status"] == "ok"
    assert "corrupt" in status["corrupt.pdf"]["errors"][0]["message"]
    assert "not a PDF" in status["notes.pdf"]["errors"][0]["message"]
    assert "password" in status["locked.pdf"]["errors"][0]["message"]
    for row in status.values():
        assert (out / row["doc_id"] / "result.json").is_file()
    assert "locked.pdf" in result.output


def test_missing_input_is_a_usage_error(tmp_path):
    assert _run(str(tmp_path / "nope"), "-o", str(tmp_path)).exit_code == 2


def test_custom_checklist(make_pdf, tmp_path):
    checklist = tmp_path / "mine.csv"
    checklist.write_text("name,description\nGoverning Law,which law governs\nData Protection,personal data duties\n")
    pdf = make_pdf("c.pdf", [GOVERNING + " The Supplier shall comply with all data protection laws."])
    result = _run(str(pdf), "-o", str(tmp_path / "o"), "--checklist", str(checklist), "--tasks", "clauses")
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (tmp_path / "o").iterdir() if p.is_dir()]
    doc = json.loads((folder / "result.json").read_text())
    assert {c["category"] for c in doc["clauses"]} == {"Governing Law", "Data Protection"}
    assert doc["absent"] == []


def test_engine_accounting_and_saved_reasoning_reach_the_outputs(make_pdf, tmp_path):
    from pipeline.config import RunConfig
    from scripted_engine import ScriptedEngine
    from pipeline.models import Completion
    from pipeline.run.core import run

    def reply(request):
        text = json.dumps({"points": [{"point": "Law.", "quote": GOVERNING, "page_number": 1}]})
        return Completion(request_id=request.request_id, text=text, finish_reason="stop", prompt_tokens=111,
                          output_tokens=7, reasoning="think first", attempts=2)

    pdf = make_pdf("r.pdf", [GOVERNING])
    config = RunConfig(tasks=("summary",), thinking=True, save_reasoning=True)
    report = run([pdf], tmp_path / "o", config, engine=ScriptedEngine({"summary": reply}))
    (row,) = report.documents
    result = json.loads((tmp_path / "o" / row.doc_id / "result.json").read_text())
    assert result["reasoning"] == {f"{row.doc_id}:summary": "think first"}
    assert result["usage"] == {"prompt_tokens": 111, "output_tokens": 7, "requests": 1, "attempts": 2, "failed": 0,
                               "finish_stop": 1}
    assert row.usage == result["usage"] and report.totals["output_tokens"] == 7
