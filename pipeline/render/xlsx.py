"""`OUT/results.xlsx`: the results as a workbook for people who work in Excel or LibreOffice.

Contract: `write_xlsx(path, results, categories)` writes
- `Documents`: one row per document (file, id, status, engine), then per category (or task field) three
  columns: its quotes (one per clause, separated by a blank line), their pages (printed labels) and a status
  (`found`, `conflict`, `absent`, `not checked`; `, N unverified` when citations were not found in the text);
- one sheet per task (`task_items`): `Summary` (points) and `Clauses` (every clause, the columns of
  clauses.csv), each row one item with its citation.
Every text cell is stored as a string, never as a formula; a text that a spreadsheet would read as one
(`cells.needs_neutralising`) also gets the cell's quote-prefix flag, the stored twin of OWASP's leading
apostrophe (the cell shows the exact text and stays text when edited). Characters XML cannot hold are
shown as visible symbols, and a text beyond a cell's 32,767 characters is cut with a note; results.jsonl
keeps the exact text. openpyxl is imported only when a workbook is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.models import Clause, DocResult
from pipeline.render.cells import needs_neutralising
from pipeline.render.exports import CLAUSE_COLUMNS, clause_row
from pipeline.render.items import TaskItem, engine_label, task_items
from pipeline.secrets import redact

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

MAX_CELL = 32_767  # Excel's limit on one cell's text
CUT_NOTE = " … [cut: the full text is in results.jsonl]"
ITEM_COLUMNS = ("doc_id", "file", "field", "text", "quote", "page_number", "page_label", "status", "match")
DOC_COLUMNS = ("file", "doc_id", "status", "engine")


def write_xlsx(path: Path, results: Sequence[DocResult], categories: Sequence[str]) -> None:
    """Write the workbook; see the module docstring. Replaces `path` in one step."""
    from openpyxl import Workbook

    book = Workbook()
    documents = book.active
    assert documents is not None  # a new Workbook always has one sheet
    documents.title = "Documents"
    _documents_sheet(documents, results, categories)
    tasks: dict[str, list[tuple[DocResult, TaskItem]]] = {}
    for result in results:
        for task, items in task_items(result).items():
            tasks.setdefault(task, []).extend((result, item) for item in items)
    if "clauses" not in tasks and any(r.absent for r in results):
        tasks["clauses"] = []  # the clause task ran and found nothing: an empty sheet says so
    for task in sorted(tasks, key=lambda t: (t != "summary", t)):
        sheet = book.create_sheet(_sheet_title(task))
        if task == "clauses":
            _rows(sheet, CLAUSE_COLUMNS, [clause_row(r, Clause(category=i.group, citation=i.citation,
                                                               conflict=i.conflict)) for r, i in tasks[task]])
        else:
            _rows(sheet, ITEM_COLUMNS, [_item_row(r, i) for r, i in tasks[task]])
    tmp = path.with_name(f".{path.name}.tmp")
    book.save(tmp)
    tmp.replace(path)


def _documents_sheet(sheet: Worksheet, results: Sequence[DocResult], categories: Sequence[str]) -> None:
    header = list(DOC_COLUMNS) + [f"{name}{suffix}" for name in categories for suffix in ("", " · page", " · status")]
    rows = []
    for result in results:
        row: list[object] = [Path(result.source.path).name if result.source else "", result.doc_id,
                             result.status, engine_label(result.engine)]
        for name in categories:
            row.extend(_category_cells(result, name))
        rows.append(row)
    _rows(sheet, header, rows)


def _category_cells(result: DocResult, name: str) -> list[object]:
    mine = [c for c in result.clauses if c.category == name]
    if not mine:
        return ["", "", "absent" if name in result.absent else "not checked"]
    quotes = "\n\n".join(c.citation.quote for c in mine)
    pages = ", ".join(c.citation.page_label or "?" for c in mine)
    status = "conflict" if any(c.conflict for c in mine) else "found"
    unverified = sum(c.citation.status == "unverified" for c in mine)
    return [quotes, pages, status + (f", {unverified} unverified" if unverified else "")]


def _item_row(result: DocResult, item: TaskItem) -> list[object]:
    c = item.citation
    return [result.doc_id, result.source.path if result.source else "", item.group, item.text, c.quote,
            c.page_number, c.page_label, c.status, c.match]


def _rows(sheet: Worksheet, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    for r, values in enumerate([list(header), *rows], start=1):
        for col, value in enumerate(values, start=1):
            _put(sheet, r, col, value)
    sheet.freeze_panes = "A2"


def _put(sheet: Worksheet, row: int, col: int, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, (int, float)):
        value = _text(str(value))
    cell = sheet.cell(row=row, column=col)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would store a text starting with "=" as a formula
        if needs_neutralising(value):
            cell.quotePrefix = True


def _text(text: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # control characters XML 1.0 cannot hold: shown as the Unicode control pictures (␀ …), not dropped
    text = redact(text)  # the last-line check on secrets, as `write_atomic` does for text files
    text = ILLEGAL_CHARACTERS_RE.sub(lambda m: chr(0x2400 + ord(m.group())) if ord(m.group()) < 32 else "\ufffd", text)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - len(CUT_NOTE)] + CUT_NOTE


def _sheet_title(task: str) -> str:
    """A task name as a sheet title: capitalised, without the characters sheet names refuse, ≤ 31 characters."""
    clean = "".join(" " if ch in "[]:*?/\\" else ch for ch in task.replace("_", " ")).strip() or "Task"
    return clean[:1].upper() + clean[1:31]
