"""Stage plan: Document → Plan (one route per document, with its exact token counts, and its requests).

Routes: `whole` when every task's rendered prompt plus its output reserve fits the native context
(32,768), `whole_yarn` when it fits `max_context` (131,072 with YaRN), else `windows`: page-aligned
slices (see `windows.py`) each of which fits. Token counts are of the full rendered chat prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.config import RunConfig
from pipeline.models import ChecklistItem, Document, Page, Plan, Request, Route, RouteKind, Window
from pipeline.prompts import build_messages
from pipeline.responses import json_schema
from pipeline.tokens import Tokenizer
from pipeline.windows import split_windows


def plan_document(
    doc: Document, config: RunConfig, tokenizer: Tokenizer, checklist: Sequence[ChecklistItem]
) -> Plan:
    """Choose the document's route and build its requests (task requests of one document adjacent)."""
    whole = [_request(doc, task, config, tokenizer, checklist) for task in config.tasks]
    task_tokens = {r.task: r.prompt_tokens for r in whole}
    largest = max(whole, key=lambda r: r.prompt_tokens + r.max_tokens)
    total = largest.prompt_tokens + largest.max_tokens
    reserve = max(r.max_tokens for r in whole)
    kind, limit = choose_route(total, config)
    if kind != "windows":
        whole = [r.model_copy(update={"route": kind}) for r in whole]
        route = Route(kind=kind, prompt_tokens=largest.prompt_tokens, output_reserve=reserve,
                      total_tokens=total, context_limit=limit, task_tokens=task_tokens)
        return Plan(document=doc, route=route, requests=tuple(whole))
    sliced = split_windows(doc, config, tokenizer, checklist, budget=window_budget(config))
    requests = tuple(
        _request(doc, task, config, tokenizer, checklist, window, len(sliced), pages)
        for window, pages in sliced
        for task in config.tasks
    )
    windows = [window for window, _ in sliced]
    route = Route(
        kind="windows", prompt_tokens=max(r.prompt_tokens for r in requests), output_reserve=reserve,
        total_tokens=total, context_limit=limit, task_tokens=task_tokens, windows=tuple(windows),
    )
    return Plan(document=doc, route=route, requests=requests)


def choose_route(total_tokens: int, config: RunConfig) -> tuple[RouteKind, int]:
    """The cheapest route whose context holds `total_tokens`, and that context's size."""
    native = min(config.native_context, config.max_context)
    if total_tokens <= native:
        return "whole", native
    if total_tokens <= config.max_context:
        return "whole_yarn", config.max_context
    return "windows", window_budget(config)


def window_budget(config: RunConfig) -> int:
    """Tokens one window's prompt plus reply may use."""
    return min(config.max_context, config.max_window_tokens or config.max_context)


def _request(
    doc: Document,
    task: str,
    config: RunConfig,
    tokenizer: Tokenizer,
    checklist: Sequence[ChecklistItem],
    window: Window | None = None,
    window_count: int = 1,
    window_pages: Sequence[Page] = (),
) -> Request:
    pages = tuple(window_pages) if window is not None else doc.pages
    messages = build_messages(
        task, pages, len(doc.pages), checklist, window, window_count, config.summary_points
    )
    suffix = task if window is None else f"{task}:w{window.index}"
    return Request(
        request_id=f"{doc.doc_id}:{suffix}",
        doc_id=doc.doc_id,
        task=task,
        route="windows" if window is not None else "whole",
        window=None if window is None else window.index,
        messages=messages,
        json_schema=json_schema(task, checklist),
        max_tokens=config.reserve(task),
        prompt_tokens=tokenizer.count_chat(messages, config.thinking),
        thinking=config.thinking,
        pages=tuple(pages),
        checklist=tuple(checklist) if task == "clauses" else (),
    )
