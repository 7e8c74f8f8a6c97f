"""A bordered box that draws itself from plain values and repaints only when they change."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.widget import Widget

from console.history import Chart, Point
from console.plot import bar, braille

WARN_PERCENT = 75.0
CRIT_PERCENT = 90.0


def nice_top(peak: float, binary: bool = False) -> float:
    """A round scale at or just above ``peak`` (1, 2 or 5 times a power of ten, of 1024 units for
    bytes), so a chart's axis does not jitter with every sample and its label reads well."""
    if peak <= 0:
        return 1.0
    unit = 1.0
    if binary:
        while peak >= 1024 * unit:
            unit *= 1024
    scaled = peak / unit
    magnitude = 10 ** math.floor(math.log10(scaled))
    for factor in (1, 2, 5, 10):
        if scaled <= factor * magnitude * (1 + 1e-9):
            return factor * magnitude * unit
    return 10 * magnitude * unit


class Panel(Widget):
    """Subclasses call ``show(key)`` with everything their drawing depends on and draw in ``draw``."""

    DEFAULT_CSS = """
    Panel {
        border: round $primary 60%;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        height: 1fr;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    Panel > .panel--chart { color: $accent; }
    Panel > .panel--chart-alt { color: $secondary; }
    Panel > .panel--bar { color: $primary; }
    Panel > .panel--warn { color: $warning; }
    Panel > .panel--crit { color: $error; }
    Panel > .panel--dim { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"panel--chart", "panel--chart-alt", "panel--bar", "panel--warn", "panel--crit",
                         "panel--dim"}

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = title
        self._key: object = None
        self._drawn: tuple[Size, list[Text]] | None = None

    def show(self, key: object, subtitle: str = "", layout: bool = False) -> None:
        """Repaint the lines that changed if ``key`` (what the drawing depends on) changed.

        Only changed lines are marked dirty, so a new sample usually costs the terminal the
        headline and the last column of a chart, not the whole panel. ``layout`` when the
        panel's height may change.
        """
        self.set_border(subtitle=subtitle)
        if key == self._key:
            return
        self._key = key
        old, self._drawn = self._drawn, None
        if layout or old is None or old[0] != self.size:
            self.refresh(layout=layout)
            return
        lines = self._drawn_lines()
        if len(lines) != len(old[1]):
            self.refresh()
            return
        width = self.size.width
        changed = [Region(0, y, width, 1) for y, (a, b) in enumerate(zip(old[1], lines, strict=True))
                   if a != b or a.style != b.style]  # Text equality ignores the base style
        if changed:
            self.refresh(*changed)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn = None  # the drawn lines carry the old theme's colours

    def set_border(self, *, title: str | None = None, subtitle: str | None = None) -> None:
        """Change the border's texts only if they differ: setting one repaints the whole panel."""
        if title is not None and title != self.border_title:
            self.border_title = title
        if subtitle is not None and subtitle != self.border_subtitle:
            self.border_subtitle = subtitle

    def _drawn_lines(self) -> list[Text]:
        if self._drawn is None or self._drawn[0] != self.size:
            self._drawn = (self.size, self.draw(self.size.width, self.size.height)[: self.size.height])
        return self._drawn[1]

    def style(self, name: str) -> Style:
        return self.get_component_rich_style(f"panel--{name}")

    def severity(self, percent: float | None) -> Style:
        if percent is not None and percent >= CRIT_PERCENT:
            return self.style("crit")
        if percent is not None and percent >= WARN_PERCENT:
            return self.style("warn")
        return self.style("bar")

    def render(self) -> Text:
        if self._key is None:
            return Text("waiting for data…", style=self.style("dim"))
        return Text("\n").join(self._drawn_lines())

    def draw(self, width: int, height: int) -> list[Text]:
        raise NotImplementedError

    # -- drawing helpers ---------------------------------------------------------------------

    def meter(self, label: str, percent: float | None, tail: str, width: int) -> Text:
        """``label [bar] tail`` filling ``width``, the bar coloured by severity."""
        line = Text(label, style=self.style("dim"))
        bar_width = max(0, width - len(label) - len(tail) - 2)
        filled, empty = bar(None if percent is None else percent / 100, bar_width)
        line.append(" ")
        line.append(filled, style=self.severity(percent))
        line.append(empty)
        line.append(" " + tail)
        return line

    def chart(self, chart: Chart, points: Sequence[Point], width: int, height: int, top: float,
              gap: float, alt: bool = False) -> list[Text]:
        """A braille chart whose time axis moves in whole dot columns: between two such steps a
        new sample only redraws the last column, not the whole chart."""
        dot_s = chart.range.seconds / max(1, 2 * width)
        end = math.ceil((chart.end or 0.0) / dot_s) * dot_s
        rows = braille(points, end - chart.range.seconds, end, width, height, top, gap)
        style = self.style("chart-alt" if alt else "chart")
        return [Text(row, style=style) for row in rows]
