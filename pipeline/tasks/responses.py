"""Replies: the reduce's model (every task with merge = "reduce"), and `response_model(name)` for any task's (made from its definition
by `tasks.schema`). The same class gives the JSON schema for constrained decoding, parses a reply and
validates it (scripted test replies included).

Contract: `parse_reply(model, text)` returns a validated instance or raises `ReplyError` saying why.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from pipeline.models import ChecklistItem


class ReplyError(ValueError):
    """A reply that is not valid JSON for its task's schema."""


class Reply(BaseModel):
    # extra="forbid" puts additionalProperties: false into the schema the engine enforces.
    model_config = ConfigDict(extra="forbid")


class ReduceItem(Reply):
    point: str = Field(description="one key point of the whole document, in your own words")
    ids: list[str] = Field(min_length=1, description="ids of the listed points it rests on, best-supporting first")


class ReduceSummaryReply(Reply):
    """The reduce step's reply: points that name the window points they merge by id, never by page."""

    points: list[ReduceItem]


@functools.cache
def _reduce_model(ids: tuple[str, ...]) -> type[Reply]:
    point_id: Any = Literal[ids]  # an enum in the schema: constrained decoding can only name points it was given
    item = create_model(
        "ReduceItem",
        __base__=Reply,
        point=(str, Field(description="one key point of the whole document, in your own words")),
        ids=(list[point_id], Field(min_length=1,  # type: ignore[valid-type]
                                   description="ids of the listed points it rests on, best-supporting first")),
    )
    return create_model("ReduceSummaryReply", __base__=Reply, points=(list[item], ...))  # type: ignore[valid-type]


def reduce_schema(ids: Sequence[str]) -> dict:
    """The reduce step's schema for one prompt: `ids` limited to the ids that prompt lists. Replies are still
    parsed with the open `ReduceSummaryReply`, so an engine that does not enforce schemas gets its unknown ids
    reported, not a parse failure."""
    return _reduce_model(tuple(ids)).model_json_schema() if ids else ReduceSummaryReply.model_json_schema()


def response_model(task: str, checklist: Sequence[ChecklistItem] = ()) -> type[Reply]:
    """The reply model of a task by name: a reduce request's ('reduce_<task>', the windows route), or a task
    this process loaded (`tasks.registry`), else a bundled one. Raises ConfigError for a name it does not know."""
    from pipeline.tasks.registry import reduced_task, task_named

    if reduced_task(task) is not None:
        return ReduceSummaryReply
    from pipeline.tasks.schema import reply_model

    return reply_model(task_named(task), checklist)


def json_schema(task: str, checklist: Sequence[ChecklistItem] = (), page_count: int | None = None) -> dict:
    """The bounded JSON schema of a task's reply, by name (`tasks.schema.reply_schema`)."""
    from pipeline.tasks.registry import reduced_task, task_named
    from pipeline.tasks.schema import reply_schema

    if reduced_task(task) is not None:
        return ReduceSummaryReply.model_json_schema()

    return reply_schema(task_named(task), checklist, page_count)


def parse_reply(model: type[Reply], text: str) -> Reply:
    # strict=False: constrained decoders let raw control characters (tabs from PDF text) into strings.
    try:
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise ReplyError(f"reply is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]["msg"]
        raise ReplyError(f"reply does not match the schema: {exc.error_count()} error(s): {first}") from exc
