"""The panels of a Grafana dashboard drawn in the terminal: time series as braille line charts with a
legend, stat and gauge as big numbers in their threshold colour, bar gauges as bars, tables as text
tables; a panel type we cannot draw shows its title and says so. Each is a ``Panel``, so a refresh
that brings the same data repaints nothing."""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.renderables.digits import Digits
from textual.widgets import Static

from console.dashboard_data import Frame, PanelData, Window
from console.dashboard_layout import PanelSpec, Section
from console.grafana_format import calc_of, display, format_value, reduce, threshold_colour
from console.plot import bar
from console.widgets.panel import Panel, nice_top
from console.widgets.series_chart import COLOURS, Series, plot_rows

NUMBER_RE = re.compile(r"[-+]?[0-9][0-9.]*")
"""The leading number of a formatted value, drawn in digits; its unit follows in small letters."""


class DashPanel(Panel):
    """One dashboard panel: ``spec`` says what to draw, ``show_data`` brings the answers."""

    DEFAULT_CSS = "DashPanel { position: absolute; }"

    def __init__(self, spec: PanelSpec) -> None:
        super().__init__(" ")
        self.border_title = Content(spec.title or " ")  # the file's text, never read as markup
        self.spec = spec
        self.data: PanelData | None = None
        self.span: Window | None = None
        self.loaded_for: object = None
        """The query generation the data answers (the screen refetches when it changes)."""

    @property
    def needs_data(self) -> bool:
        return bool(self.spec.targets)

    def show_data(self, data: PanelData, span: Window) -> None:
        self.data, self.span = data, span
        subtitle = f"+{data.dropped} series not shown" if data.dropped else ""
        self.show((data, span if self.uses_time else None), subtitle)

    @property
    def uses_time(self) -> bool:
        return False

    def draw(self, width: int, height: int) -> list[Text]:
        data = self.data
        if data is None:
            return [Text("waiting for data…", style=self.style("dim"))]
        if data.error:
            return [Text(line, style=self.style("crit")) for line in _wrap(data.error, width)][:height]
        if not data.frames:
            return [Text("no data", style=self.style("dim"))]
        return self.draw_frames(list(data.frames), width, height)

    def draw_frames(self, frames: list[Frame], width: int, height: int) -> list[Text]:
        raise NotImplementedError

    def values(self, frames: Sequence[Frame]) -> list[tuple[str, float | None]]:
        """(legend, reduced value) per series, by the panel's reducer."""
        calc = calc_of(self.spec.options)
        return [(f.label, reduce(f.values, calc)) for f in frames]

    def big(self, v: float | None, width: int, height: int, room: int = 0) -> list[Text]:
        """The value centred; in digits when ``height - room`` has 3 rows and the width allows."""
        text, colour = display(v, self.spec.defaults)
        style = Style(color=colour or None, bold=True)
        m = NUMBER_RE.match(text)
        number, suffix = (m.group(), text[m.end():]) if m else ("", text)
        if (height - room >= 3 and number and not any(c.isdigit() for c in suffix)
                and Digits.get_width(number) + len(suffix) <= width):
            lines = _digits(number, style)
            lines[2].append(suffix, style=style)
            pad = (height - room - 3) // 2
        else:
            lines = [Text(_fit(text, width), style=style)]
            pad = (height - room - 1) // 2
        centred = [Text(" " * max(0, (width - line.cell_len) // 2)) + line for line in lines]
        return [Text("") for _ in range(max(0, pad))] + centred


def _wrap(text: str, width: int) -> list[str]:
    width = max(1, width)
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


class TimeSeriesPanel(DashPanel):
    """Braille lines over the window, a y axis in the panel's unit, and a legend under the chart."""

    @property
    def uses_time(self) -> bool:
        return True

    def draw_frames(self, frames: list[Frame], width: int, height: int) -> list[Text]:
        assert self.span is not None
        defaults = self.spec.defaults
        unit, decimals = defaults.get("unit"), defaults.get("decimals")
        drawn = frames[:len(COLOURS)]
        legend = self._legend(frames, drawn, width, max(1, height // 4))
        values = [v for f in drawn for v in f.values if math.isfinite(v)]
        lo = defaults["min"] if isinstance(defaults.get("min"), (int, float)) else min([0.0, *values])
        hi = defaults["max"] if isinstance(defaults.get("max"), (int, float)) else \
            nice_top(max(values, default=0.0) - lo, binary=unit in ("bytes", "Bps")) + lo
        hi = hi if hi > lo else lo + 1.0
        top, bottom = format_value(hi, unit, decimals), format_value(lo, unit, decimals)
        axis = min(max(len(top), len(bottom)) + 2, width // 3)
        plot_h = height - len(legend)
        plot_w = width - axis
        if plot_h < 1 or plot_w < 4:
            return legend[:height]
        series = [Series(f.label, [(t, v) for t, v in f.points if math.isfinite(v)]) for f in drawn]
        rows = plot_rows(series, self.span.start, self.span.end, self.span.step_s, plot_w, plot_h, lo, hi)
        dim = self.style("dim")
        out = []
        for y, row in enumerate(rows):
            label = top if y == 0 else bottom if y == plot_h - 1 else ""
            line = Text(f"{_fit(label, axis - 2):>{axis - 2}} ┤", style=dim, no_wrap=True)
            line.append(row)
            out.append(line)
        return out + legend

    def _legend(self, frames: list[Frame], drawn: list[Frame], width: int, lines: int) -> list[Text]:
        """Entries packed left to right on at most ``lines`` lines; what does not fit is counted."""
        out: list[Text] = []
        line = Text(no_wrap=True)
        shown = 0
        for i, f in enumerate(drawn):
            entry = Text.assemble(("● ", COLOURS[i]), _fit(f.label or " ", max(4, width - 4)))
            if line.cell_len and line.cell_len + 2 + entry.cell_len > width:
                if len(out) + 1 >= lines:
                    break
                out.append(line)
                line = Text(no_wrap=True)
            if line.cell_len:
                line.append("  ")
            line.append(entry)
            shown += 1
        if line.cell_len:
            out.append(line)
        if len(frames) > shown:
            more = f" +{len(frames) - shown} more"
            if out and out[-1].cell_len + len(more) <= width:
                out[-1].append(more, style=self.style("dim"))
            else:
                out.append(Text(more.strip(), style=self.style("dim")))
        return out[:lines]


class StatPanel(DashPanel):
    """One value as 3-row digits in its threshold colour; several as a list of big-enough numbers."""

    def draw_frames(self, frames: list[Frame], width: int, height: int) -> list[Text]:
        values = self.values(frames)
        if len(values) == 1:
            return self.big(values[0][1], width, height)
        return self.lines(values, width, height)

    def lines(self, values: list[tuple[str, float | None]], width: int, height: int) -> list[Text]:
        out = []
        label_w = min(max(len(label) for label, _ in values), width // 2)
        for label, v in values[:height]:
            text, colour = display(v, self.spec.defaults)
            line = Text(f"{_fit(label, label_w):<{label_w}} ", style=self.style("dim"), no_wrap=True)
            line.append(text, style=Style(color=colour or None, bold=True))
            out.append(line)
        if len(values) > height:
            out[-1] = Text(f"+{len(values) - height + 1} more", style=self.style("dim"))
        return out


def _digits(number: str, style: Style) -> list[Text]:
    segments = list(Digits(number).render(style))
    return [Text(s.text, style=style) for s in segments if isinstance(s, Segment) and s.text != "\n"][:3]


class BarGaugePanel(DashPanel):
    """One bar per series from min to max (0..1 for ratios, else 0..the largest), in threshold colours."""

    def draw_frames(self, frames: list[Frame], width: int, height: int) -> list[Text]:
        return self.bars(self.values(frames), width, height)

    def bars(self, values: list[tuple[str, float | None]], width: int, height: int) -> list[Text]:
        defaults = self.spec.defaults
        lo = defaults["min"] if isinstance(defaults.get("min"), (int, float)) else 0.0
        peak = max((v for _, v in values if v is not None and math.isfinite(v)), default=1.0)
        hi = defaults["max"] if isinstance(defaults.get("max"), (int, float)) else max(peak, lo + 1e-9)
        texts = [display(v, defaults) for _, v in values]
        label_w = min(max(len(label) for label, _ in values), width // 3) if len(values) > 1 else 0
        value_w = max(len(t) for t, _ in texts)
        bar_w = max(1, width - label_w - value_w - 2)
        rows = values if len(values) <= height else values[:height - 1]
        out = []
        for (label, v), (text, colour) in zip(rows, texts, strict=False):
            fraction = None if v is None or not math.isfinite(v) else (v - lo) / (hi - lo) if hi > lo else 0.0
            filled, empty = bar(fraction, bar_w)
            line = Text(f"{_fit(label, label_w):<{label_w}} " if label_w else "", style=self.style("dim"), no_wrap=True)
            line.append(filled, style=Style(color=colour) if colour else self.style("bar"))
            line.append(empty)
            line.append(f" {text:>{value_w}}")
            out.append(line)
        if len(rows) < len(values):
            out.append(Text(f"+{len(values) - len(rows)} more", style=self.style("dim")))
        return out


class GaugePanel(BarGaugePanel):
    """A single value as a big number over its bar; several as bars."""

    def draw_frames(self, frames: list[Frame], width: int, height: int) -> list[Text]:
        values = self.values(frames)
        if len(values) != 1:
            return self.bars(values, width, height)
        v = values[0][1]
        defaults = self.spec.defaults
        lo = defaults["min"] if isinstance(defaults.get("min"), (int, float)) else 0.0
        hi = defaults["max"] if isinstance(defaults.get("max"), (int, float)) else 100.0
        number = self.big(v, width, height, room=1)
        fraction = None if v is None or not math.isfinite(v) or hi <= lo else (v - lo) / (hi - lo)
        filled, empty = bar(fraction, width)
        colour = threshold_colour(v, defaults)
        gauge = Text(filled, style=Style(color=colour) if colour else self.style("bar"))
        gauge.append(empty, style=self.style("dim"))
        return [*number[:height - 1], gauge]


class TablePanel(DashPanel):
    """The targets' instant values merged by label set: label columns, then one value column per
    target (``Value`` alone), with the panel's ``organize`` renames and exclusions."""

    def draw_frames(self, frames: list[Frame], width: int, height: int) -> list[Text]:
        header, rows = self.table(frames)
        if not header:
            return [Text("no columns left to show", style=self.style("dim"))]
        widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
                  for i in range(len(header))]
        while sum(widths) + 2 * (len(widths) - 1) > width and max(widths) > 6:
            widest = widths.index(max(widths))
            widths[widest] -= 1
        out = [self._row(header, widths, Style(bold=True))]
        shown = rows if len(rows) <= height - 1 else rows[:max(0, height - 2)]
        out += [self._row(r, widths, Style()) for r in shown]
        if len(shown) < len(rows):
            out.append(Text(f"+{len(rows) - len(shown)} more rows", style=self.style("dim")))
        return out

    @staticmethod
    def _row(cells: list[str], widths: list[int], style: Style) -> Text:
        return Text("  ".join(f"{_fit(c, w):<{w}}" for c, w in zip(cells, widths, strict=True)), style=style,
                    no_wrap=True)

    def table(self, frames: list[Frame]) -> tuple[list[str], list[list[str]]]:
        exclude, rename = self._organize()
        refs = list(dict.fromkeys(f.ref_id for f in frames))
        value_cols = ["Value"] if len(refs) == 1 else [f"Value #{r}" for r in refs]
        merged: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
        for f in frames:  # several targets join on their labels; each metric's name would keep them apart
            labels = f.labels if len(refs) == 1 else tuple(kv for kv in f.labels if kv[0] != "__name__")
            if f.points:
                merged.setdefault(labels, {})[f.ref_id] = f.points[-1][1]
        label_cols = sorted({k for labels in merged for k, _ in labels})
        if "__name__" in label_cols:
            label_cols.remove("__name__")
            label_cols.insert(0, "__name__")
        columns = [(c, "label") for c in label_cols] + list(zip(value_cols, refs, strict=True))
        columns = [(c, kind) for c, kind in columns if not exclude.get(c)]
        unit, decimals = self.spec.defaults.get("unit"), self.spec.defaults.get("decimals")
        rows = []
        for labels, values in merged.items():
            by_name = dict(labels)
            rows.append([by_name.get(c, "") if kind == "label" else format_value(values.get(kind), unit, decimals)
                         for c, kind in columns])
        return [rename.get(c) or c for c, _ in columns], rows

    def _organize(self) -> tuple[dict[str, bool], dict[str, str]]:
        exclude: dict[str, bool] = {}
        rename: dict[str, str] = {}
        for t in self.spec.transformations:
            options = t.get("options") if isinstance(t, dict) and t.get("id") == "organize" else None
            if isinstance(options, dict):
                if isinstance(options.get("excludeByName"), dict):
                    exclude.update({str(k): v is True for k, v in options["excludeByName"].items()})
                if isinstance(options.get("renameByName"), dict):
                    rename.update({str(k): str(v) for k, v in options["renameByName"].items() if isinstance(v, str)})
        return exclude, rename


class TextPanel(DashPanel):
    """A text panel's content, as plain text (markdown is not rendered)."""

    def on_mount(self) -> None:
        self.show("text")

    def draw(self, width: int, height: int) -> list[Text]:
        content = self.spec.options.get("content")
        lines = content.splitlines() if isinstance(content, str) else []
        return [Text(_fit(line, width)) for line in lines[:height]] or [Text("")]


class UnknownPanel(DashPanel):
    """A panel type the console does not draw: its title, and that it cannot be drawn here."""

    @property
    def needs_data(self) -> bool:
        return False

    def on_mount(self) -> None:
        self.show("unknown")

    def draw(self, width: int, height: int) -> list[Text]:
        words = textwrap.wrap(f"{self.spec.type} panel: not drawable here", max(1, width)) or [""]
        return [Text(_fit(line, width), style=self.style("dim")) for line in words[:height]]


PANEL_CLASSES: dict[str, type[DashPanel]] = {
    "timeseries": TimeSeriesPanel, "stat": StatPanel, "gauge": GaugePanel, "bargauge": BarGaugePanel,
    "table": TablePanel, "text": TextPanel,
}


def make_panel(spec: PanelSpec) -> DashPanel:
    return PANEL_CLASSES.get(spec.type, UnknownPanel)(spec)


class RowHeader(Static, can_focus=True):
    """A dashboard row's title: enter, space or a click folds or unfolds the panels under it."""

    BINDINGS = [Binding("enter,space", "toggle", "Fold/unfold row")]
    DEFAULT_CSS = """
    RowHeader { height: 1; text-style: bold; color: $text; background: $boost; padding: 0 1; }
    RowHeader:focus { background: $accent 40%; }
    """

    class Toggled(Message):
        def __init__(self, header: RowHeader) -> None:
            super().__init__()
            self.header = header

    def __init__(self, section: Section) -> None:
        super().__init__(markup=False)
        self.section = section
        self._draw()

    def _draw(self) -> None:
        row = self.section.row
        title = row.title if row is not None else ""
        if self.section.collapsed:
            count = len(self.section.panels)
            self.update(Text(f"▶ {title}  ({count} panel{'s' if count != 1 else ''})"))
        else:
            self.update(Text(f"▼ {title}"))

    def action_toggle(self) -> None:
        self.section.collapsed = not self.section.collapsed
        self._draw()
        self.post_message(self.Toggled(self))

    def on_click(self) -> None:
        self.action_toggle()
