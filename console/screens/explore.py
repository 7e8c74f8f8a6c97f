"""Explore (key 5): ask the server anything in PromQL. An instant result as a table, a range result
as a chart over the console's chart range; expressions are checked by the server as they are typed,
completed from its label index, and remembered between runs."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from console.history import RANGE_BY_NAME
from console.promql_functions import open_call, signature
from console.query_history import QueryHistory
from console.screens.base import LiveScreen
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.promql_input import PromqlInput
from console.widgets.series_chart import AXIS_W, Series, SeriesChart
from console.widgets.table import Column, LiveTable, RowFilter
from engine.compat.regex import compile as compile_regex

CHECK_DELAY_S = 0.4
"""Typing pauses this long before the server is asked whether the expression parses."""
VALID_BUT_FAILED = (422, 503)
"""Prometheus's statuses for an expression that parsed but failed to run (execution, timeout): kept in
the history like an accepted one."""
_LAST_NAME = compile_regex(r"[a-zA-Z_][a-zA-Z0-9_]*$")  # RE2: linear on a pasted query
_UNFINISHED_ERRORS = ("unexpected end of input", "unclosed left parenthesis", "unterminated quoted string")
_OPEN_END = compile_regex(r"(?:[-+*/%^,(=<>!~@]|\b(?:and|or|unless|by|without|on|ignoring|group_left|group_right"
                          r"|offset|bool|atan2))\s*$")
COLUMNS = (Column("series", "Series"), Column("value", "Value", numeric=True))


def series_name(metric: dict[str, str]) -> str:
    """``name{a="x", b="y"}`` as Prometheus prints it; ``{}`` for a series without labels."""
    name = metric.get("__name__", "")
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{labels}}}" if labels or not name else name


def unfinished(expr: str, error: str) -> bool:
    """A parse error that typing on may fix (the text ends inside a call, a selector or a string, or
    after an operator): not shown while the query is typed, only when it is run."""
    return any(words in error for words in _UNFINISHED_ERRORS) or _OPEN_END.find_submatch(expr) is not None


def value_text(v: object) -> str:
    """A sample value to read: whole numbers in full (a byte counter's 257050812, not 2.570508e+08),
    others to seven significant digits without an exponent between 1e-4 and 1e15 (``NaN``, ``+Inf``
    as the API gives them)."""
    try:
        x = float(str(v))
    except ValueError:
        return str(v)
    if not math.isfinite(x):
        return str(v)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    if 1e-4 <= abs(x) < 1e15:
        decimals = max(0, 7 - (math.floor(math.log10(abs(x))) + 1))
        return f"{x:.{decimals}f}".rstrip("0").rstrip(".")
    return f"{x:.7g}"


def instant_rows(data: Any) -> list[tuple[str, list[str]]]:
    """Table rows of an instant result, whatever its type (vector, scalar, string, matrix)."""
    kind, result = data.get("resultType"), data.get("result")
    if kind in ("scalar", "string"):
        return [("0", [kind, str(result[1])])]
    rows = []
    for i, item in enumerate(result or []):
        name = series_name(item.get("metric") or {})
        if "value" in item:
            rows.append((str(i), [name, value_text(item["value"][1])]))
        else:  # a range vector selector: its newest sample
            values = item.get("values") or [[0, ""]]
            rows.append((str(i), [name, f"{value_text(values[-1][1])} ({len(values)} samples)"]))
    return rows


def range_series(data: Any) -> list[Series]:
    out = []
    for item in data.get("result") or []:
        points = []
        for t, v in item.get("values") or []:
            value = float(v)
            if math.isfinite(value):
                points.append((float(t), value))
        out.append(Series(series_name(item.get("metric") or {}), points))
    return out


class ExploreScreen(LiveScreen):
    TITLE = "Explore"
    DEFAULT_CSS = """
    ExploreScreen #query-row { height: 1; background: $panel; }
    ExploreScreen #prompt { width: auto; padding: 0 1; color: $accent; }
    ExploreScreen PromqlInput { width: 1fr; border: none; height: 1; padding: 0; }
    ExploreScreen #query-error { height: auto; color: $error; padding: 0 1; display: none; }
    ExploreScreen #query-error.-shown { display: block; }
    ExploreScreen #result-info { height: 1; color: $text-muted; padding: 0 1; }
    ExploreScreen #result-table { height: 1fr; }
    ExploreScreen #result-chart { display: none; }
    ExploreScreen.-chart #result-table { display: none; }
    ExploreScreen.-chart #result-chart { display: block; }
    ExploreScreen #history { display: none; height: auto; max-height: 12; border: round $accent; }
    ExploreScreen #history.-shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "toggle_view", "Table/chart"),
        Binding("ctrl+t", "toggle_view", "Table/chart", show=False),
        Binding("h", "history", "History"),
        Binding("ctrl+r", "history", "History", show=False),
        Binding("e", "edit", "Edit query"),
        Binding("slash", "filter", "Filter"),
        Binding("c", "clear_filter", "Clear filter", show=False),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queries = QueryHistory()
        self._values: dict[tuple[str, str | None], list[str]] = {}
        self._check_timer: Timer | None = None
        self._expr = ""
        self._range = ""
        self._result_info: str | Text = "enter runs · tab completes · ↑↓ history · esc to the result"
        """What the info line says when no signature is shown there: the hint, then the last result."""
        self._summary = ""  # the last result's kind and size

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="query-row"):
            yield Field("PromQL ›", id="prompt")
            yield PromqlInput(self.label_values, self.queries.queries, compact=True, id="expr")
        yield Field(id="query-error")
        yield Field(self._result_info, id="result-info")
        yield OptionList(id="history")
        yield FilterBar()
        yield LiveTable("Instant result", COLUMNS, id="result-table")
        yield SeriesChart(id="result-chart")

    def on_mount(self) -> None:
        field = self.query_one(PromqlInput)
        field.cursor_blink = False
        field.focus()
        self.watch(field, "_suggestion", lambda _: self._show_signature(field), init=False)
        self.watch(field, "selection", lambda _: self._show_signature(field), init=False)

    @property
    def follows_range(self) -> bool:
        """The result's chart covers the console's chart range."""
        return True

    def refresh_data(self) -> None:
        """Called on every flush: only a change of the chart range (``r``) asks the server again."""
        if self._expr and self._range != self.console.range_name:
            self._run_range(self._expr)

    # -- completion and checking -------------------------------------------------------------------

    async def label_values(self, name: str, metric: str | None = None) -> list[str]:
        """For the suggester: fetched once per label (and metric) and kept; a failure completes nothing."""
        key = (name, metric)
        if key not in self._values:
            client = self.console.client
            reply = await (client.label_names(metric) if name == "__labels__" else client.label_values(name, metric))
            if not reply.ok:
                return []
            self._values[key] = [str(v) for v in reply.data or []]
        return self._values[key]

    @on(Input.Changed, "#expr")
    def _typed(self, event: Input.Changed) -> None:
        self._show_signature(event.input)
        if self._check_timer is not None:
            self._check_timer.stop()
        if not event.value.strip():
            self._show_error("")
            return
        self._check_timer = self.set_timer(CHECK_DELAY_S, lambda: self._check(event.value))

    @work(group="check", exclusive=True, exit_on_error=False)
    async def _check(self, expr: str) -> None:
        """Parse errors come from the server; evaluating at time 0 touches no data, so it is cheap.
        An unfinished expression (``rate(`` just completed) shows no error until it is run."""
        reply = await self.console.client.prom_query(expr, at=0)
        if self.query_one(PromqlInput).value == expr:
            error = reply.error if reply.error.startswith("bad_data") else ""
            self._show_error("" if unfinished(expr, error) else error)

    def _show_signature(self, field: Input) -> None:
        """The signature of the function being completed, else of the call the cursor is in; with
        neither, the result line as it was."""
        suggestion = field._suggestion if field.cursor_at_end else ""
        completing = _LAST_NAME.find_submatch(suggestion[:-1]) if suggestion.endswith("(") else None
        name = completing[0] if completing else open_call(field.value[:field.cursor_position])
        text = signature(name) if name else None
        info = self.query_one("#result-info", Field)
        info.show(Text(text, style="italic", no_wrap=True) if text else self._result_info)

    def _show_result_info(self, text: str | Text) -> None:
        self._result_info = text
        self.query_one("#result-info", Field).show(text)

    def _show_error(self, message: str) -> None:
        field = self.query_one("#query-error", Field)
        field.show(Text(message))
        field.set_class(bool(message), "-shown")

    # -- running ---------------------------------------------------------------------------------

    @on(Input.Submitted, "#expr")
    def _submitted(self, event: Input.Submitted) -> None:
        """Run, and hand the keys to the result (v, r, /, h act at once; esc or e comes back)."""
        if event.value.strip():
            self._to_result()
        self.run_query(event.value)

    def _to_result(self) -> None:
        if self.has_class("-chart"):
            self.set_focus(None)
        else:
            self.query_one(LiveTable).focus()

    def run_query(self, expr: str) -> None:
        """Run ``expr`` as an instant and a range query (remembered once the server accepts it)."""
        expr = expr.strip()
        if not expr:
            return
        if self._check_timer is not None:
            self._check_timer.stop()
        self.query_one(PromqlInput).reset_history()
        self._expr = expr
        self._run_instant(expr)
        self._run_range(expr)

    @work(group="instant", exclusive=True, exit_on_error=False)
    async def _run_instant(self, expr: str) -> None:
        info = self._show_result_info
        info("running…")
        reply = await self.console.client.prom_query(expr)
        table = self.query_one(LiveTable)
        if not reply.ok:
            if reply.status in VALID_BUT_FAILED:
                self.queries.add(expr)  # worth running again, or narrowing from the history
            self._show_error(reply.error)
            info("")
            table.show([])
            self.action_edit()  # the query needs fixing: back to it
            return
        self._show_error("")
        self.queries.add(expr)
        self.query_one(PromqlInput).reset_history()
        try:
            rows = instant_rows(reply.data)
        except (AttributeError, TypeError, IndexError, KeyError):
            info("the server's answer is not a query result")
            return
        table.show(rows)
        self._summary = f"{reply.data.get('resultType', '')} · {len(rows)} series"
        info(self._summary_line())

    def _summary_line(self) -> Text:
        """The result's kind and size and the keys that act on it (``v`` names the other view)."""
        other = "table" if self.has_class("-chart") else "chart"
        return Text(f"{self._summary} · v {other} · r range · / filter · h history", no_wrap=True)

    @work(group="range", exclusive=True, exit_on_error=False)
    async def _run_range(self, expr: str) -> None:
        rng = RANGE_BY_NAME[self.console.range_name]
        self._range = rng.name
        chart = self.query_one(SeriesChart)
        width = max(10, self.size.width - AXIS_W - 2)
        step = max(1, math.ceil(rng.seconds / (2 * width)))  # one point per braille dot column
        end = math.floor(self.console.clock.now() / step) * step
        reply = await self.console.client.prom_query_range(expr, end - rng.seconds, end, step)
        if not reply.ok:
            chart.show_note(reply.error)
            return
        try:
            series = range_series(reply.data)
        except (AttributeError, TypeError, ValueError):
            chart.show_note("the server's answer is not a range result")
            return
        chart.show(series, end - rng.seconds, end, step)

    # -- history list ----------------------------------------------------------------------------

    def action_history(self) -> None:
        listing = self.query_one("#history", OptionList)
        if listing.has_class("-shown"):
            self._close_history()
            return
        listing.clear_options()
        listing.add_options(Option(Text(q), id=str(i)) for i, q in reversed(list(enumerate(self.queries.queries))))
        if not self.queries.queries:
            listing.add_option(Option(Text("no queries yet"), disabled=True))
        listing.border_title = "History · enter runs · esc closes"
        listing.add_class("-shown")
        listing.highlighted = 0
        listing.focus()

    def _close_history(self) -> None:
        self.query_one("#history", OptionList).remove_class("-shown")
        self.query_one(PromqlInput).focus()

    @on(OptionList.OptionSelected, "#history")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        expr = self.queries.queries[int(event.option.id or 0)]
        field = self.query_one(PromqlInput)
        field.value = expr
        field.cursor_position = len(expr)
        self._close_history()
        self.run_query(expr)

    # -- view, filter, focus ---------------------------------------------------------------------

    def action_toggle_view(self) -> None:
        self.toggle_class("-chart")
        if self._summary:
            self._show_result_info(self._summary_line())

    def action_edit(self) -> None:
        """Back to the query, the cursor at its end, nothing selected (typing adds to it)."""
        field = self.query_one(PromqlInput)
        field.focus()
        field.cursor_position = len(field.value)

    def action_filter(self) -> None:
        if self.has_class("-chart"):
            self.action_toggle_view()
        self.query_one(FilterBar).edit()

    def action_clear_filter(self) -> None:
        self.query_one(FilterBar).clear()
        self.query_one(LiveTable).set_filter(RowFilter(""))

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self.query_one(LiveTable).set_filter(RowFilter(event.text))

    def action_back(self) -> None:
        """esc: close the history or the filter, else move between the query and the result."""
        bar = self.query_one(FilterBar)
        if self.query_one("#history").has_class("-shown"):
            self._close_history()
        elif bar.editing:
            bar.close()
            self.query_one(LiveTable).focus()
        elif isinstance(self.focused, PromqlInput):
            self._to_result()
        else:
            self.action_edit()
