"""CUAD's scoring rules as pure functions: span matching, counts, precision/recall/F1, AUPR.

Contract (Hendrycks et al., arXiv:2103.06268, and CUAD's `evaluate.py`), per item = one (document,
category): a gold span is found (true positive) when some prediction matches it, else it is a false
negative; a prediction that matches no gold span is a false positive (with no gold span, every prediction
is). A prediction matches a gold span when their word-level Jaccard is ≥ 0.5; for "Parties" also when the
gold text lies inside the prediction. Words: `cite.normalize` first (typography differs between PDF text
extractors: quotes, dashes, line breaks), then CUAD's steps: drop `. , ; :`, `/` becomes a space, split on
whitespace. Predictions with the same normalised text in one item count once (CUAD keys them by text).
Scores are micro sums over items; a ratio with a zero denominator is None, never a made-up 0 or 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

from pipeline.cite.locate import normalize
from pipeline.models import CitationStatus

JACCARD_MIN = 0.5
SUBSTRING_CATEGORIES = frozenset({"parties"})  # case-folded names where "gold inside prediction" also counts
_CUAD_DROP = re.compile(r"[.,;:]")


@dataclass(frozen=True)
class GoldSpan:
    """An expert-labelled clause text and the pages holding it (() when it could not be placed)."""

    text: str
    pages: tuple[int, ...] = ()


@dataclass(frozen=True)
class Predicted:
    """One extracted clause as the engine cited it."""

    text: str
    page_number: int | None
    status: CitationStatus = "verified"
    confidence: float | None = None


@dataclass(frozen=True)
class Item:
    """One (document, category): the expert's spans and what the engine said."""

    category: str
    gold: tuple[GoldSpan, ...]
    predicted: tuple[Predicted, ...]
    said_absent: bool


@dataclass(frozen=True)
class Counts:
    """Additive counts behind every score (see the module docstring for tp/fp/fn)."""

    gold: int = 0
    predicted: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    page_correct: int = 0
    page_total: int = 0
    absent_correct: int = 0
    absent_total: int = 0
    present_correct: int = 0
    present_total: int = 0
    verified: int = 0
    relocated: int = 0
    unverified: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def precision(c: Counts) -> float | None:
    return ratio(c.tp, c.tp + c.fp)


def recall(c: Counts) -> float | None:
    return ratio(c.tp, c.tp + c.fn)


def f1(c: Counts) -> float | None:
    """None without gold spans; 0 when gold spans exist and none is found (predictions or not)."""
    p, r = precision(c), recall(c)
    if r is None:
        return None
    if p is None or p + r == 0:
        return 0.0  # no prediction at all (p undefined) means recall 0
    return 2 * p * r / (p + r)


def words(text: str) -> frozenset[str]:
    """The word set CUAD's Jaccard compares (see the module docstring)."""
    return frozenset(_CUAD_DROP.sub("", normalize(text)[0]).replace("/", " ").split())


def jaccard(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    union = len(wa | wb)
    return len(wa & wb) / union if union else 0.0


def _matches(pred: frozenset[str], pred_norm: str, gold: frozenset[str], gold_norm: str, substring: bool) -> bool:
    union = len(pred | gold)
    if union and len(pred & gold) / union >= JACCARD_MIN:  # exact at 1/2: 0.5 is a binary fraction
        return True
    return substring and bool(gold_norm) and f" {gold_norm} " in f" {pred_norm} "


def unique_predictions(predicted: Iterable[Predicted]) -> list[Predicted]:
    """First of each normalised text, carrying the highest confidence among its repeats."""
    best: dict[str, Predicted] = {}
    for p in predicted:
        key = normalize(p.text)[0]
        kept = best.get(key)
        if kept is None:
            best[key] = p
        elif p.confidence is not None and (kept.confidence is None or p.confidence > kept.confidence):
            best[key] = Predicted(kept.text, kept.page_number, kept.status, p.confidence)
    return list(best.values())


def match_sets(item: Item, predicted: Sequence[Predicted]) -> list[frozenset[int]]:
    """For each prediction, the indices of the gold spans of `item` it matches."""
    substring = item.category.casefold() in SUBSTRING_CATEGORIES
    gold = [(words(g.text), normalize(g.text)[0]) for g in item.gold]
    out = []
    for p in predicted:
        pw, pn = words(p.text), normalize(p.text)[0]
        out.append(frozenset(i for i, (gw, gn) in enumerate(gold) if _matches(pw, pn, gw, gn, substring)))
    return out


def score_item(item: Item) -> Counts:
    """Counts of one (document, category); see the module docstring."""
    kept = unique_predictions(item.predicted)
    matched = match_sets(item, kept)
    found = frozenset().union(*matched)
    page_total = page_correct = 0
    for p, hits in zip(kept, matched):
        pages = {n for i in hits for n in item.gold[i].pages}
        if pages:  # the prediction matched a gold span whose pages are known
            page_total += 1
            page_correct += p.page_number in pages
    status = [p.status for p in item.predicted]
    return Counts(
        gold=len(item.gold), predicted=len(kept), tp=len(found), fp=sum(not hits for hits in matched),
        fn=len(item.gold) - len(found), page_correct=page_correct, page_total=page_total,
        absent_correct=int(not item.gold and item.said_absent), absent_total=int(not item.gold),
        present_correct=int(bool(item.gold) and not item.said_absent), present_total=int(bool(item.gold)),
        verified=status.count("verified"), relocated=status.count("relocated"),
        unverified=status.count("unverified"),
    )


def total(items: Iterable[Item]) -> Counts:
    out = Counts()
    for item in items:
        out = out + score_item(item)
    return out


def has_confidences(items: Iterable[Item]) -> bool:
    """True when there is at least one prediction and every prediction carries a confidence."""
    confidences = [p.confidence for item in items for p in item.predicted]
    return bool(confidences) and all(c is not None for c in confidences)


def pr_curve(items: Sequence[Item]) -> list[tuple[float, float]] | None:
    """(recall, precision) after (0, 1), one point per distinct confidence as the threshold falls (a
    prediction counts when its confidence is ≥ the threshold). None when the items hold no gold span or
    some prediction has no confidence."""
    gold_total = sum(len(item.gold) for item in items)
    events: list[tuple[float, int, frozenset[int]]] = []
    for n, item in enumerate(items):
        kept = unique_predictions(item.predicted)
        for p, hits in zip(kept, match_sets(item, kept)):
            if p.confidence is None:
                return None
            events.append((p.confidence, n, hits))
    if not gold_total:
        return None
    events.sort(key=lambda e: -e[0])
    found: set[tuple[int, int]] = set()
    fp = 0
    points = [(0.0, 1.0)]
    for k, (confidence, n, hits) in enumerate(events):
        fp += not hits
        found.update((n, i) for i in hits)
        if k + 1 == len(events) or events[k + 1][0] != confidence:
            points.append((len(found) / gold_total, len(found) / (len(found) + fp)))
    return points


def _envelope(points: Sequence[tuple[float, float]]) -> list[float]:
    """Each point's precision raised to the best precision at equal or higher recall (CUAD's
    `process_precisions`), so that precision and recall never both get worse along the curve."""
    out, best = [], 0.0
    for _, p in reversed(points):
        best = max(best, p)
        out.append(best)
    return out[::-1]


def aupr(points: Sequence[tuple[float, float]]) -> float:
    """Area under the (enveloped) precision-recall curve, by trapezoids over recall."""
    precisions = _envelope(points)
    return sum((r1 - r0) * (p0 + p1) / 2 for (r0, _), (r1, _), p0, p1
               in zip(points, points[1:], precisions, precisions[1:]))


def precision_at_recall(points: Sequence[tuple[float, float]], level: float) -> float:
    """Enveloped precision at the first point whose recall reaches `level`; 0 when none does (as CUAD)."""
    for (r, _), p in zip(points, _envelope(points)):
        if r >= level:
            return p
    return 0.0
