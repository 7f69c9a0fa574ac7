"""Lines of a document that are not its content, for the model-free engine: repeated page headers and
footers, and table-of-contents lines. Recognised per document; never quoted as a summary point or clause.

Contract: `content_spans(pages)` returns, per page number, the (start, end) character ranges of the page's
text that remain once boilerplate lines are cut out, in order; the text between them is boilerplate.
A line is boilerplate when
- its normalised form (case-folded, whitespace collapsed, digits as `#`, so `Page 3 of 9` matches `Page 4
  of 9`) occurs on at least REPEAT_SHARE of the document's pages with text and on at least REPEAT_MIN_PAGES
  of them — a running header, a footer, a page number, a confidential-treatment legend; or
- it is a table-of-contents line: a title followed by dot leaders (`. . . .`, `....`, `……`, `____`) and a page
  number; or, on a page with at least TOC_MIN_LINES such lines, a short line that starts like a heading
  (`Article 3`, `Section 5.2`, `12.`) and ends in a bare page number.
Thresholds were chosen on the tuning half of the CUAD dev contracts only (`pipeline.eval.split`,
docs/evaluation.md).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from pipeline.models import Page

REPEAT_SHARE = 0.3
REPEAT_MIN_PAGES = 3
TOC_MIN_LINES = 3
_DIGITS = re.compile(r"\d+")
_LEADERS = re.compile(r"(?:(?:\.\s?){4,}|…{2,}|_{4,}|(?:-\s?){4,})\s*(?:page\s*)?[0-9ivxlc]{1,5}\s*$", re.IGNORECASE)
_HEADING_TO_PAGE = re.compile(
    r"^\s*(?:article|section|schedule|exhibit|annex|appendix|part|\d{1,3}(?:\.\d{1,3})*\.?)\b[^.;]{0,100}?"
    r"\s\d{1,3}\s*$", re.IGNORECASE)
_TOC_TITLE = re.compile(r"^\s*(?:table\s+of\s+contents|contents|index)\s*$", re.IGNORECASE)


def content_spans(pages: Sequence[Page]) -> dict[int, list[tuple[int, int]]]:
    """Per page number, the ranges of its text outside boilerplate lines; see the module docstring."""
    lines = {page.page_number: _lines(page.text) for page in pages if page.status == "ok"}
    repeated = _repeated({n: {key for _, _, key in page_lines if key} for n, page_lines in lines.items()})
    out: dict[int, list[tuple[int, int]]] = {}
    for page in pages:
        if page.page_number not in lines:
            continue
        page_lines = lines[page.page_number]
        toc_like = sum(1 for start, end, _ in page_lines if _HEADING_TO_PAGE.match(page.text[start:end]))
        spans: list[tuple[int, int]] = []
        start = 0
        for line_start, line_end, key in page_lines:
            line = page.text[line_start:line_end]
            if key in repeated or _is_toc(line, toc_like):
                if line_start > start:
                    spans.append((start, line_start))
                start = line_end
        if start < len(page.text):
            spans.append((start, len(page.text)))
        out[page.page_number] = spans
    return out


def _lines(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normalised key) of each line; the key is empty for a blank line."""
    out = []
    start = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        out.append((start, start + len(body), _DIGITS.sub("#", " ".join(body.casefold().split()))))
        start += len(line)
    return out


def _repeated(keys_by_page: dict[int, set[str]]) -> set[str]:
    with_text = sum(1 for keys in keys_by_page.values() if keys)
    need = max(REPEAT_MIN_PAGES, math.ceil(REPEAT_SHARE * with_text))
    if with_text < REPEAT_MIN_PAGES:
        return set()
    counts = Counter(key for keys in keys_by_page.values() for key in keys)
    return {key for key, count in counts.items() if count >= need}


def _is_toc(line: str, toc_like_on_page: int) -> bool:
    if _LEADERS.search(line) or _TOC_TITLE.match(line):
        return True
    return toc_like_on_page >= TOC_MIN_LINES and bool(_HEADING_TO_PAGE.match(line))
