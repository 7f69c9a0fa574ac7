"""Exports for downstream systems: stored results → `clauses.csv`, `results.jsonl` and `<task>.csv`.

Contract: `clauses_csv(results)` is for spreadsheet users: it starts with a UTF-8 byte order mark (so Excel
reads it as UTF-8), has a header row and one row per clause (columns `CLAUSE_COLUMNS`; empty cell for a
missing page, `true`/`false` for `conflict`), RFC 4180 quoting, so a quote's line breaks stay inside its
quoted cell; every cell a spreadsheet could run as a formula is neutralised (`cells.neutralise`: a leading
apostrophe), in every column. `results_jsonl(results)` is for programs: one line per document, its
`result.json` as one JSON object, exact text. Both keep the order of `results`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from pipeline.models import Clause, DocResult
from pipeline.render.cells import neutralise

BOM = "\ufeff"
CLAUSE_COLUMNS = (
    "doc_id", "file", "category", "page_number", "page_label", "status", "match", "quote", "conflict",
    "claimed_page_number", "char_start", "char_end",
)


def clause_row(result: DocResult, clause: Clause) -> list[object]:
    """One clause's values in `CLAUSE_COLUMNS` order (None where there is no value), exact text."""
    c = clause.citation
    return [result.doc_id, result.source.path if result.source else "", clause.category, c.page_number,
            c.page_label, c.status, c.match, c.quote, clause.conflict, c.claimed_page_number, c.char_start,
            c.char_end]


def clauses_csv(results: Sequence[DocResult]) -> str:
    """One CSV row per clause of every document, after a BOM (RFC 4180 quoting, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CLAUSE_COLUMNS)
    for result in results:
        for clause in result.clauses:
            writer.writerow([_cell(value) for value in clause_row(result, clause)])
    return BOM + buffer.getvalue()


CITATION_COLUMNS = ("page_number", "page_label", "status", "match", "quote")


def task_csv(task: str, results: Sequence[DocResult]) -> str:
    """One CSV row per item of `task` in every document: doc_id, file, the fields (lists joined by '; '),
    then the item's citation (items = "many"), or, per field, its page, status and quote (items = "one");
    `conflicts` and `unsupported` list fields. Field columns are those of the items, in their order."""
    items = [(r, item) for r in results for item in r.extractions.get(task, ())]
    fields = list(dict.fromkeys(f for _, item in items for f in item.values))
    one = any(item.citations for _, item in items)
    header = ["doc_id", "file", *fields]
    per_field = [f"{f}_{c}" for f in fields for c in ("page_number", "status", "quote")]
    header += per_field if one else list(CITATION_COLUMNS)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*header, "conflicts", "unsupported"])
    for result, item in items:
        path = result.source.path if result.source else ""
        row = [result.doc_id, path, *(_value(item.values.get(f)) for f in fields)]
        if one:
            for f in fields:
                c = item.citations.get(f)
                row += [_cell(c.page_number), c.status, c.quote] if c else ["", "", ""]
        else:
            c = item.citation
            row += [_cell(c.page_number), _cell(c.page_label), c.status, c.match, c.quote] if c else [""] * 5
        writer.writerow([*row, "; ".join(item.conflicts), "; ".join(item.unsupported)])
    return buffer.getvalue()


def _value(value: object) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _cell(value)


def results_jsonl(results: Sequence[DocResult]) -> str:
    """One line per document: the DocResult as compact JSON."""
    return "".join(result.model_dump_json() + "\n" for result in results)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(str(value))
