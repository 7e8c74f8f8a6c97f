"""Dashboards (key 0): the server's Grafana dashboards (``GET /api/dashboards``, so a console on
another machine draws the server's files) drawn in the terminal.

Panels are placed from ``gridPos`` (console/dashboard_layout.py) and query the server's
``/api/v1/query_range`` with the dashboard's variables filled in (engine/grafana_vars.py). Only the
panels on screen are queried, at most ``MAX_CONCURRENT`` queries at a time, once per refresh
interval; a panel scrolled into view or unfolded catches up then. A refresh that brings the same
answers repaints nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.timer import Timer
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from console.dashboard_data import MAX_CONCURRENT, fetch, window
from console.dashboard_layout import Section, layout, sections
from console.screens.base import LiveScreen
from console.screens.dashboard_dialogs import VariablesDialog
from console.widgets.dashboard_panels import DashPanel, RowHeader, make_panel
from console.widgets.field import Field
from console.widgets.table import UP_DOWN_KEYS
from engine.grafana_vars import (
    ALL,
    TemplateError,
    Variable,
    apply_regex,
    builtins,
    interpolate,
    parse_interval,
    parse_variables,
    result_lines,
    values_query,
)

RANGES = (300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400)
REFRESHES = (0, 5, 10, 30, 60, 300, 900, 3600)
"""Refresh choices in seconds (0 is off); the dashboard's own ``refresh`` is added when it differs."""
MIN_REFRESH_S = 5
DEFAULT_RANGE_S = 3600


def span_text(seconds: float) -> str:
    """``5m``, ``1h``, ``2d``: how the bar names a range or interval."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def dashboard_range(doc: dict[str, Any]) -> int:
    """The dashboard's ``time.from`` as seconds (``now-6h`` → 21600); an hour when it is not ``now-…``."""
    time = doc.get("time")
    start = time.get("from") if isinstance(time, dict) else None
    if isinstance(start, str) and start.startswith("now-"):
        seconds = parse_interval(start.removeprefix("now-"))
        if seconds is not None and seconds >= 60:
            return min(int(seconds), 365 * 86400)
    return DEFAULT_RANGE_S


def dashboard_refresh(doc: dict[str, Any]) -> int:
    """The dashboard's ``refresh`` in seconds (at least MIN_REFRESH_S); 0 when it has none."""
    raw = doc.get("refresh")
    seconds = parse_interval(raw) if isinstance(raw, str) and raw else None
    return 0 if seconds is None else max(MIN_REFRESH_S, int(seconds))


class DashboardList(OptionList):
    """The list of dashboards; ``j``/``k`` move like ``↓``/``↑`` (and ``g``/``G``), as in the tables."""

    BINDINGS = [
        *UP_DOWN_KEYS,
        Binding("g", "first", "First", show=False),
        Binding("G", "last", "Last", show=False),
    ]


class DashboardsScreen(LiveScreen):
    TITLE = "Dashboards"
    AUTO_FOCUS = "#dash-list"
    BINDINGS = [
        Binding("d", "choose", "Dashboards"),
        Binding("v", "variables", "Variables"),
        Binding("left_square_bracket", "range(-1)", "Shorter range"),
        Binding("right_square_bracket", "range(1)", "Longer range"),
        Binding("r", "cycle_range", "Dashboard range", show=False),
        Binding("u", "cycle_refresh", "Refresh interval"),
        Binding("R", "refresh_now", "Refresh now", show=False),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = """
    DashboardsScreen #dash-bar { height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap;
                                 text-overflow: ellipsis; }
    DashboardsScreen #dash-list { height: 1fr; border: round $primary 60%; text-wrap: nowrap;
                                  text-overflow: ellipsis; }
    DashboardsScreen #dash-body { height: 1fr; display: none; scrollbar-size-vertical: 1; }
    DashboardsScreen.-open #dash-list { display: none; }
    DashboardsScreen.-open #dash-body { display: block; }
    DashboardsScreen .dash-section { width: 1fr; }
    DashboardsScreen .dash-section.-collapsed { display: none; }
    DashboardsScreen #message { height: auto; padding: 0 1; }
    DashboardsScreen #message.-error { color: $error; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.doc: dict[str, Any] | None = None
        self.uid: str | None = None
        self.variables: list[Variable] = []
        self.sections: list[Section] = []
        self.range_s = DEFAULT_RANGE_S
        self.refresh_s = 0
        self.tick = 0
        """Bumped by each refresh: panels loaded for an older tick are stale."""
        self.in_flight: set[DashPanel] = set()
        self.resolving = False
        self._limit = asyncio.Semaphore(MAX_CONCURRENT)
        self._timer: Timer | None = None
        self._listed = False
        self._width = 0
        self._refreshed_at = 0.0

    def compose_body(self) -> ComposeResult:
        yield Field(id="dash-bar")
        yield DashboardList(id="dash-list")
        yield VerticalScroll(id="dash-body")
        yield Field(id="message")

    def on_mount(self) -> None:
        self.query_one("#dash-list", OptionList).border_title = "Dashboards"
        self.query_one("#message", Field).display = False
        self.watch(self.query_one("#dash-body"), "scroll_y", self._scrolled, init=False)
        self._show_bar()

    def refresh_data(self) -> None:
        """Called on each of the app's flushes while shown: the list is fetched once; panels keep
        their own time, but catch up at once when the screen comes back after a refresh was due."""
        if not self._listed:
            self._listed = True
            self.load_list()
        if self.refresh_s and self.console.clock.now() - self._refreshed_at >= self.refresh_s:
            self._on_timer()

    def say(self, text: str | Text, error: bool = False) -> None:
        """The message line takes a row only while it has something to say (80x24 is short)."""
        super().say(text, error)
        self.query_one("#message", Field).display = bool(str(text))

    # -- the list ----------------------------------------------------------------------------------

    @work(group="dash-list", exclusive=True, exit_on_error=False)
    async def load_list(self) -> None:
        reply = await self.console.client.get("/api/dashboards")
        entries = reply.data.get("dashboards") if reply.ok and isinstance(reply.data, dict) else None
        if not isinstance(entries, list):
            self._listed = False  # asked again at the next flush
            self.say(f"Cannot list the dashboards: {reply.error or 'not a list'}", error=True)
            return
        options = []
        for e in entries:
            if not isinstance(e, dict):
                continue
            if e.get("error") or not isinstance(e.get("uid"), str):
                options.append(Option(Text(f"{e.get('file')}: {e.get('error')}", style="dim"), disabled=True))
            else:
                tags = ", ".join(t for t in e.get("tags") or [] if isinstance(t, str))
                prompt = Text(str(e.get("title") or e["uid"]))
                prompt.append(f"  {e.get('source')} · {e.get('file')}{f' · {tags}' if tags else ''}", style="dim")
                options.append(Option(prompt, id=e["uid"]))
        listing = self.query_one("#dash-list", OptionList)
        at = listing.highlighted
        kept = listing.get_option_at_index(at).id if at is not None and at < listing.option_count else None
        listing.clear_options()
        listing.add_options(options)
        ids = [o.id for o in options]
        enabled = [i for i, o in enumerate(options) if not o.disabled]
        if kept is not None and kept in ids:  # the row the user was on stays highlighted across a reload
            listing.highlighted = ids.index(kept)
        elif enabled:  # else the first dashboard: enter opens it at once
            listing.highlighted = enabled[0]
        listing.border_subtitle = f"{len(enabled)} dashboards · enter opens"
        if self.doc is None and not self.has_class("-open"):
            self.say("")

    @on(OptionList.OptionSelected, "#dash-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.open_dashboard(event.option.id)

    @work(group="dash-open", exclusive=True, exit_on_error=False)
    async def open_dashboard(self, uid: str) -> None:
        """Fetch the dashboard ``uid`` from the server and draw it."""
        reply = await self.console.client.get(f"/api/dashboards/{quote(uid, safe='')}")
        if not reply.ok or not isinstance(reply.data, dict):
            self.say(f"Cannot open {uid}: {reply.error or 'not a dashboard'}", error=True)
            return
        await self.load(reply.data)

    async def load(self, doc: dict[str, Any]) -> None:
        """Draw ``doc``: its sections and panels, its range, refresh and variables, then the data."""
        self.doc, self.uid = doc, str(doc.get("uid") or "")
        self.variables = parse_variables(doc)
        self.sections = sections(doc)
        self.range_s = dashboard_range(doc)
        self.refresh_s = dashboard_refresh(doc)
        self._refreshed_at = self.console.clock.now()  # the variables' answer starts the first round
        self.in_flight.clear()
        body = self.query_one("#dash-body", VerticalScroll)
        await body.remove_children()
        widgets = []
        for section in self.sections:
            if section.row is not None:
                widgets.append(RowHeader(section))
            box = Container(*(make_panel(p) for p in section.panels), classes="dash-section")
            box.set_class(section.collapsed, "-collapsed")
            widgets.append(box)
        await body.mount_all(widgets)
        self.add_class("-open")
        self._width = 0
        self._relayout()
        body.scroll_home(animate=False)
        body.focus()
        self.say("")
        self._restart_timer()
        self._show_bar()
        self.resolve_variables(0)

    # -- layout ------------------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._relayout()
        self.call_after_refresh(self.load_visible)

    def _relayout(self) -> None:
        """Place every panel for the body's width (only when the width changed)."""
        if self.doc is None:
            return
        body = self.query_one("#dash-body", VerticalScroll)
        width = max(20, self.size.width - 1)  # the body spans the screen, less its scroll bar
        if width == self._width:
            return
        self._width = width
        for box in body.query(".dash-section"):
            panels = list(box.query(DashPanel))
            boxes, height = layout([p.spec for p in panels], width)
            box.styles.height = height
            for panel, place in zip(panels, boxes, strict=True):
                panel.styles.offset = (place.x, place.y)
                panel.styles.width = place.width
                panel.styles.height = place.height

    # -- variables ---------------------------------------------------------------------------------

    @work(group="dash-vars", exclusive=True, exit_on_error=False)
    async def resolve_variables(self, first: int) -> None:
        """Ask the server for the values of the queried variables from index ``first`` on, each with
        the ones before it filled in (as Grafana does), then refresh the panels."""
        self.resolving = True
        try:
            for var in self.variables[first:]:
                if var.queried:
                    var.set_options(await self._values(var))
        finally:
            self.resolving = False
        self._show_bar()
        self.action_refresh_now()

    async def _values(self, var: Variable) -> list[str]:
        query = values_query(var.query)
        if query is None:
            return var.options
        span = window(self.range_s, self.console.clock.now())
        known = {v.name: v for v in self.variables}
        try:
            match = interpolate(query.match, known, builtins(span.range_s, span.step_s, span.end))
            expr = interpolate(query.expr, known, builtins(span.range_s, span.step_s, span.end))
        except TemplateError as exc:
            self.say(f"Variable {var.name}: {exc}", error=True)
            return []
        client = self.console.client
        if query.expr:
            reply = await client.prom_query(expr, span.end)
            values = result_lines(reply.data.get("result") if reply.ok and isinstance(reply.data, dict) else None)
        else:
            params = {"start": f"{span.start:.0f}", "end": f"{span.end:.0f}", **({"match[]": match} if match else {})}
            reply = await client.prom_get(f"/api/v1/label/{quote(query.label, safe='')}/values", params)
            values = [v for v in reply.data if isinstance(v, str)] if reply.ok and isinstance(reply.data, list) else []
            if query.metric_regex:
                values = apply_regex(values, query.metric_regex)
        if not reply.ok:
            self.say(f"Variable {var.name}: {reply.error}", error=True)
        return values

    def action_variables(self) -> None:
        shown = [v for v in self.variables if not v.hidden and v.kind not in ("datasource", "constant")]
        if self.doc is None or not shown:
            self.say("Open a dashboard first." if self.doc is None else "This dashboard has no variables to choose.")
            return

        def chosen(changes: dict[str, list[str]] | None) -> None:
            if not changes:
                return
            first = len(self.variables)
            for i, var in enumerate(self.variables):
                if var.name in changes and changes[var.name] != var.current:
                    var.choose(changes[var.name])
                    first = min(first, i + 1)
            self._show_bar()
            self.resolve_variables(first)

        self.app.push_screen(VariablesDialog(shown), chosen)

    # -- time range and refresh --------------------------------------------------------------------

    def _ranges(self) -> list[int]:
        return sorted({*RANGES, dashboard_range(self.doc or {})})

    def action_range(self, direction: int) -> None:
        ranges = self._ranges()
        at = ranges.index(self.range_s) if self.range_s in ranges else 0
        self.set_range(ranges[max(0, min(len(ranges) - 1, at + direction))])

    def action_cycle_range(self) -> None:
        ranges = self._ranges()
        at = ranges.index(self.range_s) if self.range_s in ranges else -1
        self.set_range(ranges[(at + 1) % len(ranges)])

    def set_range(self, seconds: int) -> None:
        if seconds != self.range_s:
            self.range_s = seconds
            self._show_bar()
            self.action_refresh_now()

    def action_cycle_refresh(self) -> None:
        choices = sorted({*REFRESHES, dashboard_refresh(self.doc or {})})
        at = choices.index(self.refresh_s) if self.refresh_s in choices else 0
        self.refresh_s = choices[(at + 1) % len(choices)]
        self._restart_timer()
        self._show_bar()

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.refresh_s:
            self._timer = self.set_interval(self.refresh_s, self._on_timer)

    def _on_timer(self) -> None:
        """A refresh tick: skipped while paused, hidden, or while the last one is still running."""
        if self.console.client.paused or not self.is_current or self.in_flight or self.resolving:
            return
        self.action_refresh_now()

    def action_refresh_now(self) -> None:
        if self.doc is not None:
            self._refreshed_at = self.console.clock.now()
            self.tick += 1
            self.load_visible()

    # -- loading what is on screen -----------------------------------------------------------------

    def _scrolled(self) -> None:
        self.call_after_refresh(self.load_visible)

    @on(RowHeader.Toggled)
    def _row_toggled(self, event: RowHeader.Toggled) -> None:
        index = self.sections.index(event.header.section)
        box = list(self.query_one("#dash-body").query(".dash-section"))[index]
        box.set_class(event.header.section.collapsed, "-collapsed")
        self.call_after_refresh(self.load_visible)

    def visible_panels(self, ahead: bool = True) -> list[DashPanel]:
        """Panels of unfolded sections within the body's view (and, ``ahead``, one screen below it)."""
        body = self.query_one("#dash-body", VerticalScroll)
        view = body.region
        reach = view.grow((0, 0, view.height, 0)) if ahead else view
        out = []
        for panel in body.query(DashPanel):
            region = panel.region
            if region.height and region.overlaps(reach):
                out.append(panel)
        return out

    def load_visible(self) -> None:
        """Query the panels on screen whose data is older than the current tick; once they are
        current, those of the next screen down (so scrolling finds them drawn)."""
        if self.doc is None or self.resolving or not self.is_mounted:
            return
        for ahead in (False, True):
            wanted = [p for p in self.visible_panels(ahead)
                      if p.needs_data and p.loaded_for != self._generation() and p not in self.in_flight]
            if wanted or self.in_flight:
                break
        if wanted:
            self.in_flight.update(wanted)
            self._load(wanted)

    @property
    def settled(self) -> bool:
        """Nothing in flight, and every panel on screen shows the answer to the latest queries."""
        return (self.doc is not None and self.tick > 0 and not self.resolving and not self.in_flight
                and all(p.loaded_for == self._generation() for p in self.visible_panels() if p.needs_data))

    def _generation(self) -> tuple[object, ...]:
        return (self.uid, self.tick, self.range_s)

    @work(group="dash-panels", exit_on_error=False)
    async def _load(self, panels: list[DashPanel]) -> None:
        generation = self._generation()
        span = window(self.range_s, self.console.clock.now())
        known = {v.name: v for v in self.variables}
        try:
            results = await asyncio.gather(*(fetch(self.console.client, p.spec, known, span, self._limit)
                                             for p in panels))
        finally:
            self.in_flight.difference_update(panels)
        if self._generation() == generation:  # else the range or tick moved on: these answers are old
            with self.app.batch_update():
                for panel, data in zip(panels, results, strict=True):
                    panel.loaded_for = generation
                    panel.show_data(data, span)
        self.call_later(self.load_visible)  # what is still missing: the next screen down, or a newer tick

    # -- the bar and keys --------------------------------------------------------------------------

    def _show_bar(self) -> None:
        if self.doc is None:
            self.query_one("#dash-bar", Field).show(Text("Choose a dashboard: ↑↓ and enter", style="bold"))
            return
        bar = Text(str(self.doc.get("title") or self.uid), style="bold")
        every = span_text(self.refresh_s) if self.refresh_s else "off"
        bar.append(f" · last {span_text(self.range_s)} · refresh {every}")
        for var in self.variables:
            if not var.hidden and var.kind not in ("datasource", "constant"):
                bar.append(f" · {var.label}: ")
                bar.append(var.text(), style="bold" if var.current and var.current != [ALL] else "")
        self.query_one("#dash-bar", Field).show(bar)

    def action_choose(self) -> None:
        self.remove_class("-open")
        self.query_one("#dash-list", OptionList).focus()
        self.load_list()

    def action_back(self) -> None:
        """esc: from the list back to the open dashboard; on a dashboard, leave the focused row."""
        if not self.has_class("-open") and self.doc is not None:
            self.add_class("-open")
            self.query_one("#dash-body").focus()
            self.call_after_refresh(self.load_visible)
