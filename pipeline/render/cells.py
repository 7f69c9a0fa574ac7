"""Spreadsheet cells from document text: what a spreadsheet would run is made inert (OWASP "CSV injection").

Contract: `neutralise(text)` returns `text` unchanged unless it starts with a character that makes a
spreadsheet read the cell as a formula or a command (`= + - @`, tab, carriage return; also their full-width
forms, which LibreOffice accepts as `=`/`+`/`-`/`@`); then it returns the text with a leading apostrophe — the
OWASP recommendation: Excel and LibreOffice show the rest as text and never evaluate it. Only exports meant for
spreadsheets use it; `result.json` and `results.jsonl` keep the exact text.
"""

from __future__ import annotations

# OWASP "CSV Injection": = + - @ tab (0x09) and carriage return (0x0D). The full-width forms are read as
# their ASCII twins by LibreOffice's input autocorrection, so they are treated the same way.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def needs_neutralising(text: str) -> bool:
    """Whether a spreadsheet could read `text` as a formula."""
    return bool(text) and text[0] in FORMULA_STARTS


def neutralise(text: str) -> str:
    """`text`, prefixed with an apostrophe when a spreadsheet could read it as a formula."""
    return "'" + text if needs_neutralising(text) else text
