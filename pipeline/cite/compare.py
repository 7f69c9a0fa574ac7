"""What a quote changes against the page span it fuzzily matched, compared as aligned word sequences.

Contract: `changed_facts(quote_words, span_words)` aligns the two word sequences (an edit-distance alignment
in which the span's words before and after the quote cost nothing) and returns, for every run of words that
differ, the facts it changes — empty when the quote differs only by slips a model or an OCR engine makes.

A fact is changed when a differing run inserts, drops or swaps
- a negation (`not`, `no`, `never`, `neither`, `nor`, `without`, `unless`, `except`, …, `n't`), or turns a
  word into its `non-`/`un-` form or back;
- a number (digits, written numbers, ordinals), a money or percent sign, a month, a unit of time;
- a capitalised name that has no look-alike (≥ NEAR_SPELLING) on the other side of the run.
Everything else is a slip and is forgiven: a dropped or added ordinary word, "shall" for "will", a typo in an
ordinary word, a word split or joined by spacing or a line-break hyphen. Names with an OCR-like typo pass by
the look-alike rule; digits read as letters ("2O19") are read back as digits before numbers are compared.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

NEAR_SPELLING = 80.0  # a name this similar (0–100) to its counterpart is an OCR slip, not another name
_SIMILAR = 70.0  # alignment: words this similar are cheaper to pair than to insert and drop

TOKEN = re.compile(r"\w+(?:'\w+)*|[%$€£¥]")
NEGATIONS = frozenset(
    "not no never nor neither none nothing nobody nowhere without except unless cannot non".split())
NEGATIVE_PREFIXES = ("non", "un")
WRITTEN_NUMBERS = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split())
} | {w: 10 * i for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), start=3)} | {
    "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12,
    "half": 0.5, "twice": 2, "once": 1, "dozen": 12,
}
ORDINALS = frozenset("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split())
MONTHS = frozenset(
    "january february march april june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split())  # not "may": far more often the verb
TIME_UNITS = frozenset(
    "hour hours day days week weeks month months year years quarter quarters decade decades minute minutes "
    "daily weekly monthly quarterly annual annually yearly business calendar percent cent".split())
SIGNS = frozenset("%$€£¥")
# Capitalised only because they open a sentence or a heading: never a name.
FUNCTION_WORDS = frozenset(
    "a an the this that these those such any all each every either both some other another it its we our us "
    "you your he she his her they their them in on at to for of by with from as if upon and or but so then "
    "there here where when which who whom whose what any shall will may must can should would could is are "
    "be been was were has have had do does did".split())
_OCR_DIGITS = str.maketrans("oilszb", "011528")
_OCR_LETTERS = (str.maketrans("0158", "olsb"), str.maketrans("0158", "oisb"))


@dataclass(frozen=True)
class Word:
    """A word of normalised (lower-case) text, and whether its source spelling starts with a capital."""

    text: str
    capital: bool
    start: int = 0  # offsets in the normalised text
    end: int = 0


def words(normalized: str, source: str, offsets: Sequence[int], start: int = 0, end: int | None = None) -> list[Word]:
    """The words of `normalized[start:end]`; `offsets` map normalised characters back to `source` (for case)."""
    return [Word(m.group(), source[offsets[m.start()]].isupper(), m.start(), m.end())
            for m in TOKEN.finditer(normalized, start, len(normalized) if end is None else end)]


def number_key(word: str) -> str | None:
    """A canonical form of a number word ("2O19" → "2019", "fifteen" → "15", "3rd" → "3"), else None."""
    if word in WRITTEN_NUMBERS:
        return str(WRITTEN_NUMBERS[word])
    digits = sum(ch.isdigit() for ch in word)
    if digits == 0:
        return word if word in ORDINALS else None
    ordinal = re.fullmatch(r"(\d+)(?:st|nd|rd|th)", word)
    if ordinal:
        return ordinal.group(1)
    if digits * 2 < len(word):
        return None  # "sub1icense": an OCR slip in a word, not a number
    return word.translate(_OCR_DIGITS)


def fact_key(word: str) -> str | None:
    """What a word says that a slip may not change: a number, month, unit of time or sign, or a word with a
    digit in it ("log10", "x2", "sub1icense": which of these is an OCR slip only its counterpart can tell,
    see `_misread`); else None."""
    if word in MONTHS or word in TIME_UNITS or word in SIGNS:
        return word
    key = number_key(word)
    if key is None and any(ch.isdigit() for ch in word):
        return "~" + word.translate(_OCR_DIGITS)
    return key


def is_negation(word: str) -> bool:
    """A negation, also as OCR may print one ("with0ut", "un1ess")."""
    if word in NEGATIONS or word.endswith("n't"):
        return True
    if word.isalpha() or word.isdigit():
        return False
    return any(word.translate(table) in NEGATIONS for table in _OCR_LETTERS)


def is_name(word: Word) -> bool:
    return word.capital and word.text not in FUNCTION_WORDS and not is_negation(word.text)


def changed_facts(quote: Sequence[Word], span: Sequence[Word]) -> list[str]:
    """The facts the quote changes against the span (see the module docstring); [] means a faithful quote."""
    return compare(quote, span)[0]


def compare(quote: Sequence[Word], span: Sequence[Word]) -> tuple[list[str], tuple[int, int] | None]:
    """`changed_facts`, and the span words the quote aligned with (first, last index; None if none)."""
    path = _align([w.text for w in quote], [w.text for w in span])
    used = [s for _, s in path if s is not None]
    changed: list[str] = []
    for ours, theirs in differing_runs(quote, span, path):
        changed.extend(_run_changes(ours, theirs))
    return changed, (used[0], used[-1]) if used else None


def differing_runs(
    quote: Sequence[Word], span: Sequence[Word], path: list[tuple[int | None, int | None]] | None = None
) -> list[tuple[list[Word], list[Word]]]:
    """The aligned runs where the quote and the span differ: (the quote's words, the span's words)."""
    runs: list[tuple[list[Word], list[Word]]] = []
    ours: list[Word] = []
    theirs: list[Word] = []
    if path is None:
        path = _align([w.text for w in quote], [w.text for w in span])
    for q, s in _with_edges(path, len(span)):
        if q is not None and s is not None and quote[q].text == span[s].text:
            if ours or theirs:
                runs.append((ours, theirs))
            ours, theirs = [], []
            continue
        if q is not None:
            ours.append(quote[q])
        if s is not None:
            theirs.append(span[s])
    if ours or theirs:
        runs.append((ours, theirs))
    return runs


def _with_edges(path: list[tuple[int | None, int | None]], n: int) -> list[tuple[int | None, int | None]]:
    """The path with the span words just outside it set against the quote's words added at either edge:
    the span's ends are free, so "… payable to the buyer" against "… payable to the Seller" aligns as an
    added "buyer" and a free "Seller"; compared as a pair, the dropped name shows."""
    used = [s for _, s in path if s is not None]
    if not used:
        return path
    lead = next((k for k, (_, s) in enumerate(path) if s is not None), 0)
    trail = next((k for k, (_, s) in enumerate(reversed(path)) if s is not None), 0)
    before = [(None, j) for j in range(max(0, used[0] - lead), used[0])]
    after = [(None, j) for j in range(used[-1] + 1, min(n, used[-1] + 1 + trail))]
    return path[:lead] + before + path[lead:len(path) - trail] + path[len(path) - trail:] + after


def _align(quote: Sequence[str], span: Sequence[str]) -> list[tuple[int | None, int | None]]:
    """Edit-distance alignment of the whole quote with a stretch of the span (the span's ends are free).
    Pairs of (quote index or None, span index or None). A word inserted or left out costs 1; equal words 0,
    similar ones 0.5, others 1.5 — more than a gap, so that a quote's first word is not paired with the
    span word before it when the quote only dropped a word ("Notwithstanding [the] foregoing")."""
    m, n = len(quote), len(span)
    inf = float("inf")
    cost = [[0.0] * (n + 1)] + [[float(i)] + [inf] * n for i in range(1, m + 1)]
    similar: dict[tuple[str, str], float] = {}
    for i in range(1, m + 1):
        row, prev, q = cost[i], cost[i - 1], quote[i - 1]
        for j in range(1, n + 1):
            s = span[j - 1]
            if q == s:
                pair = 0.0
            else:
                pair = similar.get((q, s), -1.0)
                if pair < 0:
                    # ratio ≤ 200·min/(sum of lengths): words of very different lengths need no call
                    near = 200 * min(len(q), len(s)) >= _SIMILAR * (len(q) + len(s)) and fuzz.ratio(q, s) >= _SIMILAR
                    pair = similar[(q, s)] = 0.5 if near else 1.5
            row[j] = min(prev[j - 1] + pair, prev[j] + 1.0, row[j - 1] + 1.0)
    j = min(range(n + 1), key=lambda k: (cost[m][k], -k))
    i, path = m, []
    while i > 0:
        here = cost[i][j]
        if j > 0:
            q, s = quote[i - 1], span[j - 1]
            pair = 0.0 if q == s else similar[(q, s)]
            if here == cost[i - 1][j - 1] + pair:
                path.append((i - 1, j - 1))
                i, j = i - 1, j - 1
                continue
            if here == cost[i][j - 1] + 1.0:
                path.append((None, j - 1))
                j -= 1
                continue
        path.append((i - 1, None))
        i -= 1
    return path[::-1]


def _run_changes(ours: list[Word], theirs: list[Word]) -> list[str]:
    if "".join(w.text for w in ours) == "".join(w.text for w in theirs):
        return []  # spacing: "assign ment" / "assignment", "333 194486" / "333194486"
    ours, theirs = _without_misreadings(ours, theirs)
    changed: list[str] = []
    negations = Counter(w.text for w in ours if is_negation(w.text))
    negations.subtract(w.text for w in theirs if is_negation(w.text))
    changed.extend(sorted(w for w, k in negations.items() if k))
    changed.extend(q.text for q in ours for s in theirs if _negated(q.text, s.text) or _negated(s.text, q.text))
    facts = Counter(k for w in ours if (k := fact_key(w.text)) is not None)
    facts.subtract(k for w in theirs if (k := fact_key(w.text)) is not None)
    changed.extend(sorted(w for w, k in facts.items() if k))
    for side, other in ((ours, theirs), (theirs, ours)):
        for w in side:
            if is_name(w) and not any(fuzz.ratio(w.text, o.text) >= NEAR_SPELLING for o in other):
                changed.append(w.text)
    return changed


def _without_misreadings(ours: list[Word], theirs: list[Word]) -> tuple[list[Word], list[Word]]:
    """Both runs less the pairs that are one word misread: a negation or fact word and a word of the same
    length, or the same after undoing OCR's usual merges ("rn" for "m"), at least NEAR_SPELLING alike —
    "with0ut"/"without", "rnonths"/"months"; "never"/"ever" and "not"/"nut" stay different words."""
    left = list(theirs)
    kept: list[Word] = []
    for q in ours:
        twin = next((s for s in left if _misread(q.text, s.text)), None)
        if twin is None:
            kept.append(q)
        else:
            left.remove(twin)
    return kept, left


def _misread(a: str, b: str) -> bool:
    if any(ch.isdigit() for ch in a + b):
        # Digits: the same only as OCR's letter-for-digit readings ("2O19"/"2019", "sub1icense"/"sublicense",
        # "with0ut"/"without") or the same number ("3rd"/"3"); "log10"/"log15" and "10000"/"10001" differ.
        key = number_key(a)
        return a.translate(_OCR_DIGITS) == b.translate(_OCR_DIGITS) or (key is not None and key == number_key(b))
    if not (is_negation(a) or is_negation(b) or fact_key(a) or fact_key(b)):
        return False
    a, b = _unmerge(a), _unmerge(b)
    return a == b or (len(a) == len(b) and fuzz.ratio(a, b) >= NEAR_SPELLING)


def _unmerge(word: str) -> str:
    """The word as OCR most likely misread it back: merged letters split."""
    return word.replace("rn", "m").replace("cl", "d").replace("vv", "w")


def _negated(word: str, base: str) -> bool:
    """`word` is `base` with a negative prefix: "nonexclusive"/"exclusive", "unlimited"/"limited"."""
    return any(word == p + base for p in NEGATIVE_PREFIXES)
