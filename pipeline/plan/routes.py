"""Stage plan: Document → Plan (one route per document, with its exact token counts, and its requests).

Routes: `whole` when every task's rendered prompt plus its output reserve fits the native context
(32,768), `whole_yarn` when it fits `max_context` (131,072 with YaRN), else `windows`: page-aligned
slices (see `windows.py`) each of which fits. Token counts are of the full rendered chat prompt. A
document whose pages alone, counted one by one, are far over `max_context` goes to windows without its
whole text ever being tokenized at once (that costs memory in proportion to the document).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.config import RunConfig
from pipeline.models import ChecklistItem, Document, Plan, Request, Route, RouteKind
from pipeline.plan.requests import make_request
from pipeline.plan.prompts import build_messages
from pipeline.plan.tokens import Tokenizer
from pipeline.plan.windows import fixed_cost, page_costs, split_windows
from pipeline.tasks.registry import TaskDef, load_tasks, task_reserve
from pipeline.tasks.schema import reply_schema

LONG_CHARS_PER_TOKEN = 2  # beyond this many characters per context token, count page by page first
JOIN_SLACK = 4  # tokens one page join may save when pages are tokenized together rather than one by one


def plan_document(
    doc: Document, config: RunConfig, tokenizer: Tokenizer, checklist: Sequence[ChecklistItem]
) -> Plan:
    """Choose the document's route and build its requests (task requests of one document adjacent)."""
    costs = None
    if sum(len(p.text) for p in doc.pages) > LONG_CHARS_PER_TOKEN * config.max_context:
        costs = page_costs(doc.pages, tokenizer)
        at_least = sum(costs) - JOIN_SLACK * len(costs) + fixed_cost(doc, config, tokenizer, checklist)
        if at_least > config.max_context:
            return _windows(doc, config, tokenizer, checklist, costs, (at_least, {}))
    whole = _whole_requests(doc, config, tokenizer, checklist)
    task_tokens = {r.task: r.prompt_tokens for r in whole}
    largest = max(whole, key=lambda r: r.prompt_tokens + r.max_tokens)
    total = largest.prompt_tokens + largest.max_tokens
    kind, limit = choose_route(total, config)
    if kind == "windows":
        return _windows(doc, config, tokenizer, checklist, costs, (total, task_tokens))
    whole = [r.model_copy(update={"route": kind}) for r in whole]
    route = Route(kind=kind, prompt_tokens=largest.prompt_tokens, output_reserve=_reserve(config),
                  total_tokens=total, context_limit=limit, task_tokens=task_tokens)
    return Plan(document=doc, route=route, requests=tuple(whole))


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


def _windows(
    doc: Document, config: RunConfig, tokenizer: Tokenizer, checklist: Sequence[ChecklistItem],
    costs: Sequence[int] | None, whole: tuple[int, dict[str, int]],
) -> Plan:
    """The windows route: every task over every window, a window's tasks adjacent (shared prefix).
    `whole`: the document's total and per-task tokens if sent whole (a lower bound and {} when not counted)."""
    budget = window_budget(config)
    slices = split_windows(doc, config, tokenizer, checklist, budget, costs)
    requests = tuple(
        make_request(config, request_id=f"{doc.doc_id}:{task.name}:w{s.window.index}", doc_id=doc.doc_id,
                     task=task.name, route="windows", window=s.window.index, messages=s.messages[task.name],
                     prompt_tokens=s.tokens[task.name], pages=s.pages, checklist=checklist, page_count=len(doc.pages))
        for s in slices
        for task in load_tasks(config.tasks)
    )
    route = Route(
        kind="windows", prompt_tokens=max(r.prompt_tokens for r in requests), output_reserve=_reserve(config),
        total_tokens=whole[0], context_limit=budget, task_tokens=whole[1], windows=tuple(s.window for s in slices),
    )
    return Plan(document=doc, route=route, requests=requests)


def _reserve(config: RunConfig) -> int:
    return max(task_reserve(config, task) for task in load_tasks(config.tasks))



def _whole_requests(
    doc: Document, config: RunConfig, tokenizer: Tokenizer, checklist: Sequence[ChecklistItem]
) -> list[Request]:
    """One request per task over the whole document; the document part they share is counted once."""
    tasks = load_tasks(config.tasks)
    messages = [build_messages(task, doc.pages, len(doc.pages), checklist, n_points=config.summary_points,
                               controls=tokenizer.control_strings()) for task in tasks]
    counts = tokenizer.count_chats(messages, config.thinking)
    return [
        make_request(config, request_id=f"{doc.doc_id}:{task.name}", doc_id=doc.doc_id, task=task.name,
                     route="whole", messages=m, prompt_tokens=n, pages=doc.pages, checklist=checklist,
                     page_count=len(doc.pages))
        for task, m, n in zip(tasks, messages, counts, strict=True)
    ]
