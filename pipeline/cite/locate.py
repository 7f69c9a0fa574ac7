"""Citations are computed, not trusted: find a model's quote in the source pages.

Contract: `PageIndex(pages).locate(quote, claimed_page)` searches the claimed page first, then every
page, with three matchers in turn — exact, normalised (case, whitespace, quote and dash styles, line-break
hyphens, zero-width characters, rules drawn with four or more of one character read as a space), fuzzy (rapidfuzz partial alignment ≥ FUZZY_MIN on normalised text,
refused when the quote, aligned word by word with the matched span, inserts, drops or swaps a negation, a
number, a date or a name: see `cite.compare`) — and returns a Citation
whose page is where the quote was found: `verified` on the claimed page, `relocated` on another page,
`unverified` when found nowhere (the claim is kept, flagged, never dropped).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy
from rapidfuzz import fuzz

from pipeline.cite.compare import compare, words
from pipeline.models import Citation, MatchKind, Page

FUZZY_MIN = 90.0  # partial-alignment score (0–100) above which a quote counts as found
FUZZY_MIN_CHARS = 20  # shorter quotes must match exactly or normalised: fuzzy would match noise
FUZZY_PAGE_LIMIT = 400  # beyond this many pages, fuzzy search looks near the claimed page only
GRAM = 3  # the q-gram length of the fuzzy matcher's pre-check (`PageIndex._reachable`)
GRAM_BUCKETS = 1 << 15  # q-grams hashed into this many buckets per page (a page has a few thousand q-grams)

_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})
_DROP = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")
_LINE_BREAK_HYPHEN = re.compile(r"-[ \t]*\r?\n\s*")
# A rule drawn with characters (a signature line "-------", "______", dot leaders "......."): layout, not words.
# An OCR engine reads a rule as a line, not as text, so a quote taken from a text layer that has one would
# miss the scan of the same page by dozens of characters (bench/ocr_corpus.py: signature blocks). Read as a
# space on both sides. Four or more of one character: "..." and "--" stay what they are.
_RULE = re.compile(r"([-_.=*~\u2014\u2013\u2026\u00b7])\1{3,}")
# Runs that normalise by `str.lower` alone, character for character: ASCII letters, digits, punctuation, single
# spaces between them — but not a character that starts a rule or a line-break hyphen, nor "`" (read as "'").
# Most of a page is such runs; they skip the per-character loop below (same output: tests/test_cite_precheck.py).
_PLAIN_CHAR = (r"(?:[A-Za-z0-9!-),+/:-<>-@\[-^{-}]|\.(?!\.{3})|_(?!_{3})|=(?!={3})|\*(?!\*{3})|~(?!~{3})"
               r"|-(?!---)(?![ \t]*\r?\n))")
_PLAIN = re.compile(rf"{_PLAIN_CHAR}+(?: {_PLAIN_CHAR}+)*")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> tuple[str, list[int]]:
    """Normalised text and, for each of its characters, the offset of the source character."""
    out: list[str] = []  # pieces: single characters, or a plain run
    offsets: list[int] = []
    space = True  # drop leading whitespace
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _DROP:
            i += 1
            continue
        if (m := _RULE.match(text, i)) is not None:
            if not space:
                out.append(" ")
                offsets.append(i)
            space, i = True, m.end()
            continue
        if ch == "-" and (m := _LINE_BREAK_HYPHEN.match(text, i)):
            out.append("-")  # "long-\nterm" reads as "long-term"
            offsets.append(i)
            space, i = False, m.end()
            continue
        if (m := _PLAIN.match(text, i)) is not None:
            out.append(m.group().lower())
            offsets.extend(range(i, m.end()))
            space, i = False, m.end()
            continue
        if ch.isspace():
            if not space:
                out.append(" ")
                offsets.append(i)
            space, i = True, _SPACES.match(text, i).end()  # type: ignore[union-attr]
            continue
        for c in unicodedata.normalize("NFKC", ch.translate(_TRANSLATE)).lower():
            out.append(c)
            offsets.append(i)
        space, i = False, i + 1
    if out and out[-1] == " ":
        out.pop()
        offsets.pop()
    return "".join(out), offsets


def _gram_buckets(text: str) -> Any:
    """The bucket of each of `text`'s q-grams, in order (str hashes: the same within one process)."""
    return numpy.fromiter((hash(text[j:j + GRAM]) & (GRAM_BUCKETS - 1) for j in range(len(text) - GRAM + 1)),
                          dtype=numpy.int64, count=max(0, len(text) - GRAM + 1))


class PageIndex:
    """The pages of one document, with normalised text built lazily, for locating many quotes."""

    def __init__(self, pages: Sequence[Page]) -> None:
        self.pages = tuple(pages)
        self._norm: dict[int, tuple[str, list[int]]] = {}
        self._buckets: Any = None  # pages × GRAM_BUCKETS booleans: which q-gram buckets each page has
        self._lengths: Any = None  # each page's normalised length, built with `_buckets`

    def _normalized(self, index: int) -> tuple[str, list[int]]:
        if index not in self._norm:
            self._norm[index] = normalize(self.pages[index].text)
        return self._norm[index]

    def _search_order(self, claimed: int | None) -> list[int]:
        order = list(range(len(self.pages)))
        if claimed is not None and 1 <= claimed <= len(self.pages):
            order.remove(claimed - 1)
            order.insert(0, claimed - 1)
        return order

    def locate(self, quote: str, claimed_page: int | None) -> Citation:
        """Find `quote`; see the module docstring for the order and the statuses."""
        order = self._search_order(claimed_page)
        claimed = claimed_page - 1 if claimed_page is not None and 1 <= claimed_page <= len(self.pages) else None
        if quote.strip():
            hit = (self._exact(quote, order) or self._normalized_match(quote, order)
                   or self._fuzzy(quote, order, claimed))
            if hit is not None:
                return self._citation(quote, claimed_page, *hit)
        return self._unverified(quote, claimed_page)

    def _exact(self, quote: str, order: list[int]) -> tuple[int, int, int, MatchKind, float] | None:
        for i in order:
            at = self.pages[i].text.find(quote)
            if at >= 0:
                return i, at, at + len(quote), "exact", 100.0
        return None

    def _normalized_match(self, quote: str, order: list[int]) -> tuple[int, int, int, MatchKind, float] | None:
        needle, _ = normalize(quote)
        if not needle:
            return None
        for i in order:
            text, offsets = self._normalized(i)
            at = text.find(needle)
            if at >= 0:
                return i, offsets[at], offsets[at + len(needle) - 1] + 1, "normalized", 100.0
        # A quote that runs over a page break starts on the earlier page.
        for i in order:
            if i + 1 < len(self.pages):
                head, tail = self._normalized(i)[0], self._normalized(i + 1)[0]
                for joiner in (" ", ""):  # a page break between words, or inside one
                    at = (head + joiner + tail).find(needle)
                    if 0 <= at < len(head):
                        offsets = self._normalized(i)[1]
                        return i, offsets[at], len(self.pages[i].text), "normalized", 100.0
        return None

    def _fuzzy(
        self, quote: str, order: list[int], claimed: int | None
    ) -> tuple[int, int, int, MatchKind, float] | None:
        needle, _ = normalize(quote)
        if len(needle) < FUZZY_MIN_CHARS:
            return None
        if len(self.pages) > FUZZY_PAGE_LIMIT:
            order = [i for i in order if abs(i - order[0]) <= 2]
        reachable = self._reachable(needle)
        best: tuple[int, int, int, MatchKind, float] | None = None
        for i in order:
            text, offsets = self._normalized(i)
            if len(text) < len(needle) * 0.8 or not reachable[i]:
                continue
            found = fuzz.partial_ratio_alignment(needle, text, score_cutoff=FUZZY_MIN)
            if found is None or found.dest_end <= found.dest_start:
                continue
            changes, (start, end) = self._compare(quote, i, found.dest_start, found.dest_end, len(needle))
            if changes:
                continue
            if best is None or found.score > best[4]:
                best = (i, offsets[start], offsets[end - 1] + 1, "fuzzy", round(found.score, 1))
                if found.score >= 99.5 or i == claimed:
                    break  # the claimed page wins over a look-alike sentence elsewhere (boilerplate repeats)
        return best

    def _reachable(self, needle: str) -> Any:
        """For each page, False only when it cannot hold a span that `needle` matches at FUZZY_MIN: the pages
        where a quote the model made up (or a reply of noise) would cost an alignment each are refused for a
        few array lookups, all pages at once.

        Why it is exact: partial_ratio ≥ c means an insert/delete distance d ≤ (1 − c)(m + w) ≤ 2(1 − c)m
        between the needle (m characters) and some span of the page (w ≤ m characters), and each insertion or
        deletion spoils at most GRAM of the needle's m − GRAM + 1 q-grams (the q-gram lemma), so at least
        m − GRAM + 1 − GRAM·d of them occur in that span, hence on the page. Counting hashed buckets instead of
        q-grams can only count more, never fewer. A page shorter than the needle is aligned inside it instead,
        and is never refused."""
        m = len(needle)
        if len(self.pages) > FUZZY_PAGE_LIMIT:  # fuzzy looks near the claimed page only: nothing to spare
            return numpy.ones(len(self.pages), dtype=bool)
        if self._buckets is None:
            texts = [self._normalized(i)[0] for i in range(len(self.pages))]
            self._lengths = numpy.array([len(text) for text in texts])
            self._buckets = numpy.zeros((len(texts), GRAM_BUCKETS), dtype=bool)
            for i, text in enumerate(texts):
                self._buckets[i, _gram_buckets(text)] = True
        counts = self._buckets[:, _gram_buckets(needle)].sum(axis=1)
        return (self._lengths < m) | (counts >= m - GRAM + 1 - GRAM * 2 * (1 - FUZZY_MIN / 100) * m - 1e-9)

    def _compare(self, quote: str, index: int, start: int, end: int, length: int) -> tuple[list[str], tuple[int, int]]:
        """What the quote changes against the aligned span of page `index` (see `cite.compare`), and the
        (normalised) span of the page words it aligned with. rapidfuzz's alignment is as long as the quote;
        slack around it lets a quote that dropped a word reach its end."""
        text, offsets = self._normalized(index)
        slack = max(20, length // 5)
        needle, needle_offsets = normalize(quote)
        ours = words(needle, quote, needle_offsets)
        theirs = words(text, self.pages[index].text, offsets, max(0, start - slack), min(len(text), end + slack))
        changes, aligned = compare(ours, theirs)
        if aligned is None:
            return changes, (start, end)
        return changes, (theirs[aligned[0]].start, theirs[aligned[1]].end)

    def _citation(
        self, quote: str, claimed: int | None, index: int, start: int, end: int, match: MatchKind, score: float
    ) -> Citation:
        page = self.pages[index]
        status = "verified" if claimed == page.page_number else "relocated"
        return Citation(quote=quote, page_number=page.page_number, page_label=page.page_label,
                        claimed_page_number=claimed, status=status, match=match, score=score,
                        char_start=start, char_end=end)

    def _unverified(self, quote: str, claimed: int | None) -> Citation:
        valid = claimed is not None and 1 <= claimed <= len(self.pages)
        label = self.pages[claimed - 1].page_label if valid and claimed is not None else None
        return Citation(quote=quote, page_number=claimed if valid else None, page_label=label,
                        claimed_page_number=claimed, status="unverified", match="none", score=0.0)
