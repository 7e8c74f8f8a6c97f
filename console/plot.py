"""Text plots for the terminal: braille line charts, block bars and per-core strips.

Plain strings, one style per widget row: a row of a line chart is mostly spaces, so a redraw costs
little more than the characters of the line itself (see textual-practice.md, "Braille or blocks").
"""

from __future__ import annotations

from collections.abc import Sequence

BRAILLE_BASE = 0x2800
# Dot bits of a braille cell by (column, row from the top), Unicode's numbering.
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_EIGHTHS = " ▏▎▍▌▋▊▉█"
_LEVELS = " ▁▂▃▄▅▆▇█"


def braille(points: Sequence[tuple[float, float]], start: float, end: float, width: int, height: int,
            top: float, gap: float) -> list[str]:
    """A line chart of (t, value) points in ``width`` x ``height`` cells, time left to right.

    Values are scaled to 0..``top``; points further apart than ``gap`` seconds are not joined, so a
    hole in the data shows as a hole. Each column of dots keeps the highest value that falls in it.
    """
    if width <= 0 or height <= 0:
        return []
    xs, ys = 2 * width, 4 * height
    span = max(end - start, 1e-9)
    top = top if top > 0 else 1.0
    column: dict[int, tuple[int, float]] = {}
    for t, v in points:
        if t < start or t > end:
            continue
        x = min(xs - 1, int((t - start) / span * xs))
        y = min(ys - 1, max(0, round(v / top * (ys - 1))))
        if x not in column or y > column[x][0]:
            column[x] = (y, t)
    cells = [[0] * width for _ in range(height)]

    def dot(x: int, y: int) -> None:
        row = height - 1 - y // 4
        cells[row][x // 2] |= _DOTS[x % 2][3 - y % 4]

    previous: tuple[int, int, float] | None = None
    for x in sorted(column):
        y, t = column[x]
        if previous is not None and t - previous[2] <= gap:
            px, py, _ = previous
            last = py
            for xi in range(px + 1, x + 1):  # a straight segment, with vertical runs where it is steep
                yi = round(py + (y - py) * (xi - px) / (x - px))
                for fill in range(min(last, yi), max(last, yi) + 1):
                    dot(xi, fill)
                last = yi
        dot(x, y)
        previous = (x, y, t)
    return ["".join(chr(BRAILLE_BASE + c) if c else " " for c in row) for row in cells]


def bar(fraction: float | None, width: int) -> tuple[str, str]:
    """A horizontal bar as (filled, empty) parts, in eighths of a cell."""
    if width <= 0:
        return "", ""
    if fraction is None:
        return "", " " * width
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    filled = "█" * full + (_EIGHTHS[part] if part else "")
    return filled, " " * (width - len(filled))


def level(fraction: float | None) -> str:
    """One cell, taller as the fraction grows: the per-core strip of the Overview."""
    if fraction is None:
        return "·"
    return _LEVELS[max(1, min(8, round(fraction * 8)))]


def sparkline(values: Sequence[float | None], width: int) -> str:
    """The last ``width`` values as one row of levels scaled to their own peak (the figure beside it
    gives the scale); a missing value is ``·``."""
    tail = list(values)[-width:] if width > 0 else []
    top = max((v for v in tail if v is not None), default=0.0)
    return "".join(level(None if v is None else v / top if top > 0 else 0.0) for v in tail)
