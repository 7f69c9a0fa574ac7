"""Parse a reply item by item: one invalid item costs that item, never the reply's other items.

Contract: `parse_items(model, text)` takes a task's response model — one field, a list of items (`points`,
`clauses`) — and a reply's text. It returns the valid items (each validated alone against the item model)
and, for every item left out, why. Text from the model is made valid Unicode first (a JSON escape such as
`\\udaba` decodes to a lone surrogate, which no UTF-8 file can hold). A reply that is not JSON, or has no list
of items, raises `ReplyError`: then there is nothing to keep. `parse_whole(model, text)` parses a reply that is
one item (a one-item task's), all or nothing.
"""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.sanitize import valid_unicode
from pipeline.tasks.responses import Reply, ReplyError


def parse_items(model: type[Reply], text: str) -> tuple[list[Any], list[str]]:
    """(valid items, one reason per invalid item); see the module docstring."""
    field, item_model = _list_field(model)
    try:
        # strict=False: constrained decoders let raw control characters (tabs from PDF text) into strings.
        data = clean(json.loads(text, strict=False))
    except json.JSONDecodeError as exc:
        raise ReplyError(f"reply is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    except RecursionError as exc:
        raise ReplyError("reply is nested too deeply to parse") from exc
    if not isinstance(data, dict) or not isinstance(data.get(field), list):
        raise ReplyError(f"reply does not match the schema: no list {field!r} at its top level")
    if extra := sorted(set(data) - {field}):
        raise ReplyError(f"reply does not match the schema: unexpected key(s) {extra}")
    items, problems = [], []
    for n, raw in enumerate(data[field], start=1):
        try:
            items.append(item_model.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "item"
            problems.append(f"item {n} left out: {where}: {first['msg']}")
    return items, problems


def parse_whole(model: type[Reply], text: str) -> Reply:
    """A reply that is one item (a one-item task's: several fields, no list), parsed and made valid Unicode
    as `parse_items` does; raises `ReplyError` when it is not valid JSON for `model`."""
    try:
        return model.model_validate(clean(json.loads(text, strict=False)))
    except json.JSONDecodeError as exc:
        raise ReplyError(f"reply is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    except RecursionError as exc:
        raise ReplyError("reply is nested too deeply to parse") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "reply"
        raise ReplyError(f"reply does not match the schema: {where}: {first['msg']}") from exc


def clean(value: Any) -> Any:
    """`value` (parsed JSON) with every string made valid Unicode, keys included."""
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, (list, tuple)):
        return type(value)(clean(v) for v in value)
    if isinstance(value, dict):
        return {valid_unicode(k): clean(v) for k, v in value.items()}
    return value


def _list_field(model: type[Reply]) -> tuple[str, type[BaseModel]]:
    """The response model's one field and the model of its items."""
    (name, info), = model.model_fields.items()
    (item,) = typing.get_args(info.annotation)
    return name, item
