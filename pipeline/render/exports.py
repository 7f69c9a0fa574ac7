"""Exports for downstream systems: stored results → `clauses.csv` and `results.jsonl`.

Contract: `clauses_csv(results)` has a header row and one row per clause (columns `CLAUSE_COLUMNS`; empty
cell for a missing page, `true`/`false` for `conflict`); quotes are written verbatim — a consumer that opens
the file in a spreadsheet sees document text, never our interpretation of it. `results_jsonl(results)` has
one line per document: its `result.json` as one JSON object. Both keep the order of `results`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from pipeline.models import DocResult

CLAUSE_COLUMNS = (
    "doc_id", "file", "category", "page_number", "page_label", "status", "match", "quote", "conflict",
    "claimed_page_number", "char_start", "char_end",
)


def clauses_csv(results: Sequence[DocResult]) -> str:
    """One CSV row per clause of every document (RFC 4180 quoting, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CLAUSE_COLUMNS)
    for result in results:
        path = result.source.path if result.source else ""
        for clause in result.clauses:
            c = clause.citation
            writer.writerow([
                result.doc_id, path, clause.category, _cell(c.page_number), _cell(c.page_label), c.status,
                c.match, c.quote, "true" if clause.conflict else "false", _cell(c.claimed_page_number),
                _cell(c.char_start), _cell(c.char_end),
            ])
    return buffer.getvalue()


def results_jsonl(results: Sequence[DocResult]) -> str:
    """One line per document: the DocResult as compact JSON."""
    return "".join(result.model_dump_json() + "\n" for result in results)


def _cell(value: object) -> str:
    return "" if value is None else str(value)
