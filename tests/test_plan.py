from pipeline.tasks.checklist import load_checklist
from pipeline.config import RunConfig
from pipeline.ingest.read import ingest
from pipeline.plan.routes import choose_route, plan_document
from tests.conftest import filler


def test_route_thresholds():
    config = RunConfig()
    assert choose_route(32_768, config) == ("whole", 32_768)
    assert choose_route(32_769, config) == ("whole_yarn", 131_072)
    assert choose_route(131_073, config)[0] == "windows"
    assert choose_route(20_000, RunConfig(max_context=16_384))[0] == "windows"


def test_whole_plan_counts_every_task_and_shares_the_document_prefix(make_pdf, tokenizer):
    doc = ingest(make_pdf("short.pdf", ["The Licensee shall pay all fees.", filler(200)]))
    plan = plan_document(doc, RunConfig(), tokenizer, load_checklist())
    assert plan.route.kind == "whole"
    assert [r.task for r in plan.requests] == ["summary", "clauses"]
    for request in plan.requests:
        assert request.prompt_tokens == tokenizer.count_chat(request.messages)
        assert plan.route.task_tokens[request.task] == request.prompt_tokens
    summary, clauses = (r.messages[1].content for r in plan.requests)
    shared = summary[: summary.index("</document>")]
    assert clauses.startswith(shared)  # same document block first, instructions last
    assert plan.route.total_tokens == max(r.prompt_tokens + r.max_tokens for r in plan.requests)


def test_windows_are_page_aligned_cover_all_pages_and_fit(make_pdf, tokenizer):
    doc = ingest(make_pdf("long.pdf", [filler(1500, seed=str(i)) for i in range(12)]))
    config = RunConfig(max_context=12000)
    plan = plan_document(doc, config, tokenizer, load_checklist())
    assert plan.route.kind == "windows" and len(plan.route.windows) > 1
    covered = [n for w in plan.route.windows for n in range(w.page_start, w.page_end + 1)]
    assert sorted(set(covered)) == list(range(1, 13))
    for request in plan.requests:
        assert request.prompt_tokens + request.max_tokens <= 12000
        assert f"of {len(doc.pages)}" in request.messages[1].content
