"""Sentence spans in page text, for the model-free engine (quotes must be verbatim slices).

Contract: `sentence_spans(text)` returns (start, end) offsets into `text`, in order, non-overlapping,
each stripped of surrounding whitespace and at most MAX_CHARS long; `sentence_starts(text)` the offsets
where a new sentence begins (no length cap).
"""

from __future__ import annotations

import re

MAX_CHARS = 600
# A boundary: sentence-final punctuation then whitespace then something that can start a sentence, or a
# blank line. Abbreviations like "Inc." before a capital do split; that costs little for ranking.
_BOUNDARY = re.compile(r"(?<=[.!?;:])\s+(?=[A-Z0-9\"“(\[])|\n[ \t]*\n")
_SOFT_BOUNDARY = re.compile(r"[;,]\s+|\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        spans.extend(_capped(text, start, m.start()))
        start = m.end()
    spans.extend(_capped(text, start, len(text)))
    return spans


def sentence_starts(text: str) -> list[int]:
    """Offsets where a sentence begins after another (the boundaries `sentence_spans` cuts at, no caps)."""
    return [m.end() for m in _BOUNDARY.finditer(text)]


def _capped(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Strip a span; split an over-long one at soft boundaries (then hard) so none exceeds MAX_CHARS."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end <= start:
        return []
    if end - start <= MAX_CHARS:
        return [(start, end)]
    cut = None
    for m in _SOFT_BOUNDARY.finditer(text, start + MAX_CHARS // 3, start + MAX_CHARS):
        cut = m
    if cut is None:
        return [(start, start + MAX_CHARS), *_capped(text, start + MAX_CHARS, end)]
    return [*_capped(text, start, cut.start() + 1), *_capped(text, cut.end(), end)]
