"""The one request constructor: every request an engine sees, map (per task, whole or per window) and reduce.

Contract: `make_request(...)` sets what must agree between a request and its token count — the thinking
mode (`config.thinking`) and the reply room (`config.reserve`, reasoning room included in thinking
mode) — from the run config, never from the caller. `prompt_tokens`, when the caller counted it (batched
counting of a document's tasks), must be the count of `messages` in `config.thinking` mode; without it the
request's messages are counted here, in that mode. The reply's JSON schema is the task's bounded schema
(`tasks.schema.reply_schema`: pages up to `page_count`, the document's) unless the caller narrows it (the
reduce step lists the ids a prompt may name); the reply room is the task file's `reserve` (the built-ins':
their run settings) — for a reduce request ('reduce_<task>') the reduced task's, as its reply is that task's items.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.config import RunConfig
from pipeline.models import ChecklistItem, Message, Page, PointRef, Request, RouteKind
from pipeline.plan.tokens import Tokenizer
from pipeline.tasks.registry import reduced_task, task_named, uses_checklist
from pipeline.tasks.responses import json_schema as task_schema
from pipeline.tasks.schema import reply_schema


def make_request(
    config: RunConfig, *, request_id: str, doc_id: str, task: str, route: RouteKind, messages: tuple[Message, ...],
    prompt_tokens: int | None = None, tokenizer: Tokenizer | None = None, checklist: Sequence[ChecklistItem] = (),
    window: int | None = None, pages: tuple[Page, ...] = (), items: tuple[PointRef, ...] = (),
    schema: dict | None = None, page_count: int | None = None,
) -> Request:
    """One request; see the module docstring. Give `prompt_tokens` or a `tokenizer` to count with."""
    if prompt_tokens is None:
        if tokenizer is None:
            raise ValueError("make_request needs prompt_tokens or a tokenizer to count them")
        prompt_tokens = tokenizer.count_chat(messages, config.thinking)
    reduced = reduced_task(task)
    definition = task_named(reduced or task)
    task_checklist = tuple(checklist) if reduced is None and uses_checklist([definition]) else ()
    if schema is None:
        schema = task_schema(task) if reduced else reply_schema(definition, task_checklist, page_count)
    return Request(
        request_id=request_id, doc_id=doc_id, task=task, route=route, window=window, messages=messages,
        json_schema=schema, max_tokens=config.reserve(definition.name, definition.reserve),
        prompt_tokens=prompt_tokens, thinking=config.thinking, pages=pages, checklist=task_checklist, items=items,
    )
