"""One pydantic response model per task. The same class gives the JSON schema for constrained decoding,
parses a reply and validates it (scripted test replies included).

Contract: `parse_reply(model, text)` returns a validated instance or raises `ReplyError` saying why.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.json_schema import SkipJsonSchema

from pipeline.models import ChecklistItem


class ReplyError(ValueError):
    """A reply that is not valid JSON for its task's schema."""


class Reply(BaseModel):
    # extra="forbid" puts additionalProperties: false into the schema the engine enforces.
    model_config = ConfigDict(extra="forbid")


class SummaryItem(Reply):
    point: str = Field(description="one key point of the document, in your own words")
    quote: str = Field(description="a sentence copied verbatim from the document that supports the point")
    page_number: int = Field(description="the physical page number (from the page header) of the quote")


class SummaryReply(Reply):
    points: list[SummaryItem]


class ReduceItem(Reply):
    point: str = Field(description="one key point of the whole document, in your own words")
    ids: list[str] = Field(min_length=1, description="ids of the listed points it rests on, best-supporting first")


class ReduceSummaryReply(Reply):
    """The reduce step's reply: points that name the window points they merge by id, never by page."""

    points: list[ReduceItem]


@functools.cache
def _clauses_model(names: tuple[str, ...]) -> type[Reply]:
    category: Any = Literal[names]  # an enum in the schema: the model can only name checklist categories
    item = create_model(
        "ClauseItem",
        __base__=Reply,
        category=(category, Field(description="the checklist category this clause belongs to")),
        quote=(str, Field(description="the clause text copied verbatim from the document")),
        page_number=(int, Field(description="the physical page number (from the page header) of the quote")),
        # Optional and left out of the schema: constrained decoding never asks a model for it; an engine that
        # can score its clauses (model-free, or from token probabilities) may add it to its reply.
        confidence=(Annotated[float | None, SkipJsonSchema()], None),
    )
    return create_model("ClausesReply", __base__=Reply, clauses=(list[item], ...))  # type: ignore[valid-type]


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
    """The reply model of a task ('summary', 'clauses', or the windows route's 'reduce_summary')."""
    if task == "summary":
        return SummaryReply
    if task == "reduce_summary":
        return ReduceSummaryReply
    if task == "clauses":
        return _clauses_model(tuple(item.name for item in checklist))
    raise ValueError(f"unknown task {task!r}")


def json_schema(task: str, checklist: Sequence[ChecklistItem] = ()) -> dict:
    return response_model(task, checklist).model_json_schema()


def parse_reply(model: type[Reply], text: str) -> Reply:
    # strict=False: constrained decoders let raw control characters (tabs from PDF text) into strings.
    try:
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise ReplyError(f"reply is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ReplyError(f"reply does not match the schema: {exc.error_count()} error(s): {exc.errors()[0]['msg']}") from exc
