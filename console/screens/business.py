"""Business (key 7): bookings, revenue, active users, conversion funnels and satisfaction from the
`business` topic, each figure over the topic's period with its per-step trend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll

from console import format as fmt
from console.plot import bar, sparkline
from console.screens.base import LiveScreen
from console.widgets.field import Field
from engine.compat.durations import format_seconds

STATUSES = ("created", "completed", "cancelled")
TREND_CELLS = 16
LABEL_WIDTH = 10


def _values(points: Any) -> list[float]:
    return [p[1] for p in points or [] if isinstance(p, list) and len(p) == 2 and isinstance(p[1], (int, float))]


def _label(text: str, width: int = LABEL_WIDTH) -> str:
    return text[: width - 1].ljust(width)


def _figure_line(label: str, figure: str, points: Any, width: int) -> Text:
    """``label  figure  trend``: the trend takes what the width leaves."""
    figure = figure.rjust(9)
    line = Text(_label(label) + figure + " ")
    line.append(sparkline(_values(points), max(0, min(TREND_CELLS, width - len(line.plain)))), style="cyan")
    return line


def bookings_text(view: dict[str, Any], width: int) -> Text:
    bookings = view.get("bookings") or {}
    if all(bookings.get(s) is None for s in STATUSES):  # no series at all: not "0 bookings"
        return Text("no bookings_total samples", style="dim")
    history = bookings.get("history") or {}
    lines = [_figure_line(s, fmt.count(bookings.get(s)), history.get(s), width) for s in STATUSES]
    by_service = bookings.get("by_service") or {}
    if len(by_service) > 1:  # one service's figures are the totals above
        for service, counts in by_service.items():
            lines.append(Text(f"{service}: " + " · ".join(f"{fmt.count(counts.get(s))} {s}" for s in STATUSES),
                              style="dim"))
    return Text("\n").join(lines)


def revenue_text(view: dict[str, Any], width: int) -> Text:
    revenue = view.get("revenue") or {}
    rows = [r for r in revenue.get("by_service") or [] if isinstance(r, dict)]
    totals: dict[str, float] = {}
    for r in rows:
        totals[str(r.get("currency"))] = totals.get(str(r.get("currency")), 0.0) + (r.get("amount") or 0.0)
    history = revenue.get("history") or {}
    lines = [_figure_line(cur, fmt.amount(total), history.get(cur), width) for cur, total in sorted(totals.items())]
    if len({r.get("service") for r in rows}) > 1:
        lines += [Text(f"{r.get('service')}: {fmt.amount(r.get('amount'))} {r.get('currency')}", style="dim")
                  for r in rows]
    return Text("\n").join(lines) if lines else Text("no revenue_total samples", style="dim")


def users_text(view: dict[str, Any], width: int) -> Text:
    users = view.get("active_users") or {}
    lines = [_figure_line("total", fmt.count(users.get("total")), users.get("history"), width)]
    by_service = users.get("by_service") or {}
    if len(by_service) > 1:
        lines += [Text(_label(str(svc)) + fmt.count(n).rjust(9), style="dim") for svc, n in by_service.items()]
    return Text("\n").join(lines)


def _bar_line(label: str, fraction: float | None, tail: str, width: int) -> Text:
    line = Text(_label(label))
    filled, empty = bar(fraction, max(0, width - LABEL_WIDTH - len(tail) - 1))
    line.append(filled, style="cyan")
    line.append(empty + " " + tail)
    return line


def funnel_text(view: dict[str, Any], width: int) -> Text:
    """Each funnel's steps as bars relative to its first step, with the count and the share of it."""
    lines: list[Text] = []
    for funnel in view.get("funnels") or []:
        lines.append(Text(str(funnel.get("funnel", "")), style="bold"))
        for step in funnel.get("steps") or []:
            tail = f"{fmt.count(step.get('count')):>8} {fmt.ratio(step.get('of_first')):>6}"
            lines.append(_bar_line(str(step.get("step", "")), step.get("of_first"), tail, width))
    return Text("\n").join(lines) if lines else Text("no conversion_funnel_step_total samples", style="dim")


def bucket_labels(bounds: list[Any]) -> list[str]:
    """Names of per-bucket counts by upper bound: whole scores one apart (1 to 5 stars) by their
    score, other bounds as ``≤ 1``, ``(1, 2.5]``; the last, unbounded one as ``> 5``."""
    finite = [le for le in bounds if isinstance(le, (int, float))]
    scores = bool(finite) and all(le == int(le) for le in finite) and \
        all(b - a == 1 for a, b in zip(finite, finite[1:], strict=False))
    labels, below = [], None
    for le in bounds:
        if not isinstance(le, (int, float)):
            labels.append(f"> {below:g}" if below is not None else "all")
        elif scores:
            labels.append(f"{le:g}")
        else:
            labels.append(f"≤ {le:g}" if below is None else f"({below:g}, {le:g}]")
        below = le if isinstance(le, (int, float)) else below
    return labels


def satisfaction_text(view: dict[str, Any], width: int) -> Text:
    """The average and how many answers fell in each score bucket, as bars against the largest
    (an empty unbounded bucket past the top score is left out)."""
    sat = view.get("satisfaction") or {}
    lines = [Text.assemble(("average ", "dim"), (fmt.number(sat.get("average")), "bold"),
                           (f" from {fmt.count(sat.get('count'))} answers", "dim"))]
    buckets = [b for b in sat.get("distribution") or [] if isinstance(b, dict)]
    top = max((b.get("count") or 0.0 for b in buckets), default=0.0)
    for b, label in zip(buckets, bucket_labels([b.get("le") for b in buckets]), strict=True):
        count = b.get("count") or 0.0
        if not isinstance(b.get("le"), (int, float)) and not count and len(buckets) > 1:
            continue
        lines.append(_bar_line(label, count / top if top else None, f"{fmt.count(count):>7}", width))
    return Text("\n").join(lines)


class Block(Field):
    """A bordered text panel drawn for its own width, redrawn on new data and on resize."""

    def __init__(self, title: str, draw: Callable[[dict[str, Any], int], Text], *, id: str) -> None:
        super().__init__(id=id)
        self.border_title = title
        self._draw = draw
        self._data: dict[str, Any] | None = None

    def draw(self, data: dict[str, Any]) -> None:
        self._data = data
        self.show(self._draw(data, max(20, self.content_size.width or 36)))

    def on_resize(self) -> None:
        if self._data is not None:
            self.draw(self._data)


class BusinessScreen(LiveScreen):
    TITLE = "Business"
    TOPICS = ("business",)
    AUTO_FOCUS = "#business"
    DEFAULT_CSS = """
    BusinessScreen #business { height: 1fr; }
    BusinessScreen #panels { grid-size: 2; grid-rows: auto; grid-columns: 1fr 1fr; height: auto; }
    BusinessScreen Block { height: auto; border: round $primary 60%; border-title-color: $text;
                           border-title-style: bold; border-subtitle-color: $text-muted; padding: 0 1;
                           text-wrap: nowrap; text-overflow: clip; }
    BusinessScreen #funnel { column-span: 2; }
    BusinessScreen #waiting { padding: 0 1; color: $text-muted; }
    """

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="business"):
            yield Field("waiting for the business figures…", id="waiting")
            with Grid(id="panels"):
                yield Block("Bookings", bookings_text, id="bookings")
                yield Block("Revenue", revenue_text, id="revenue")
                yield Block("Active users", users_text, id="users")
                yield Block("Satisfaction", satisfaction_text, id="satisfaction")
                yield Block("Conversion funnel", funnel_text, id="funnel")

    def refresh_data(self) -> None:
        view = self.console.views.get("business")
        self.query_one("#waiting", Field).display = view is None
        if view is None:
            return
        period = f"last {format_seconds(float(view.get('range_seconds') or 0))}"
        for block in self.query(Block):
            block.draw(view)
            if block.border_subtitle != period:
                block.border_subtitle = period
