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
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise ConfigError(f"checklist {origin}: no rows (expected a header 'name,description')")
    fields = {f.strip().lower(): f for f in rows[0]}
    name_col = next((fields[c] for c in NAME_COLUMNS if c in fields), None)
    if name_col is None:
        raise ConfigError(f"checklist {origin}: needs a 'name' column, found {list(rows[0])}")
    desc_col = fields.get("description")
    items: list[ChecklistItem] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        name = (row.get(name_col) or "").strip()
        if not name:
            raise ConfigError(f"checklist {origin}, line {line}: empty name")
        if name.lower() in seen:
            raise ConfigError(f"checklist {origin}, line {line}: duplicate name {name!r}")
        seen.add(name.lower())
        items.append(ChecklistItem(name=name, description=(row.get(desc_col) or "").strip() if desc_col else ""))
    return tuple(items)
