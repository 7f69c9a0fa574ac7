"""Stage parse + cite: a Plan and its completions → DocResult.

Contract: every reply is parsed with its task's response model, item by item (`items.parse_items`): an
invalid item is left out and recorded in `errors` (kind `invalid_item`), the reply's other items stay (a
reply with items but none valid is an `invalid_reply`: its task failed); every quote is located by `cite`;
the numbers and dates of every summary point are checked against its quote and page (`cite.facts`);
a failed request becomes an error of the document (status `partial`, or `failed` when nothing succeeded),
never a silent gap. Items with a `point` are summary points, the others clauses. `absent` lists checklist
categories with no clause, only when the clause task ran in every window. Clauses of all windows are merged
here (`clause_merge`), the items of tasks from task files too (`task_items`; a one-item task's reply
is parsed whole, `items.parse_whole`); summary points of a windowed document are all kept, in window order, for the reduce
(`reduce.Reduction`, which needs the engine) to merge.
Pages whose OCR failed are one `ingest`/`ocr_failed` error naming them (status `partial`: the document was
read only in part); flagged pages are those not `ok` and OCR pages under the confidence threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.cite.facts import check_points
from pipeline.cite.locate import PageIndex
from pipeline.merge.clauses import merge_clauses
from pipeline.merge.items import parse_items, parse_whole
from pipeline.models import (
    ChecklistItem, Clause, Completion, DocError, DocResult, DocStatus, EngineInfo, Plan, Request,
    SummaryPoint, TaskItem,
)
from pipeline.merge.task_items import cite_items, merge_items
from pipeline.tasks.registry import BUILTIN, task_named
from pipeline.tasks.responses import ReplyError, response_model


def assemble(
    plan: Plan, completions: Sequence[Completion], engine: EngineInfo, checklist: Sequence[ChecklistItem],
    summary_points: int = 8,
) -> DocResult:
    """Parse, cite and merge one document's completions (same order as `plan.requests`)."""
    index = PageIndex(plan.document.pages)
    errors: list[DocError] = _ocr_errors(plan)  # with no other error: `partial`
    failed_tasks: set[str] = set()
    summaries: list[list[SummaryPoint]] = []
    clause_sets: list[list[Clause]] = []
    failed_requests = 0
    item_sets: dict[str, list[list[TaskItem]]] = {}  # tasks from task files: their items per window
    for request, completion in zip(plan.requests, completions, strict=True):
        items = _parse(request, completion, checklist, errors)
        if items is None:
            failed_tasks.add(request.task)
            failed_requests += 1
            continue
        if request.task not in (*BUILTIN, "reduce_summary"):
            item_sets.setdefault(request.task, []).append(cite_items(task_named(request.task), items, index))
        elif request.task == "summary" or any(hasattr(i, "point") for i in items):
            summaries.append([SummaryPoint(text=p.point, citation=index.locate(p.quote, p.page_number))
                              for p in items])
        else:
            clause_sets.append([Clause(category=c.category, citation=index.locate(c.quote, c.page_number),
                                       confidence=c.confidence)
                                for c in items])
    clauses = merge_clauses(clause_sets)
    clause_task_complete = "clauses" in {r.task for r in plan.requests} and "clauses" not in failed_tasks
    found = {c.category for c in clauses}
    absent = tuple(i.name for i in checklist if i.name not in found) if clause_task_complete else ()
    return DocResult(
        doc_id=plan.document.doc_id,
        status=_status(len(plan.requests), failed_requests, len(errors)),
        source=plan.document.source,
        route=plan.route,
        engine=engine,
        summary=check_points(_summary(summaries, summary_points), plan.document.pages),
        clauses=tuple(clauses),
        absent=absent,
        extractions={name: merge_items(task_named(name), windows) for name, windows in item_sets.items()},
        pages_flagged=tuple(p.model_copy(update={"text": ""}) for p in plan.document.pages
                            if p.status != "ok" or p.low_confidence),
        errors=tuple(errors),
        usage=_usage(completions),
    )


def _ocr_errors(plan: Plan) -> list[DocError]:
    failed = [p for p in plan.document.pages if p.source == "ocr" and p.status == "failed"]
    if not failed:
        return []
    pages = ", ".join(str(p.page_number) for p in failed)
    return [DocError(stage="ingest", kind="ocr_failed",
                     message=f"OCR failed on page(s) {pages} of {len(plan.document.pages)}: {failed[0].error}")]


def _parse(
    request: Request, completion: Completion, checklist: Sequence[ChecklistItem], errors: list[DocError]
) -> list[Any] | None:
    """The reply's valid items (problems with single items recorded), or None when the request failed."""
    where = request.task if request.window is None else f"{request.task} (window {request.window})"
    if completion.error:
        errors.append(DocError(stage="engine", kind="request_failed", message=f"{where}: {completion.error}"))
        return None
    if completion.finish_reason not in (None, "stop"):
        errors.append(DocError(stage="engine", kind="truncated",
                               message=f"{where}: reply ended with finish_reason={completion.finish_reason}"))
        return None
    try:
        model = response_model(request.task, checklist)
        if len(model.model_fields) > 1:  # a one-item task: its reply is the item
            return [parse_whole(model, completion.text)]
        items, problems = parse_items(model, completion.text)
    except ReplyError as exc:
        errors.append(DocError(stage="parse", kind="invalid_reply", message=f"{where}: {exc}"))
        return None
    if problems and not items:  # nothing of the reply stands: the task failed (e.g. `absent` stays unknown)
        errors.append(DocError(stage="parse", kind="invalid_reply",
                               message=f"{where}: no valid item ({len(problems)} left out): {problems[0]}"))
        return None
    errors.extend(DocError(stage="parse", kind="invalid_item", message=f"{where}: {p}") for p in problems)
    return items


def _summary(per_request: list[list[SummaryPoint]], n_points: int) -> list[SummaryPoint]:
    """Whole route: the reply's points (at most n_points). Windows: every window's points, for the reduce."""
    if len(per_request) == 1:
        return per_request[0][:n_points]
    return [point for points in per_request for point in points]


def _status(requests: int, failed_requests: int, errors: int) -> DocStatus:
    if errors == 0:
        return "ok"
    return "failed" if failed_requests >= requests else "partial"


def _usage(completions: Sequence[Completion]) -> dict[str, int]:
    usage = {
        "prompt_tokens": sum(c.prompt_tokens or 0 for c in completions),
        "output_tokens": sum(c.output_tokens or 0 for c in completions),
        "requests": len(completions),
        "attempts": sum(c.attempts for c in completions),
        "failed": sum(c.error is not None for c in completions),
    }
    for completion in completions:
        if completion.finish_reason:
            key = f"finish_{completion.finish_reason}"
            usage[key] = usage.get(key, 0) + 1
    return usage
