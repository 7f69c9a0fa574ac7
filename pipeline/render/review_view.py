"""What the review templates show: a DocResult (+ its page texts) → plain view objects. No HTML here.

Contract: `doc_view(result, pages, categories)` gives one document's view: its citations with offsets
converted to UTF-16 code units (what JavaScript string offsets count), its summary points with the numbers
their claim check found unsupported, and one matrix cell per category —
`conflict` (a clause of that category is marked conflicting), `found`, `absent` (the clause task looked and
found nothing) or `unchecked` (the clause task did not run or failed for it). `matrix_categories(results)`
orders the categories: the bundled CUAD checklist's order for its names, then others as first seen.

PDF links: `pdf_href(result, start)` is a relative URL from the folder `start` to the document's PDF, when
the PDF named in `result.source` is there now (same size as when read; a relative source path counts from
the current directory, as it did for the run), else None; a chip then links `href#page=N` (the PDF open
parameter that Chromium, Firefox and Acrobat honour). Pages read by OCR (`Page.source == "ocr"`, when the
ingest records it) and pages flagged empty or failed are marked on the chips citing them and in the viewer.

Tasks from task files become `TaskView`s (values as text, `shown`); `task_columns(views)` gives the one-item
tasks' fields for the index's documents × fields tables.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.request import pathname2url

from pipeline.tasks.checklist import load_checklist
from pipeline.cite.locate import normalize
from pipeline.models import Citation, ClaimCheck, DocError, DocResult, Page, TaskItem
from pipeline.render.items import engine_label, is_model_free

CellState = Literal["conflict", "found", "absent", "unchecked"]
CELL_RANK = {"conflict": 3, "found": 2, "absent": 1, "unchecked": 0}
STATUSES = ("verified", "relocated", "unverified")


@dataclass(frozen=True)
class CiteView:
    key: str  # unique in the document: s<n> (summary point) or c<n> (clause)
    citation: Citation
    start: int | None  # UTF-16 offsets of the quote in its page's text; None when not located
    end: int | None
    ocr: bool = False  # the cited page's text came from OCR


@dataclass(frozen=True)
class PointView:
    text: str
    cite: CiteView
    claim: ClaimCheck | None = None  # numbers and dates of `text` checked against the quote and page

    @property
    def unsupported(self) -> tuple[str, ...]:
        """The point's numbers and dates found neither in its quote nor on its page (flagged, not dropped)."""
        return self.claim.numbers if self.claim is not None and self.claim.status == "unsupported" else ()

    @property
    def quote_differs(self) -> bool:
        """Whether the quote says more than the point (extractive points are their own quotes)."""
        return normalize(self.text)[0] != normalize(self.cite.citation.quote)[0]


@dataclass(frozen=True)
class ClauseView:
    category: str
    conflict: bool
    cite: CiteView


@dataclass(frozen=True)
class ItemView:
    """One item of a task from a task file: its values shown as text, and its citations."""

    values: dict[str, str]
    cite: CiteView | None  # items = "many": the item's quote
    cites: dict[str, CiteView]  # items = "one": each field's quote
    conflicts: tuple[str, ...]
    unsupported: tuple[str, ...]


@dataclass(frozen=True)
class TaskView:
    """A task from a task file in one document: its fields (in the items' order) and items."""

    name: str
    one: bool  # one item per document, each field cited: shown as fields × values, and in the index table
    fields: tuple[str, ...]
    items: tuple[ItemView, ...]


@dataclass(frozen=True)
class Cell:
    category: str
    state: CellState
    count: int
    key: str | None = None  # the citation key of the category's first clause in the document

    @property
    def rank(self) -> int:
        return CELL_RANK[self.state]


@dataclass(frozen=True)
class DocView:
    doc_id: str
    title: str
    file_name: str
    path: str
    status: str
    route: str | None
    windows: int
    page_count: int | None
    prompt_tokens: int | None
    output_tokens: int | None
    engine: str
    model_free: bool
    pdf_href: str | None  # relative to the document's report folder; None when the PDF is not reachable
    ocr_pages: tuple[int, ...]
    citations: dict[str, int]
    summary: tuple[PointView, ...]
    clauses: tuple[ClauseView, ...]
    tasks: tuple[TaskView, ...]
    absent: tuple[str, ...]
    errors: tuple[DocError, ...]
    pages_flagged: tuple[Page, ...]
    cells: tuple[Cell, ...]
    pages: list[dict[str, object]] | None  # for the page viewer; None when pages.json is missing
    # OCR pages whose image was written (--ocr-images): (page number, image path beside report.html, confidence)
    ocr_images: tuple[tuple[int, str, float | None], ...] = ()

    @property
    def unsupported_claims(self) -> int:
        return sum(bool(p.unsupported) for p in self.summary)

    @property
    def cited(self) -> int:
        return sum(self.citations.values())

    @property
    def found_ratio(self) -> float | None:
        return (self.citations["verified"] + self.citations["relocated"]) / self.cited if self.cited else None


def doc_view(result: DocResult, pages: Sequence[Page] | None, categories: Sequence[str],
             report_dir: Path | None = None) -> DocView:
    """One document's view; see the module docstring. `report_dir`: where its report.html goes (for the
    relative PDF link; None: no link)."""
    texts = {p.page_number: p.text for p in pages} if pages is not None else {}
    ocr = tuple(p.page_number for p in pages or () if is_ocr(p))
    summary = tuple(PointView(p.text, _cite(f"s{i}", p.citation, texts, ocr), p.claim_check)
                    for i, p in enumerate(result.summary, 1))
    clauses = tuple(ClauseView(c.category, c.conflict, _cite(f"c{i}", c.citation, texts, ocr))
                    for i, c in enumerate(result.clauses, 1))
    tasks = tuple(_task_view(k, name, items, texts, ocr)
                  for k, (name, items) in enumerate(result.extractions.items(), 1))
    cites = [p.cite for p in summary] + [c.cite for c in clauses]
    cites += [c for t in tasks for i in t.items for c in ([i.cite] if i.cite else []) + list(i.cites.values())]
    counts: Counter[str] = Counter(cite.citation.status for cite in cites)
    source, route = result.source, result.route
    return DocView(
        doc_id=result.doc_id, title=Path(source.path).stem if source else result.doc_id,
        file_name=Path(source.path).name if source else "", path=source.path if source else "",
        status=result.status, route=route.kind if route else None, windows=len(route.windows) if route else 0,
        page_count=source.page_count if source else None, prompt_tokens=route.prompt_tokens if route else None,
        output_tokens=result.usage.get("output_tokens"), engine=engine_label(result.engine),
        model_free=is_model_free(result.engine), pdf_href=pdf_href(result, report_dir), ocr_pages=ocr,
        citations={s: counts[s] for s in STATUSES}, summary=summary, clauses=clauses, tasks=tasks,
        absent=result.absent, errors=result.errors, pages_flagged=result.pages_flagged,
        cells=tuple(_cell(result, name) for name in categories),
        pages=[{"n": p.page_number, "label": p.page_label, "status": p.status, "text": p.text, "ocr": is_ocr(p)}
               for p in pages] if pages is not None else None,
        ocr_images=tuple((p.page_number, p.image, p.ocr_confidence) for p in pages or () if p.image),
    )


def _task_view(k: int, name: str, items: Sequence[TaskItem], texts: dict[int, str], ocr: tuple[int, ...]) -> TaskView:
    fields = tuple(dict.fromkeys(f for item in items for f in item.values))
    views = tuple(
        ItemView(values={f: shown(item.values.get(f)) for f in fields},
                 cite=_cite(f"t{k}i{i}", item.citation, texts, ocr) if item.citation else None,
                 cites={f: _cite(f"t{k}i{i}{f}", c, texts, ocr) for f, c in item.citations.items()},
                 conflicts=item.conflicts, unsupported=item.unsupported)
        for i, item in enumerate(items, 1)
    )
    return TaskView(name, any(item.citations for item in items), fields, views)


def shown(value: object) -> str:
    """A typed value as text: lists joined by '; ', booleans yes/no, nothing as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(shown(v) for v in value)
    return str(value)


def task_columns(views: Sequence[DocView]) -> dict[str, tuple[str, ...]]:
    """The one-item tasks of any document, each with its fields: the index's documents × fields tables."""
    columns: dict[str, dict[str, None]] = {}
    for view in views:
        for task in view.tasks:
            if task.one:
                columns.setdefault(task.name, {}).update(dict.fromkeys(task.fields))
    return {name: tuple(fields) for name, fields in columns.items()}


def matrix_categories(results: Sequence[DocResult]) -> tuple[str, ...]:
    """Every category any document found or looked for; see the module docstring for the order."""
    cuad = {item.name: i for i, item in enumerate(load_checklist())}
    seen: dict[str, int] = {}
    for result in results:
        for name in [c.category for c in result.clauses] + list(result.absent):
            seen.setdefault(name, len(seen))
    return tuple(sorted(seen, key=lambda name: (cuad.get(name, len(cuad)), seen[name])))


def utf16_offset(text: str, offset: int) -> int:
    """`offset` (Python characters) as UTF-16 code units: characters beyond the BMP count twice."""
    return offset + sum(1 for ch in text[:offset] if ord(ch) > 0xFFFF)


def is_ocr(page: Page) -> bool:
    """Whether the page's text came from OCR (recorded by ingest as `source: "ocr"`, when it records it)."""
    return getattr(page, "source", None) == "ocr"


def pdf_href(result: DocResult, start: Path | None) -> str | None:
    """A relative URL from the folder `start` to the document's PDF; see the module docstring."""
    if start is None or result.source is None:
        return None
    pdf = Path(result.source.path)
    try:
        if not pdf.is_file() or pdf.stat().st_size != result.source.size_bytes:
            return None
        relative = os.path.relpath(pdf.resolve(), start.resolve())
    except (OSError, ValueError):  # unreadable, or (Windows) on another drive than the report
        return None
    return pathname2url(relative)


def _cite(key: str, citation: Citation, texts: dict[int, str], ocr: tuple[int, ...] = ()) -> CiteView:
    text = texts.get(citation.page_number) if citation.page_number is not None else None
    start, end = citation.char_start, citation.char_end
    on_ocr = citation.page_number in ocr
    if text is None or start is None or end is None or citation.status == "unverified" or end > len(text):
        return CiteView(key, citation, None, None, on_ocr)
    return CiteView(key, citation, utf16_offset(text, start), utf16_offset(text, end), on_ocr)


def _cell(result: DocResult, category: str) -> Cell:
    mine = [(i, c) for i, c in enumerate(result.clauses, 1) if c.category == category]
    if mine:
        state: CellState = "conflict" if any(c.conflict for _, c in mine) else "found"
        return Cell(category, state, len(mine), f"c{mine[0][0]}")
    return Cell(category, "absent" if category in result.absent else "unchecked", 0)
