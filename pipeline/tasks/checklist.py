"""The clause checklist: CUAD's 41 categories by default, or a user's CSV (`name,description` per row).

Contract: `load_checklist(path)` returns the items in file order, names unique and non-empty; a bad file
raises `ConfigError` saying what is wrong and where.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.models import ChecklistItem

NAME_COLUMNS = ("name", "category")


def load_checklist(path: Path | None = None) -> tuple[ChecklistItem, ...]:
    """Read a checklist CSV; None means the bundled CUAD categories."""
    if path is None:
        text = (resources.files("pipeline") / "data" / "cuad_categories.csv").read_text("utf-8")
        return parse_checklist(text, "CUAD categories")
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"checklist {path}: cannot read: {exc}") from exc
    return parse_checklist(text, str(path))


def parse_checklist(text: str, origin: str) -> tuple[ChecklistItem, ...]:
    """Items of a checklist CSV's text; `origin` names it in errors. Malformed CSV (an unclosed or stray
    quote, a row with more cells than the header) is refused with its line number, never read past: a
    quote left open would otherwise swallow the rest of the file and drop categories silently."""
    header, rows = _rows(text, origin)
    fields = {f.strip().lower(): i for i, f in enumerate(header)}
    name_col = next((fields[c] for c in NAME_COLUMNS if c in fields), None)
    if name_col is None:
        raise ConfigError(f"checklist {origin}: needs a 'name' column, found {header}")
    desc_col = fields.get("description")
    items: list[ChecklistItem] = []
    seen: set[str] = set()
    for line, row in rows:
        name = row[name_col].strip() if name_col < len(row) else ""
        if not name:
            raise ConfigError(f"checklist {origin}, line {line}: empty name")
        if "\n" in name or "\r" in name:
            raise ConfigError(f"checklist {origin}, line {line}: a name holds a line break (a quote left open?)")
        if name.lower() in seen:
            raise ConfigError(f"checklist {origin}, line {line}: duplicate name {name!r}")
        seen.add(name.lower())
        description = row[desc_col].strip() if desc_col is not None and desc_col < len(row) else ""
        items.append(ChecklistItem(name=name, description=description))
    return tuple(items)


def _rows(text: str, origin: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the (starting line, cells) of each non-blank row, strictly parsed."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ConfigError(f"checklist {origin}, line {start}: malformed CSV ({exc}; a quote left open or "
                          "a stray quote inside an unquoted cell?)") from exc
    if len(rows) < 2:
        raise ConfigError(f"checklist {origin}: no rows (expected a header 'name,description')")
    (_, header), body = rows[0], rows[1:]
    for line, row in body:
        if len(row) > len(header):
            raise ConfigError(f"checklist {origin}, line {line}: {len(row)} cells, the header has {len(header)} "
                              "(quote a cell that holds a comma)")
    return header, body
