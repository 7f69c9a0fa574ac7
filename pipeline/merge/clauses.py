"""Merge the clauses found by the windows (or the one whole prompt) of a document, deterministically.

Contract: `merge_clauses(per_window)` returns one Clause per distinct clause instance, in the order first
seen (window order, then reply order):
- duplicates collapse: same category and the same text — their located quotes overlap (same page,
  intersecting character ranges), or, when either quote was not located, one normalised quote contains
  the other or their words mostly coincide. The kept item has the best citation (verified, relocated,
  unverified), then the longer quote;
- different instances of a category stay (two Assignment clauses on different pages are two items);
- conflicts are flagged: in a single-valued category (governing law, the contract's dates, renewal terms)
  instances whose values differ — different jurisdictions, dates or durations, none shared — all get
  `conflict=True`.
Citations are never changed, only chosen between.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pipeline.cite.locate import normalize
from pipeline.models import Citation, Clause

_RANK = {"verified": 0, "relocated": 1, "unverified": 2}
_JURISDICTION = re.compile(
    r"(?i:laws?\s+of\s+(?:the\s+)?(?:(?:state|commonwealth|province|republic|kingdom)\s+of\s+)?)"
    r"((?:[A-Z][\w.'-]*)(?:\s+(?:of\s+)?[A-Z][\w.'-]*)*)"
)
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_MONTH = "|".join(_MONTHS)
_DATE = re.compile(
    rf"\b(?:(?P<m1>{_MONTH})\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>\d{{4}})"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?(?P<m2>{_MONTH}),?\s+(?P<y2>\d{{4}})"
    rf"|(?P<m3>\d{{1,2}})/(?P<d3>\d{{1,2}})/(?P<y3>\d{{4}})|(?P<y4>\d{{4}})-(?P<m4>\d{{2}})-(?P<d4>\d{{2}}))\b",
    re.IGNORECASE,
)
_NUMBERS = {word: str(n) for n, word in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])} | {
    "thirty": "30", "sixty": "60", "ninety": "90"}
_DURATION = re.compile(
    rf"\b(\d+|{'|'.join(_NUMBERS)})(?:\s*\(\d+\))?[\s-]*(day|week|month|year)s?\b", re.IGNORECASE
)


def _jurisdictions(quote: str) -> set[str]:
    return {" ".join(m.group(1).lower().split()).strip(".'-") for m in _JURISDICTION.finditer(quote)}


def _dates(quote: str) -> set[str]:
    """Dates as yyyy-mm-dd, whichever way they are written (US order for d/d/yyyy)."""
    found = set()
    for m in _DATE.finditer(quote):
        k = next(i for i in "1234" if m.group(f"y{i}"))
        month = m.group(f"m{k}")
        month_number = _MONTHS.index(month.lower()) + 1 if month.isalpha() else int(month)
        found.add(f"{m.group(f'y{k}')}-{month_number:02d}-{int(m.group(f'd{k}')):02d}")
    return found


def _durations(quote: str) -> set[str]:
    return {f"{_NUMBERS.get(m.group(1).lower(), m.group(1))} {m.group(2).lower()}" for m in _DURATION.finditer(quote)}


# Categories a document should state once, with how to read the stated value from a quote.
SINGLE_VALUED: dict[str, Callable[[str], set[str]]] = {
    "governing law": _jurisdictions,
    "agreement date": _dates,
    "effective date": _dates,
    "expiration date": _dates,
    "renewal term": _durations,
    "notice period to terminate renewal": _durations,
}


def merge_clauses(per_window: Sequence[Sequence[Clause]]) -> list[Clause]:
    """One item per distinct clause instance, conflicts flagged; see the module docstring."""
    merged: list[Clause] = []
    for clauses in per_window:
        for clause in clauses:
            same = next((i for i, kept in enumerate(merged) if same_instance(kept, clause)), None)
            if same is None:
                merged.append(clause)
            elif _better(clause.citation, merged[same].citation):
                merged[same] = clause
    return flag_conflicts(merged)


def same_instance(a: Clause, b: Clause) -> bool:
    """Whether two clauses are one instance found twice (overlapping windows, or a repeated reply item)."""
    return a.category == b.category and same_quote(a.citation, b.citation)


def same_quote(ca: Citation | None, cb: Citation | None) -> bool:
    """Whether two citations are one quote found twice: located ranges that overlap on one page, or, when
    either was not located, one normalised quote containing the other."""
    if ca is None or cb is None:
        return False
    if _located(ca) and _located(cb):
        return ca.page_number == cb.page_number and ca.char_start < cb.char_end and cb.char_start < ca.char_end  # type: ignore[operator]
    na, nb = normalize(ca.quote)[0], normalize(cb.quote)[0]
    if na and nb and (na in nb or nb in na):
        return True
    # A claim found nowhere in the source is merged only with one that contains it: merging on word
    # overlap would fold "…the laws of Mars" into a verified "…the laws of Delaware" and hide it.
    return False


def flag_conflicts(clauses: Sequence[Clause]) -> list[Clause]:
    """`conflict=True` on the instances of a single-valued category that state different values."""
    values = {i: SINGLE_VALUED[c.category.lower()](c.citation.quote)
              for i, c in enumerate(clauses) if c.category.lower() in SINGLE_VALUED}
    conflicting: set[int] = set()
    for i, a in values.items():
        for j, b in values.items():
            if i < j and clauses[i].category == clauses[j].category and a and b and not a & b:
                conflicting |= {i, j}
    return [c.model_copy(update={"conflict": True}) if i in conflicting else c for i, c in enumerate(clauses)]


def _located(citation: Citation) -> bool:
    return citation.status != "unverified" and citation.char_start is not None and citation.char_end is not None


def _better(new: Citation, old: Citation) -> bool:
    return (_RANK[new.status], -len(new.quote)) < (_RANK[old.status], -len(old.quote))
