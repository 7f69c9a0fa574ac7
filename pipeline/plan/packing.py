"""Greedy packing of ordered items (pages, page parts, summary points) into runs that fit a token budget.

Contract: costs are estimates (each item's tokens counted alone); `fill` finds the longest run whose
estimated cost fits, and `pack` settles that run on what an exact check says fits. The exact check is
the caller's (a rendered prompt, counted with the tokenizer), so a packed run always fits by exact count,
whatever the estimates were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
Measure = Callable[[int, int], tuple[int, T]]


def fill(costs: Sequence[int], start: int, room: int) -> int:
    """End (exclusive) of the longest run from `start` whose summed cost is ≤ `room`; at least one item."""
    end, used = start, 0
    while end < len(costs) and (end == start or used + costs[end] <= room):
        used += costs[end]
        end += 1
    return end


def pack(costs: Sequence[int], start: int, room: int, measure: Measure[T], slack: int = 8) -> tuple[int, T | None]:
    """The longest run from `start` that fits by exact measure, and the payload `measure` gave for it.

    `measure(start, end)` returns (tokens over budget by exact count, payload). From the estimate's run,
    items are dropped from the end (enough to cover the excess by estimate, so few exact counts are
    needed), then added back one by one while the room left by exact count could hold the next item
    (`slack` tokens of estimate error allowed). Returns (start, None) when even one item does not fit.
    """
    end = fill(costs, start, room)
    while end > start:
        over, payload = measure(start, end)
        if over <= 0:
            break
        dropped = 0
        while end > start and (dropped < over or dropped == 0):
            end -= 1
            dropped += max(costs[end], 1)
    if end == start:
        return start, None
    while end < len(costs) and costs[end] <= slack - over:
        trial, grown = measure(start, end + 1)
        if trial > 0:
            break
        end, over, payload = end + 1, trial, grown
    return end, payload


def overlap_start(costs: Sequence[int], start: int, end: int, share: float) -> int:
    """Where the run after [start, end) begins so that it repeats at most `share` of this run's cost.

    Whole items only; always after `start` (each run makes progress); `end` when nothing may repeat.
    """
    target = share * sum(costs[start:end])
    begin, repeated = end, 0
    while begin - 1 > start and repeated + costs[begin - 1] <= target:
        begin -= 1
        repeated += costs[begin]
    return begin
