"""The cross-document view: every document's answer to one field (a clause category, or the summary).

Contract: `field_rows(views, categories)` gives, for each field in order — "Summary" first when any document
has summary points, then `categories` — one row per item a document has for it (a summary point, a clause)
and one row per document that has none (`absent`: the clause task looked and found nothing; `not checked`:
it did not run or failed). Rows keep the documents' order. A row's `cite` is the item's citation view, with
the anchor (`key`) that opens it in the document's report.html.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.render.items import SUMMARY_GROUP
from pipeline.render.review_view import CiteView, DocView

FieldState = str  # found | conflict | absent | not checked


@dataclass(frozen=True)
class FieldRow:
    field: str
    doc: DocView
    state: FieldState
    text: str = ""  # the summary point, or the clause's quote
    cite: CiteView | None = None


def field_rows(views: Sequence[DocView], categories: Sequence[str]) -> tuple[tuple[str, ...], list[FieldRow]]:
    """(the fields in order, the rows); see the module docstring."""
    fields = ((SUMMARY_GROUP,) if any(v.summary for v in views) else ()) + tuple(categories)
    rows: list[FieldRow] = []
    for field in fields:
        for view in views:
            rows.extend(_rows(view, field))
    return fields, rows


def _rows(view: DocView, field: str) -> list[FieldRow]:
    if field == SUMMARY_GROUP:
        return [FieldRow(field, view, "found", p.text, p.cite) for p in view.summary]
    found = [FieldRow(field, view, "conflict" if c.conflict else "found", c.cite.citation.quote, c.cite)
             for c in view.clauses if c.category == field]
    if found:
        return found
    cell = next((c for c in view.cells if c.category == field), None)
    return [FieldRow(field, view, "absent" if cell is not None and cell.state == "absent" else "not checked")]
