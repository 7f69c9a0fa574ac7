"""A task's reply model, made from its definition: one pydantic class gives the JSON schema for constrained
decoding and parses the reply.

Contract: `reply_model(task, checklist)` is the open model replies are parsed with (types, enums and dates
checked; a field with `required = false` may be missing). `reply_schema(task, checklist, page_count)` is
the bounded JSON schema an engine enforces: at most `max_items` items, quotes of at most `max_quote_chars`,
string values of at most `max_value_chars`, numbers within their field's range, pages from 1 to `page_count`, every field present (optional
ones nullable; OpenAI's strict mode needs every key required). Shapes:
- items = "many": `{reply_key: [{field: value, ...}, ...]}`;
- items = "one": `{field: {"value": value, quote_field: str, page_field: int} | null, ...}` for every
  value field: each value carries its own quote.
Models are cached per (task, checklist names, page count).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from pipeline.models import ChecklistItem
from pipeline.tasks.registry import FieldDef, TaskDef
from pipeline.tasks.responses import Reply

DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
NUMBER_BOUND = 10**12  # a number field's default range: without one, a decoder may write digits forever


@dataclass(frozen=True)
class _Shape:
    """What one reply model is made for: the task, the checklist's names, the document's pages, bounded or open."""

    task: TaskDef
    names: tuple[str, ...]
    page_count: int | None
    bounded: bool


@functools.cache
def _model(shape: _Shape) -> type[Reply]:
    task = shape.task
    title = "".join(part.title() for part in task.name.split("_"))
    if task.items == "one":
        cited = {f.name: (_cited(shape, f, title), _absent(shape.bounded)) for f in task.value_fields if not f.hidden}
        return create_model(f"{title}Reply", __base__=Reply, **cited)  # type: ignore[call-overload, no-any-return]
    fields: dict[str, Any] = {}
    for f in task.fields:
        kind = _field_type(shape, f)
        if f.hidden:  # never in the schema: an engine that knows it may still add it
            fields[f.name] = (Annotated[kind | None, SkipJsonSchema()], None)
        elif not f.required:
            fields[f.name] = (kind | None, _absent(shape.bounded, f.description))
        else:
            fields[f.name] = (kind, Field(description=f.description))
    item = create_model(f"{title}Item", __base__=Reply, **fields)  # type: ignore[call-overload]
    limit = Field(max_length=task.max_items) if shape.bounded else Field()
    return create_model(f"{title}Reply", __base__=Reply,  # type: ignore[call-overload, no-any-return]
                        **{task.reply_key: (list[item], limit)})  # type: ignore[valid-type]


def _absent(bounded: bool, description: str = "") -> Any:
    """Bounded: required and nullable (strict schemas). Open: may be missing."""
    return Field(description=description or None) if bounded else Field(default=None, description=description or None)


def _cited(shape: _Shape, f: FieldDef, title: str) -> Any:
    """A one-item task's field: its value with its own quote and page, or null."""
    by_name = {g.name: g for g in shape.task.fields}
    quote, page = by_name[shape.task.quote_field], by_name[shape.task.page_field]
    model = create_model(
        f"{title}{f.name.title().replace('_', '')}", __base__=Reply,
        value=(_field_type(shape, f), Field(description=f.description)),
        **{quote.name: (_field_type(shape, quote), Field(description=quote.description)),
           page.name: (_field_type(shape, page), Field(description=page.description))},
    )
    return model | None


def _field_type(shape: _Shape, f: FieldDef) -> Any:
    """The Python type of one field's value, bounded or open."""
    task, bounded = shape.task, shape.bounded
    if f.name == task.page_field:
        return Annotated[int, Field(ge=1, le=shape.page_count)] if bounded and shape.page_count else int
    if f.name == task.quote_field:
        return Annotated[str, Field(max_length=task.max_quote_chars)] if bounded else str
    if f.type == "enum":
        values = shape.names if f.values_from == "checklist" else f.values
        return Literal[values]  # an enum in the schema: the model can only name allowed values
    if f.type == "date":
        return Annotated[str, Field(pattern=DATE_PATTERN), AfterValidator(_real_date)]
    if f.type in ("list", "string"):
        text = Annotated[str, Field(max_length=task.max_value_chars)] if bounded else str
        if f.type == "string":
            return text
        return Annotated[list[text], Field(max_length=task.max_items)] if bounded else list[text]  # type: ignore[valid-type]
    if f.type in ("integer", "number"):
        kind: Any = int if f.type == "integer" else float
        if not bounded:
            return kind
        low = -NUMBER_BOUND if f.minimum is None else f.minimum
        high = NUMBER_BOUND if f.maximum is None else f.maximum
        return Annotated[kind, Field(ge=kind(low), le=kind(high))]
    return bool


def _real_date(text: str) -> str:
    datetime.date.fromisoformat(text)  # a ValueError here is a validation error of the reply
    return text


def reply_model(task: TaskDef, checklist: Sequence[ChecklistItem] = ()) -> type[Reply]:
    """The open model a reply of `task` is parsed with."""
    return _model(_Shape(task, _names(task, checklist), None, False))


def reply_schema(task: TaskDef, checklist: Sequence[ChecklistItem] = (), page_count: int | None = None) -> dict:
    """The bounded JSON schema of a reply of `task` over a document of `page_count` pages."""
    return _model(_Shape(task, _names(task, checklist), page_count, True)).model_json_schema()


def _names(task: TaskDef, checklist: Sequence[ChecklistItem]) -> tuple[str, ...]:
    return tuple(item.name for item in checklist) if any(f.values_from for f in task.fields) else ()
