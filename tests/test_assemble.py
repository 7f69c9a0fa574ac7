"""Parse + cite with a scripted engine: good replies, a quote not in the source, a wrong page, broken JSON."""

from pipeline.merge.assemble import assemble
from pipeline.tasks.checklist import parse_checklist
from pipeline.config import RunConfig
from pipeline.engines.base import engine_info
from scripted_engine import ScriptedEngine
from pipeline.ingest.read import ingest
from pipeline.models import Completion
from pipeline.plan.routes import plan_document

CHECKLIST = parse_checklist("name,description\nGoverning Law,Which law governs\nAnti-Assignment,Consent to assign\n", "t")


def _run(make_pdf, tokenizer, replies):
    doc = ingest(make_pdf("c.pdf", ["The Supplier shall deliver the goods monthly.",
                                    "This Agreement is governed by the laws of Delaware."]))
    plan = plan_document(doc, RunConfig(), tokenizer, CHECKLIST)
    engine = ScriptedEngine(replies)
    return assemble(plan, engine.generate(plan.requests), engine_info(engine), CHECKLIST)


SUMMARY = {"points": [
    {"point": "Monthly delivery.", "quote": "The Supplier shall deliver the goods monthly.", "page_number": 1},
    {"point": "Delaware law.", "quote": "governed by the laws of Delaware", "page_number": 1},
    {"point": "Invented.", "quote": "The Supplier may charge any price it likes.", "page_number": 2},
]}


def test_citations_are_verified_relocated_or_unverified(make_pdf, tokenizer):
    clauses = {"clauses": [{"category": "Governing Law", "quote": "governed by the laws of Delaware", "page_number": 2}]}
    result = _run(make_pdf, tokenizer, {"summary": SUMMARY, "clauses": clauses})
    assert result.status == "ok"
    assert [p.citation.status for p in result.summary] == ["verified", "relocated", "unverified"]
    assert result.summary[1].citation.page_number == 2
    assert result.clauses[0].citation.status == "verified"
    assert result.absent == ("Anti-Assignment",)


def test_truncated_and_invalid_replies_are_recorded_not_dropped(make_pdf, tokenizer):
    truncated = Completion(request_id="x", text='{"points": [{"point": "a', finish_reason="length")
    result = _run(make_pdf, tokenizer, {"summary": truncated, "clauses": '{"clauses": [{"category": "Nope"}]}'})
    assert result.status == "failed"
    assert [(e.stage, e.kind) for e in result.errors] == [("engine", "truncated"), ("parse", "invalid_reply")]
    assert result.absent == ()  # unknown when the clause task failed


def test_one_failed_task_makes_the_document_partial(make_pdf, tokenizer):
    failed = Completion(request_id="x", error="prompt too long")
    result = _run(make_pdf, tokenizer, {"summary": SUMMARY, "clauses": failed})
    assert result.status == "partial" and len(result.summary) == 3
    assert "prompt too long" in result.errors[0].message


def test_an_optional_clause_confidence_is_kept_but_never_asked_of_a_model(make_pdf, tokenizer):
    from pipeline.tasks.responses import json_schema

    quote = "governed by the laws of Delaware"
    clauses = {"clauses": [{"category": "Governing Law", "quote": quote, "page_number": 2, "confidence": 0.75},
                           {"category": "Anti-Assignment", "quote": "The Supplier shall deliver", "page_number": 1}]}
    result = _run(make_pdf, tokenizer, {"summary": SUMMARY, "clauses": clauses})
    assert [c.confidence for c in result.clauses] == [0.75, None]
    assert "confidence" not in str(json_schema("clauses", CHECKLIST))  # constrained decoding cannot emit it
