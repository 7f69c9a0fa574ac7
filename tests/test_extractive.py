from pipeline.tasks.checklist import load_checklist
from pipeline.config import RunConfig
from pipeline.engines.extractive import ExtractiveEngine
from pipeline.ingest.read import ingest
from pipeline.plan.routes import plan_document
from pipeline.tasks.responses import parse_reply, response_model
from tests.conftest import SAMPLES


def _plan(tokenizer):
    doc = ingest(SAMPLES / "neon-systems-distributor-agreement.pdf")
    return doc, plan_document(doc, RunConfig(), tokenizer, load_checklist())


def test_replies_parse_and_quotes_are_verbatim_page_slices(tokenizer):
    doc, plan = _plan(tokenizer)
    completions = ExtractiveEngine().generate(plan.requests)
    assert [c.request_id for c in completions] == [r.request_id for r in plan.requests]
    summary = parse_reply(response_model("summary"), completions[0].text)
    assert 1 <= len(summary.points) <= 8
    clauses = parse_reply(response_model("clauses", load_checklist()), completions[1].text)
    assert clauses.clauses
    for item in [*summary.points, *clauses.clauses]:
        assert item.quote in doc.pages[item.page_number - 1].text


def test_deterministic(tokenizer):
    _, plan = _plan(tokenizer)
    assert [c.text for c in ExtractiveEngine().generate(plan.requests)] == [
        c.text for c in ExtractiveEngine().generate(plan.requests)
    ]
