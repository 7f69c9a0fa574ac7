"""Stage ingest, OCR layout: an OCR engine's text boxes → lines of text in reading order.

Contract: `lines(boxes)` groups (quadrilateral, text, score) boxes into lines, top to bottom, each left to
right, on the page straightened by `skew(quads)` (the median slope of the boxes' long edges, in radians).
Pages are taken as upright and in one column; a page scanned upside down is not turned.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

MAX_SKEW = math.radians(10)  # boxes sloping more than this are not taken for lines of text when measuring skew


def lines(boxes: list[tuple[Any, str, float]]) -> list[list[tuple[Any, str, float]]]:
    """Boxes grouped into lines: a box whose vertical middle lies within the current line's extent joins it;
    each line read left to right. Boxes are quadrilaterals (4 x/y points). Heights and middles are taken
    with the page's skew undone (`skew`): on a page scanned 1 degree askew a letter-width line at 300 dpi
    drops ~45 pixels from left to right, about a line's height, so the right-hand box of one line otherwise
    sorts among the next line's boxes and the two lines come out interleaved (the bench's degraded scans)."""
    angle = skew([b[0] for b in boxes])
    cos, sin = math.cos(angle), math.sin(angle)

    def level(b: tuple[Any, str, float]) -> tuple[float, float]:  # (top, bottom) on the straightened page
        ys = [float(y) * cos - float(x) * sin for x, y in b[0]]
        return min(ys), max(ys)

    lines: list[list[tuple[Any, str, float]]] = []
    extent = (0.0, 0.0)
    for box in sorted(boxes, key=lambda b: sum(level(b)) / 2):
        top, bottom = level(box)
        middle = (top + bottom) / 2
        if lines and extent[0] <= middle <= extent[1]:
            lines[-1].append(box)
        else:
            lines.append([box])
            extent = (top, bottom)
    return [sorted(line, key=lambda b: float(min(p[0] * cos + p[1] * sin for p in b[0]))) for line in lines]


def skew(quads: Sequence[Any]) -> float:
    """The page's skew in radians: the median slope of the long edge of the boxes that are clearly wider than
    tall (a word or a line: their long edge follows the text line); 0 without such boxes. Slopes beyond
    MAX_SKEW are ignored: those boxes are not horizontal text."""
    slopes = []
    for quad in quads:
        points = [(float(x), float(y)) for x, y in quad]
        edges = [(points[(k + 1) % 4][0] - points[k][0], points[(k + 1) % 4][1] - points[k][1]) for k in range(4)]
        dx, dy = max(edges, key=lambda e: math.hypot(*e))
        if dx < 0:
            dx, dy = -dx, -dy
        lengths = sorted(math.hypot(*e) for e in edges)
        if lengths[-1] >= 3 * max(lengths[0], 1.0) and abs(math.atan2(dy, dx)) <= MAX_SKEW:
            slopes.append(math.atan2(dy, dx))
    return statistics.median(slopes) if slopes else 0.0
