"""A line chart of several series for Explore's range results: braille lines, one colour per series,
a y axis and a legend. Redrawn from the data kept here whenever the widget is resized."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from console.plot import BRAILLE_BASE, braille

COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "red")
"""ANSI colour names: readable in every theme and in 16-colour terminals."""
AXIS_W = 9


@dataclass(frozen=True)
class Series:
    label: str
    points: list[tuple[float, float]]


def short_number(v: float) -> str:
    """At most 7 characters: ``0.25``, ``1.2k``, ``3.4G`` (PromQL results have no unit to go by)."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


def plot_rows(series: Sequence[Series], start: float, end: float, step: float, width: int, height: int,
              lo: float, hi: float) -> list[Text]:
    """Several series in one ``width`` x ``height`` braille area scaled to lo..hi, series ``i`` in
    ``COLOURS[i]`` (a cell two lines share takes the first one's colour); points further apart
    than two steps are not joined."""
    bits = [[0] * width for _ in range(height)]
    colour: list[list[str | None]] = [[None] * width for _ in range(height)]
    for i, s in enumerate(series):
        rows = braille([(t, v - lo) for t, v in s.points], start, end, width, height, hi - lo, 2 * step)
        for y, row in enumerate(rows):
            for x, ch in enumerate(row):
                if ch != " ":
                    bits[y][x] |= ord(ch) - BRAILLE_BASE
                    colour[y][x] = colour[y][x] or COLOURS[i % len(COLOURS)]
    out = []
    for y in range(height):
        line = Text()
        for x in range(width):
            line.append(chr(BRAILLE_BASE + bits[y][x]) if bits[y][x] else " ", colour[y][x] or "")
        out.append(line)
    return out


class SeriesChart(Widget):
    """``show(series, start, end, step)``; the first ``len(COLOURS)`` series are drawn, the legend
    says how many more there are."""

    DEFAULT_CSS = "SeriesChart { height: 1fr; padding: 0 1; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._series: list[Series] = []
        self._span = (0.0, 1.0, 1)
        self._note = "no range result yet: enter runs the query"

    def show(self, series: Sequence[Series], start: float, end: float, step: int) -> None:
        self._series = list(series)
        self._span = (start, end, step)
        self._note = "" if series else "the range query returned no series"
        self.refresh()

    def show_note(self, note: str) -> None:
        """An error or a hint in place of the chart."""
        self._series, self._note = [], note
        self.refresh()

    def render(self) -> Text:
        if not self._series:
            return Text(self._note, style="dim")
        drawn = self._series[:len(COLOURS)]
        legend = [Text.assemble(("● ", COLOURS[i]), (s.label, "")) for i, s in enumerate(drawn)]
        if len(self._series) > len(drawn):
            legend.append(Text(f"+{len(self._series) - len(drawn)} more series: see the table (v)", style="dim"))
        legend = legend[:max(1, self.size.height // 3)]
        width, height = self.size.width - AXIS_W, self.size.height - len(legend) - 1
        if width < 4 or height < 1:
            return Text("too small for a chart", style="dim")
        values = [v for s in drawn for _, v in s.points]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        lo = min(lo, 0.0)
        hi = hi if hi > lo else lo + 1.0
        start, end, step = self._span
        out = Text(no_wrap=True, overflow="crop")
        for y, row in enumerate(plot_rows(drawn, start, end, step, width, height, lo, hi)):
            axis = short_number(hi) if y == 0 else short_number(lo) if y == height - 1 else ""
            out.append(f"{axis:>{AXIS_W - 2}} ┤", style="dim")
            out.append(row)
            out.append("\n")
        span = end - start
        left = f"-{span / 3600:g}h" if span >= 3600 else f"-{span / 60:g}m"
        right = f"now · step {step}s"
        out.append(" " * AXIS_W + left + right.rjust(width - len(left)) + "\n", style="dim")
        out.append(Text("\n").join(legend))
        return out
