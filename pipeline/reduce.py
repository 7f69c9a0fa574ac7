"""Stage reduce: merge what the windows of one document found into one summary and one clause list.

Contract: merged items keep the citations computed for the window items they come from (no page is
re-invented). Clauses: one item per distinct (category, located quote); duplicates collapse.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.cite import normalize
from pipeline.models import Clause, SummaryPoint


def merge_summary(per_window: Sequence[Sequence[SummaryPoint]], n_points: int) -> list[SummaryPoint]:
    """One window: its points. Several: the windows' points in document order, at most n_points."""
    if len(per_window) == 1:
        return list(per_window[0])
    merged = [point for points in per_window for point in points]
    step = max(1, len(merged) // n_points) if len(merged) > n_points else 1
    return merged[::step][:n_points]


def merge_clauses(per_window: Sequence[Sequence[Clause]]) -> list[Clause]:
    """Union of the windows' clauses, duplicates (same category and same normalised quote) collapsed."""
    seen: set[tuple[str, str]] = set()
    merged: list[Clause] = []
    for clauses in per_window:
        for clause in clauses:
            key = (clause.category, normalize(clause.citation.quote)[0])
            if key not in seen:
                seen.add(key)
                merged.append(clause)
    return merged
