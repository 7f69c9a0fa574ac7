"""Read a folder in CUAD's layout and place the expert's spans on pages.

Contract: `load_cuad(folder)` reads `folder/master_clauses.csv` — a file column (`pdf_file`, or CUAD's own
`Filename`), then per category a column holding a Python list literal of clause texts, plus `…-Answer`
columns (ignored) — and finds each row's PDF under `folder/pdf/` (searched recursively, as CUAD ships
`full_contract_pdf/Part_*/…`; names compared case-insensitively). A row whose PDF is not there is
returned by name (the caller reports it); a malformed sheet, or one whose PDFs are all missing, raises
`ConfigError` naming the place. `place_spans(texts, pages)` gives the pages holding each text, compared as CUAD's data README does:
lower-cased, letters and digits only, substring of a page (every page holding it); a text found on no
single page but across a page break gets the pages it runs over; a text with CUAD's `<omitted>` marks gets
the pages its pieces, found in order, lie on; () when it is nowhere.
"""

from __future__ import annotations

import ast
import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.tasks.checklist import load_checklist
from pipeline.errors import ConfigError
from pipeline.models import ChecklistItem, Page

MASTER = "master_clauses.csv"
FILE_COLUMNS = ("pdf_file", "filename")
OMITTED = "<omitted>"  # CUAD marks text left out of a span this way


@dataclass(frozen=True)
class GoldDoc:
    """One contract: its PDF and, per category column of the master sheet, the labelled texts."""

    pdf: Path
    spans: dict[str, tuple[str, ...]]


def load_cuad(folder: Path) -> tuple[tuple[GoldDoc, ...], tuple[str, ...]]:
    """The contracts of a CUAD-layout folder in the master sheet's order, and the file names of rows whose
    PDF is not there (see the module docstring)."""
    master = folder / MASTER
    if not master.is_file():
        raise ConfigError(f"{folder}: not in CUAD's layout (no {MASTER})")
    pdfs = {p.name.casefold(): p for p in sorted((folder / "pdf").rglob("*")) if p.suffix.lower() == ".pdf"}
    csv.field_size_limit(sys.maxsize)  # a cell can hold every clause of a long contract
    with master.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ConfigError(f"{master}: no rows")
    file_col = next((c for c in rows[0] if c.strip().casefold() in FILE_COLUMNS), None)
    if file_col is None:
        raise ConfigError(f"{master}: no file column ({' or '.join(FILE_COLUMNS)})")
    categories = [c for c in rows[0] if c != file_col and "answer" not in c.casefold()]
    docs, missing = [], []
    for line, row in enumerate(rows, start=2):
        name = (row[file_col] or "").strip()
        spans = {c: _texts(row[c], master, line, c) for c in categories}
        pdf = pdfs.get(name.casefold())
        if pdf is None:
            missing.append(name)
        else:
            docs.append(GoldDoc(pdf=pdf, spans=spans))
    if not docs:
        raise ConfigError(f"{master}: none of its {len(rows)} contracts is under {folder / 'pdf'}")
    return tuple(docs), tuple(missing)


def _texts(cell: str | None, master: Path, line: int, column: str) -> tuple[str, ...]:
    try:
        value = ast.literal_eval(cell.strip()) if cell and cell.strip() else []
    except (ValueError, SyntaxError) as exc:
        raise ConfigError(f"{master}, line {line}, column {column!r}: not a list literal ({exc})") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{master}, line {line}, column {column!r}: expected a list of strings")
    return tuple(dict.fromkeys(v for v in value if v.strip()))  # repeats and blanks are no extra spans


def category_names(columns: Sequence[str], checklist: Sequence[ChecklistItem] | None = None) -> dict[str, str]:
    """Master-sheet column → checklist name, compared case-insensitively (CUAD's sheet title-cases names:
    'Ip Ownership Assignment'). Raises ConfigError for a column the checklist lacks."""
    items = load_checklist() if checklist is None else checklist
    by_key = {_fold(item.name): item.name for item in items}
    missing = [c for c in columns if _fold(c) not in by_key]
    if missing:
        raise ConfigError(f"categories of the master sheet not in the checklist: {', '.join(missing)}")
    return {c: by_key[_fold(c)] for c in columns}


def _fold(name: str) -> str:
    return " ".join(name.casefold().split())


def _alnum(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def place_spans(texts: Sequence[str], pages: Sequence[Page]) -> dict[str, tuple[int, ...]]:
    """Pages holding each text (see the module docstring)."""
    keys = [_alnum(page.text) for page in pages]
    starts = [sum(len(k) for k in keys[:i]) for i in range(len(keys))]
    joined = "".join(keys)

    def touched(at: int, end: int) -> set[int]:
        return {p.page_number for p, s, k in zip(pages, starts, keys) if s < end and s + len(k) > at}

    out: dict[str, tuple[int, ...]] = {}
    for text in texts:
        pieces = [k for k in (_alnum(piece) for piece in text.split(OMITTED)) if k]
        found = {p.page_number for p, k in zip(pages, keys) if k and pieces[0] in k} if len(pieces) == 1 else set()
        pos = 0
        for needle in pieces if not found else ():
            at = joined.find(needle, pos)  # pieces in order, each after the one before
            if at >= 0:
                found |= touched(at, at + len(needle))
                pos = at + len(needle)
        out[text] = tuple(sorted(found))
    return out
