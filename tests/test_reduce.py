"""The reduce of windowed documents, with the scripted engine and the extractive one: ids resolved,
citations inherited (never re-made), bad ids recorded, hierarchical rounds, batching across documents; a task
file's free-text task (merge = "reduce") reduced beside the summary, end to end."""

from pipeline.config import RunConfig
from pipeline.engines.extractive import ExtractiveEngine
from scripted_engine import ScriptedEngine
from pipeline.models import (
    Citation, Completion, DocResult, EngineInfo, Request, Route, Source, SummaryPoint, Window,
)
from pipeline.merge.reduce import reduce_summaries
from pipeline.run.core import run
from tests.conftest import filler, write_pdf

CONFIG = RunConfig(summary_points=3, summary_reserve=100, max_window_tokens=1000)


def _point(k: int, text: str | None = None) -> SummaryPoint:
    page = 3 * k + 1
    quote = f"Clause {k} on page {page} sets the licence fee at {k} hundred dollars a month."
    citation = Citation(quote=quote, page_number=page, page_label=f"L{page}", claimed_page_number=page,
                        status="verified", match="exact", score=100.0, char_start=5, char_end=5 + len(quote))
    return SummaryPoint(text=text or f"Point {k}: the fee of clause {k} is {k} hundred dollars.", citation=citation)


def _result(doc_id: str, points: list[SummaryPoint], windows: int = 3) -> DocResult:
    spans = tuple(Window(index=i, page_start=30 * i + 1, page_end=30 * i + 35, prompt_tokens=900)
                  for i in range(windows))
    route = Route(kind="windows", prompt_tokens=900, output_reserve=100, total_tokens=5000, context_limit=1000,
                  windows=spans)
    return DocResult(doc_id=doc_id, status="ok", route=route, engine=EngineInfo(name="scripted"),
                     source=Source(path=f"{doc_id}.pdf", sha256="0" * 64, page_count=100, size_bytes=1),
                     summary=tuple(points), usage={"prompt_tokens": 10, "output_tokens": 5, "requests": 6})


def _pairs(request: Request, bad_ids: bool = True) -> dict:
    """Merge the points two by two; in the first group of round 1 also name ids that were never given."""
    items = request.items
    points = [{"point": "merged " + items[i].text, "ids": [items[i].id, items[i + 1].id]}
              for i in range(0, len(items) - 1, 2)]
    if bad_ids and request.request_id.endswith(":reduce_summary:r1g0"):
        points[:0] = [{"point": "Invented.", "ids": ["P999"]}, {"point": "Half.", "ids": ["P998", items[-1].id]}]
    return {"points": points}


def test_hierarchical_reduce_resolves_ids_and_inherits_citations(tokenizer):
    points = [_point(k) for k in range(30)]
    engine = ScriptedEngine({"reduce_summary": _pairs})
    (result,) = reduce_summaries([_result("a" * 16, points)], engine, tokenizer, CONFIG)
    assert len(engine.calls) == 2 and len(engine.calls[0]) >= 2 and len(engine.calls[1]) == 1  # groups, then one
    for request in engine.requests:
        assert request.prompt_tokens == tokenizer.count_chat(request.messages)
        assert request.prompt_tokens + request.max_tokens <= 1000
        # constrained decoding can only name the ids this prompt lists
        item = request.json_schema["$defs"]["ReduceItem"]["properties"]["ids"]["items"]
        assert item["enum"] == [ref.id for ref in request.items]
    assert result.route.reduce_depth == 2
    first_group = engine.calls[0][0].items
    half = next(p for p in points if p.citation.quote == first_group[-1].quote)
    assert next(p.text for p in result.summary) == "merged Half."
    assert result.summary[0].citation == half.citation  # P998 ignored, the valid id's citation inherited
    originals = {p.citation for p in points}
    assert len(result.summary) == 3 and all(p.citation in originals for p in result.summary)
    assert all(p.text.startswith("merged ") for p in result.summary)
    unknown = [e for e in result.errors if e.kind == "unknown_id"]
    assert [e.stage for e in unknown] == ["reduce", "reduce"]
    assert "'P999'" in unknown[0].message and "left out" in unknown[0].message
    assert "'P998'" in unknown[1].message and "ignored" in unknown[1].message
    assert "Invented." not in [p.text for p in result.summary]
    assert result.status == "partial"
    assert result.usage["requests"] == 6 + len(engine.requests) and "reduce" in result.seconds
    assert result.usage["reduce_requests"] == len(engine.requests)


def test_documents_of_a_batch_share_each_round_and_whole_documents_pass_untouched(tokenizer):
    whole = _result("w" * 16, [_point(1)]).model_copy(update={"route": None})
    one_window = _result("o" * 16, [_point(k) for k in range(5)], windows=1)
    docs = [_result("a" * 16, [_point(k) for k in range(6)]), whole, one_window,
            _result("b" * 16, [_point(k) for k in range(6, 12)])]
    engine = ScriptedEngine({"reduce_summary": lambda request: _pairs(request, bad_ids=False)})
    out = reduce_summaries(docs, engine, tokenizer, CONFIG)
    assert len(engine.calls) == 1 and {r.doc_id for r in engine.calls[0]} == {"a" * 16, "b" * 16}
    assert out[1] is whole and out[2] is one_window
    assert out[0].route.reduce_depth == out[3].route.reduce_depth == 1 and out[0].status == "ok"
    assert [p.citation for p in out[3].summary] == [_point(k).citation for k in (6, 8, 10)]


def test_a_failed_reduce_request_is_recorded_and_its_group_keeps_its_own_points(tokenizer):
    points = [_point(k) for k in range(30)]
    failing = {"reduce_summary": _pairs, "a" * 16 + ":reduce_summary:r1g1": Completion(request_id="", error="boom")}
    (result,) = reduce_summaries([_result("a" * 16, points)], ScriptedEngine(failing), tokenizer, CONFIG)
    failed = [e for e in result.errors if e.kind == "request_failed"]
    assert len(failed) == 1 and "boom" in failed[0].message and failed[0].stage == "reduce"
    assert result.route.reduce_depth == 2 and 1 <= len(result.summary) <= 3
    assert all(p.citation in {q.citation for q in points} for p in result.summary)


TOPICS = [
    "The Licensee pays a monthly licence fee to the Licensor for the software.",
    "The Licensor delivers software updates to the Licensee every quarter.",
    "Either party may terminate the licence after ninety days written notice.",
    "The Licensee keeps insurance cover for the hardware it operates.",
    "The Licensor may audit the licence fee records of the Licensee yearly.",
    "Source code of the software is held in escrow for the Licensee.",
    "Disputes about the licence are settled by arbitration in London.",
    "The licence renews each year unless the Licensee gives notice.",
]


def test_extractive_engine_answers_the_reduce_with_ids_and_collapses_repeats(tokenizer):
    points = [_point(k, text) for k, text in enumerate(TOPICS)]
    repeated = points[0]
    points += [repeated, repeated]  # a point found again by the windows that overlap it
    (result,) = reduce_summaries([_result("a" * 16, points)], ExtractiveEngine(summary_points=3), tokenizer,
                                 CONFIG)
    assert result.errors == () and result.route.reduce_depth >= 1 and len(result.summary) == 3
    assert all(p.citation in {q.citation for q in points} for p in result.summary)
    assert [p.text for p in result.summary].count(repeated.text) == 1  # central, and chosen once
    again = reduce_summaries([_result("a" * 16, points)], ExtractiveEngine(summary_points=3), tokenizer, CONFIG)
    assert again[0].summary == result.summary


RISK_TASK = '''
name = "risks"
description = "the risks the document states"
items = "many"
merge = "reduce"
text_field = "risk"
max_items = 2
reserve = 300
instructions = "Task: list the risks the document states. {% include 'fields.j2' %}"
fields = [{name = "risk", type = "string"}, {name = "severity", type = "enum", values = ["low", "high"]},
          {name = "quote", type = "string"}, {name = "page_number", type = "integer"}]
'''
FEE = "The Distributor shall pay a fee of $5,000,000 within thirty (30) days of each invoice."


def test_a_task_file_with_merge_reduce_is_reduced_on_a_windowed_document(tmp_path, tokenizer):
    """A user task's items of all windows are merged by the engine beside the summary's, by id: the merged
    item keeps the named item's other values and verified citation, and its new text's claims are checked."""
    task_file = tmp_path / "risks.toml"
    task_file.write_text(RISK_TASK)
    write_pdf(tmp_path / "in" / "long.pdf", [filler(1200, str(i)) + " " + FEE for i in range(8)])

    def window_items(request):  # every window states the one risk, found on its first page
        page = request.pages[0].page_number
        return {"items": [{"risk": "Late fees.", "severity": "low" if page == 1 else "high", "quote": FEE,
                           "page_number": page}]}

    def window_points(request):
        return {"points": [{"point": "A fee.", "quote": FEE, "page_number": request.pages[0].page_number}]}

    def merge(request):  # names the second window's item first: its values and citation are the ones kept
        return {"points": [{"point": "A fee of $5,000,000 due in 99 days.", "ids": [request.items[1].id]}]}

    engine = ScriptedEngine({"risks": window_items, "summary": window_points, "reduce_risks": merge,
                             "reduce_summary": merge})
    config = RunConfig(max_context=8192, tasks=("summary", str(task_file)))
    report = run([tmp_path / "in"], tmp_path / "out", config, engine=engine)
    stored = tmp_path / "out" / report.documents[0].doc_id / "result.json"
    result = DocResult.model_validate_json(stored.read_text())
    maps = [r for r in engine.requests if r.task == "risks"]
    reduces = [r for r in engine.requests if r.task == "reduce_risks"]
    assert result.route.kind == "windows" and len(maps) == len(result.route.windows) >= 2
    assert [r.request_id for r in reduces] == [f"{result.doc_id}:reduce_risks:r1g0"]
    (request,) = reduces
    assert any(r.task == "reduce_summary" for r in engine.calls[-1])  # both tasks' reduces share the round
    assert request.max_tokens == 300 and request.thinking == config.thinking  # the reduced task's reply room
    assert request.prompt_tokens == tokenizer.count_chat(request.messages, config.thinking)
    assert [ref.text for ref in request.items] == ["Late fees."] * len(maps)
    assert "Each item is one of: the risks the document states." in request.messages[1].content
    assert request.json_schema["$defs"]["ReduceItem"]["properties"]["ids"]["items"]["enum"] == [
        ref.id for ref in request.items]
    second = next(m for m in maps if m.window == 1).pages[0].page_number
    (item,) = result.extractions["risks"]
    assert item.values == {"risk": "A fee of $5,000,000 due in 99 days.", "severity": "high"}
    assert (item.citation.page_number, item.citation.status, item.citation.quote) == (second, "verified", FEE)
    assert item.unsupported == ("risk",)  # "99" is in neither the quote nor its page: flagged, kept
    assert [p.claim_check.numbers for p in result.summary] == [("99",)]
    assert result.status == "ok" and result.route.reduce_depth == 1
