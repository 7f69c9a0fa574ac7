"""Claims are checked too: the numbers and dates a claim states must appear in its quote or on its cited page.

Contract: `check_claim(claim, quote, page_text)` reads the numbers (digits, written numbers, percentages,
money, with "million"/"thousand" scales) and dates ("January 1, 2020", "1 Jan 2020", "1st day of January,
2020", "01/31/2020", "2020-01-31", "January 2020") of `claim` — a summary point's text, or the values of a
typed field (str, int, float, Decimal, date, datetime, or lists/dicts of them) — and returns a `ClaimCheck`:
`supported` when every one is stated by the quote or the page (in any of the forms above: "30 days" is
supported by "thirty (30) days", "$5 million" by "$5,000,000", "1 January 2020" by "January 1, 2020"),
else `unsupported` with the missing ones as the claim writes them. A claim with no numbers is `supported`
with `checked=0`. The item is kept either way: the check flags, it never drops.
`check_points(points, pages)` applies it to summary points, `claim_counts(result)` counts for run_report.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from pipeline.cite.compare import WRITTEN_NUMBERS
from pipeline.models import ClaimCheck, DocResult, Page, SummaryPoint

_MONTHS = {name: i for i, names in enumerate(
    ["january jan", "february feb", "march mar", "april apr", "may", "june jun", "july jul", "august aug",
     "september sep sept", "october oct", "november nov", "december dec"], start=1) for name in names.split()}
_MONTH = r"(?P<{}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<{}>(?:19|20)\d\d)"
DATE = re.compile(
    r"\b(?:" + _MONTH.format("m1") + r"\s+(?P<d1>\d{1,2})(?:st|nd|rd|th)?,?\s+" + _YEAR.format("y1")
    + r"|(?P<d2>\d{1,2})(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?" + _MONTH.format("m2") + r",?\s+" + _YEAR.format("y2")
    + r"|(?P<m3>\d{1,2})/(?P<d3>\d{1,2})/(?P<y3>(?:19|20)?\d\d)"
    + r"|" + _YEAR.format("y4") + r"-(?P<m4>\d\d)-(?P<d4>\d\d)"
    + r"|" + _MONTH.format("m5") + r",?\s+" + _YEAR.format("y5") + r")\b",
    re.IGNORECASE)
NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\w)|(?<![\w.,])\d+(?:\.\d+)?(?![\w])")
_SCALE = re.compile(r"\s*(?P<scale>thousand|million|billion|trillion|[mb]n?\b|k\b)", re.IGNORECASE)
_SCALES = {"thousand": 10**3, "k": 10**3, "million": 10**6, "m": 10**6, "mn": 10**6, "billion": 10**9,
           "b": 10**9, "bn": 10**9, "trillion": 10**12}
_WRITTEN = re.compile(r"\b(?:(?P<tens>twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-(?P<unit>one|two|three|"
                      r"four|five|six|seven|eight|nine)|(?P<word>" + "|".join(
                          w for w, v in WRITTEN_NUMBERS.items() if isinstance(v, int) and 1 < v < 100) + r"))\b",
                      re.IGNORECASE)

DateKey = tuple[int, int, int | None]


def check_claim(claim: object, quote: str, page_text: str) -> ClaimCheck:
    """Check the numbers and dates of `claim` against `quote` and `page_text`; see the module docstring."""
    items = list(_claim_items(claim))
    if not items:
        return ClaimCheck(status="supported")
    numbers, dates = _stated(quote + "\n" + page_text)
    missing = [label for label, nums, date in items
               if not (nums & numbers or (date is not None and _date_found(date, dates)))]
    return ClaimCheck(status="unsupported" if missing else "supported", numbers=tuple(dict.fromkeys(missing)),
                      checked=len(items))


def check_points(points: Sequence[SummaryPoint], pages: Sequence[Page]) -> tuple[SummaryPoint, ...]:
    """The points with their `claim_check` set: against the quote (when it was located) and the cited page."""
    texts = {p.page_number: p.text for p in pages}
    out = []
    for point in points:
        c = point.citation
        quote = c.quote if c.status != "unverified" else ""
        page = texts.get(c.page_number, "") if c.page_number is not None else ""
        out.append(point.model_copy(update={"claim_check": check_claim(point.text, quote, page)}))
    return tuple(out)


def claim_counts(result: DocResult) -> dict[str, int]:
    """`checked` (points whose claim was checked) and `unsupported`, for run_report."""
    checks = [p.claim_check for p in result.summary if p.claim_check is not None]
    return {"checked": len(checks), "unsupported": sum(c.status == "unsupported" for c in checks)}


def _claim_items(claim: object) -> Iterable[tuple[str, set[str], DateKey | None]]:
    """(label, number keys any of which supports it, date) for every number and date the claim states."""
    if claim is None or isinstance(claim, bool):
        return
    if isinstance(claim, str):
        yield from _text_items(claim)
    elif isinstance(claim, dt.date):  # datetime too
        yield claim.isoformat()[:10], set(), (claim.year, claim.month, claim.day)
    elif isinstance(claim, (int, float, Decimal)):
        key = _number_key(str(claim))
        if key is not None:
            yield str(claim), {key}, None
    elif isinstance(claim, Mapping):
        for value in claim.values():
            yield from _claim_items(value)
    elif isinstance(claim, Iterable):
        for value in claim:
            yield from _claim_items(value)


def _text_items(text: str) -> Iterable[tuple[str, set[str], DateKey | None]]:
    """The numbers and dates of a text in reading order; a number inside a date is the date's."""
    found: list[tuple[int, str, set[str], DateKey | None]] = []
    taken: list[tuple[int, int]] = []
    for m in DATE.finditer(text):
        date = _date_key(m)
        if date is not None:
            taken.append(m.span())
            found.append((m.start(), m.group(), set(), date))
    for label, keys, span in _numbers(text):
        if not any(a <= span[0] < b for a, b in taken):
            found.append((span[0], label, keys, None))
    for _, label, keys, date in sorted(found, key=lambda item: item[0]):
        yield label, keys, date


def _stated(text: str) -> tuple[set[str], list[DateKey]]:
    """Every number key and date the source text states."""
    numbers = {key for _, keys, _ in _numbers(text) for key in keys}
    numbers.add("1")  # "one" is too common a word to read as a number; a claim's "1" is never refuted by it
    dates = [d for m in DATE.finditer(text) if (d := _date_key(m)) is not None]
    return numbers, dates


def _numbers(text: str) -> Iterable[tuple[str, set[str], tuple[int, int]]]:
    """(label as written, keys, span): digits with an optional scale word, and written numbers 2–99."""
    for m in NUMBER.finditer(text):
        key = _number_key(m.group())
        if key is None:
            continue
        keys, end = {key}, m.end()
        if scale := _SCALE.match(text, m.end()):
            keys.add(_number_key(str(Decimal(key) * _SCALES[scale.group("scale").lower()])) or key)
            end = scale.end()
        start = m.start() - 1 if m.start() > 0 and text[m.start() - 1] in "$€£" else m.start()
        end += 1 if text[end:end + 1] == "%" else 0
        yield text[start:end], keys, (m.start(), end)
    for m in _WRITTEN.finditer(text):
        if m.group("word"):
            value = int(WRITTEN_NUMBERS[m.group("word").lower()])
        else:
            value = int(WRITTEN_NUMBERS[m.group("tens").lower()]) + int(WRITTEN_NUMBERS[m.group("unit").lower()])
        yield m.group(), {str(value)}, m.span()


def _number_key(text: str) -> str | None:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    return format(value.normalize(), "f")


def _date_key(m: re.Match[str]) -> DateKey | None:
    groups = {k: v for k, v in m.groupdict().items() if v}
    month_text = next(v for k, v in groups.items() if k.startswith("m"))
    month = int(month_text) if month_text.isdigit() else _MONTHS[month_text.lower().rstrip(".")]
    year = int(next(v for k, v in groups.items() if k.startswith("y")))
    year += 0 if year >= 100 else 2000 if year < 50 else 1900
    day_text = next((v for k, v in groups.items() if k.startswith("d")), None)
    day = int(day_text) if day_text else None
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return year, month, day


def _date_found(date: DateKey, dates: Sequence[DateKey]) -> bool:
    """A full date must be stated as such; "January 2020" is supported by any date of that month."""
    return any(d[:2] == date[:2] and (date[2] is None or d[2] == date[2]) for d in dates)
