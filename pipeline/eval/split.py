"""A fixed split of an evaluation set into a tuning half and a held-out half, so scores can be honest.

Contract: `split_of(names)` orders the contract file names by the sha256 of their case-folded name (a
fixed, content-free shuffle that needs no seed and does not change when files are added elsewhere in the
order) and puts the first half (rounded down) in `tune` and the rest in `held-out`. `select(names, split)`
returns the names of one split (`all`: every name), in their given order. Anything tuned on a data set —
patterns, thresholds — is tuned on `tune` only; `held-out` scores are the ones to quote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

Split = Literal["all", "tune", "held-out"]
SPLITS: tuple[Split, ...] = ("all", "tune", "held-out")


def split_of(names: Sequence[str]) -> dict[str, Split]:
    """Each name's split; see the module docstring."""
    order = sorted(names, key=lambda name: (hashlib.sha256(name.casefold().encode("utf-8")).hexdigest(), name))
    half = len(order) // 2
    return {name: ("tune" if i < half else "held-out") for i, name in enumerate(order)}


def select(names: Sequence[str], split: Split) -> list[str]:
    """The names in `split`, in their given order."""
    if split == "all":
        return list(names)
    of = split_of(names)
    return [name for name in names if of[name] == split]
