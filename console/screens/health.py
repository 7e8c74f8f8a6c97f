"""Health (key 8): one row per health check, live from the `health` topic; details, a dependency view,
and adding, editing, deleting and running checks from the keyboard.

Rows are keyed by check name and every action reads the name under the cursor when its key is
pressed, so a live re-sort never sends a delete or a "check now" to a neighbouring check.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable

from console import format as fmt
from console.client import Reply
from console.plot import level
from console.screens.alert_dialogs import ConfirmDialog, parse_time
from console.screens.base import LiveScreen
from console.screens.health_dialogs import CheckDetails, CheckEditor
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.health_state import STATES, SYMBOL, latency_text, state_label, state_of, uptime_text
from console.widgets.table import Column, LiveTable, RowFilter

COLUMNS = (Column("state", "State"), Column("name", "Service"), Column("since", "Since", True),
           Column("latency", "Latency", True), Column("trend", "30m trend"), Column("up24h", "24h", True),
           Column("up7d", "7d", True), Column("up30d", "30d", True), Column("cert", "Cert", True),
           Column("error", "Last error"), Column("type", "Type"))
TREND_CELLS = 10
TREND_S = 1800
TREND_RELOAD_S = 60.0
"""The trend is PromQL over `probe_duration_seconds`; asked again at most this often while shown."""


def trend_text(values: list[float | None]) -> str:
    """One cell per time bucket, scaled to the row's own peak (the latency column gives the figure)."""
    top = max((v for v in values if v is not None), default=0.0)
    return "".join(level(None if v is None else v / top if top > 0 else 0.0) for v in values)


def service_row(service: dict[str, Any], trend: list[float | None] | None, now: float) -> list[str]:
    since = parse_time(service.get("since"))
    uptime = service.get("uptime") or {}
    days = service.get("certDaysLeft")
    return [state_of(service), str(service.get("name", "")),
            fmt.DASH if since is None else fmt.age(now - since), latency_text(service.get("latency")),
            trend_text(trend) if trend else "", uptime_text(uptime.get("24h")), uptime_text(uptime.get("7d")),
            uptime_text(uptime.get("30d")), fmt.DASH if not isinstance(days, (int, float)) else f"{days:.0f}d",
            str(service.get("lastError") or ""), str(service.get("type", ""))]


def sort_services(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worst state first, then by name: the same order on every refresh."""
    return sorted(services, key=lambda s: (STATES.index(state_of(s)), str(s.get("name"))))


class HealthBook:
    """The checks by name as the `health` stream and the API report them; the screen redraws from
    here once per flush, and the top bar counts the services down."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, Any]] = {}
        self.dirty = False

    def take(self, kind: str, data: Any) -> None:
        """Apply a snapshot (every check) or an update (one check's change)."""
        if not isinstance(data, dict):
            return
        if kind == "snapshot":
            self.load(data.get("services"))
            return
        service = data.get("service")
        if not isinstance(service, dict) or not service.get("name"):
            return
        name = str(service["name"])
        if data.get("event") == "deleted":
            self.services.pop(name, None)
        else:
            self.services[name] = {**self.services.get(name, {}), **service}
        self.dirty = True

    def load(self, services: Any) -> None:
        """Replace every check (a snapshot, or the full listing from the API)."""
        if isinstance(services, list):
            self.services = {str(s["name"]): s for s in services if isinstance(s, dict) and s.get("name")}
            self.dirty = True

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for service in self.services.values():
            out[state_of(service)] += 1
        return out


def dependency_view(services: dict[str, dict[str, Any]]) -> Text:
    """Which services are down because of which: each check that is down or degraded with the
    checks that depend on it under it, so the cause reads first and its consequences below."""
    dependents: dict[str, list[str]] = {}
    for name, service in services.items():
        for dep in service.get("dependsOn") or []:
            dependents.setdefault(str(dep), []).append(name)
    bad = {n for n, s in services.items() if state_of(s) in ("down", "degraded")}

    def is_cause(name: str) -> bool:
        deps = [str(d) for d in services[name].get("dependsOn") or []]
        return not any(d in bad for d in deps)

    text = Text()
    roots = sorted((n for n in bad if is_cause(n)), key=lambda n: (STATES.index(state_of(services[n])), n))
    if not bad:
        text.append("No service is down or degraded.\n", style="bold")
    for root in roots:
        _branch(text, services, dependents, root, "", set())
    chains = sorted(n for n in services if services[n].get("dependsOn"))
    if chains:
        text.append("\nDependencies\n", style="bold")
        for name in chains:
            text.append_text(state_label(state_of(services[name])))
            text.append(f" {name} ← ")
            for i, dep in enumerate(str(d) for d in services[name]["dependsOn"]):
                if i:
                    text.append(", ")
                known = services.get(dep)
                text.append(f"{SYMBOL[state_of(known)] if known else '?'} {dep}"
                            f"{'' if known else ' (no such check)'}")
            text.append("\n")
    return text


def _branch(text: Text, services: dict[str, dict[str, Any]], dependents: dict[str, list[str]], name: str,
            indent: str, seen: set[str]) -> None:
    service = services[name]
    text.append(indent + ("└ " if indent else ""))
    text.append_text(state_label(state_of(service)))
    text.append(f" {name}", style="bold")
    why = service.get("reason") or service.get("lastError")
    if why:
        text.append(f"  {why}")
    text.append("\n")
    seen = seen | {name}
    for child in sorted(dependents.get(name, [])):
        if child in services and child not in seen:  # a cycle is drawn once, not forever
            _branch(text, services, dependents, child, indent + "  ", seen)


class HealthTable(LiveTable):
    def cell(self, column: Column, value: str) -> Text:
        if column.key == "state":
            return state_label(value)
        text = super().cell(column, value)
        if column.key == "error" and value:
            text.stylize("red")
        elif column.key == "trend":
            text.stylize("cyan")
        return text


class HealthScreen(LiveScreen):
    TITLE = "Health"
    AUTO_FOCUS = "#checks"
    BINDINGS = [
        Binding("n", "new", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("d", "delete", "Delete"),
        Binding("c", "check", "Check now"),
        Binding("C", "check_all", "Check all", show=False),
        Binding("v", "dependencies", "Deps"),
        Binding("enter", "details", "Details", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("x", "clear_filter", "Clear filter", show=False),
        Binding("f5", "reload", "Reload", show=False),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = """
    HealthScreen #checks { height: 1fr; border: round $primary 60%; border-title-color: $text;
                           border-subtitle-color: $text-muted; }
    HealthScreen #checks:focus { border: round $accent; }
    HealthScreen #deps-view { display: none; height: 1fr; border: round $accent; border-title-color: $text; }
    HealthScreen.-deps #deps-view { display: block; }
    HealthScreen.-deps #checks { display: none; }
    HealthScreen #selected { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    HealthScreen #message { height: auto; padding: 0 1; }
    HealthScreen #message.-error { background: $error 20%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.trends: dict[str, list[float | None]] = {}
        self._trend_at: float | None = None

    def compose_body(self) -> ComposeResult:
        yield HealthTable("Checks", COLUMNS, id="checks")
        scroll = VerticalScroll(Field(id="deps"), id="deps-view")
        scroll.border_title = "Dependencies · v back to the list"
        yield scroll
        yield Field(id="selected")
        yield Field(id="message")
        yield FilterBar(clear_key="x")

    @property
    def table(self) -> HealthTable:
        return self.query_one("#checks", HealthTable)

    @property
    def book(self) -> HealthBook:
        return self.console.health

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.action_reload()

    def refresh_data(self) -> None:
        now = self.console.clock.now()
        services = sort_services(list(self.book.services.values()))
        self.table.show([(str(s["name"]), service_row(s, self.trends.get(str(s["name"])), now)) for s in services])
        counts = self.book.counts()
        title = "Checks · " + " · ".join(f"{counts[s]} {s}" for s in STATES if counts[s]) if services \
            else "Checks · none yet: n adds one"
        if self.table.border_title != title:
            self.table.border_title = title
        if self.has_class("-deps"):
            self.query_one("#deps", Field).show(dependency_view(self.book.services))
        self._show_selected()
        if self._trend_at is None or now - self._trend_at >= TREND_RELOAD_S:
            self._load_trends()

    @work(group="health", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        """The full listing (uptime, latency, certificates): the stream carries state changes only."""
        reply = await self.console.client.health_services()
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        self.book.load(reply.data.get("services"))
        self.refresh_data()

    @work(group="health-trend", exclusive=True, exit_on_error=False)
    async def _load_trends(self) -> None:
        now = self.console.clock.now()
        self._trend_at = now
        step = TREND_S // TREND_CELLS
        end = now // step * step
        reply = await self.console.client.prom_query_range(
            f"avg_over_time(probe_duration_seconds[{step}s])", end - TREND_S + step, end, step)
        if not reply.ok:
            return  # the column stays empty; the latency figure is still there
        trends: dict[str, list[float | None]] = {}
        for series in reply.data.get("result") or []:
            name = (series.get("metric") or {}).get("service")
            if not name:
                continue
            cells: list[float | None] = [None] * TREND_CELLS
            for t, v in series.get("values") or []:
                index = round((float(t) - (end - TREND_S + step)) / step)
                if 0 <= index < TREND_CELLS and math.isfinite(float(v)):
                    cells[index] = float(v)
            trends[str(name)] = cells
        self.trends = trends
        self.refresh_data()

    def selected(self) -> dict[str, Any] | None:
        """The check under the cursor, by name: what the user sees is what is acted on."""
        key = self.table.highlighted_key
        return self.book.services.get(key) if key is not None else None

    def _show_selected(self) -> None:
        service = self.selected()
        text = Text()
        if service is not None:
            text.append_text(state_label(state_of(service)))
            text.append(f" {service.get('name')}", style="bold")
            why = service.get("reason") or service.get("lastError")
            text.append(f": {why}" if why else "")
            deps = service.get("dependsOn") or []
            if deps:
                text.append(f"  (depends on {', '.join(map(str, deps))})")
        self.query_one("#selected", Field).show(text)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_selected()

    def say(self, text: str | Text, error: bool = False) -> None:
        message = self.query_one("#message", Field)
        message.set_class(error, "-error")
        message.show(text if isinstance(text, Text) else Text(text))

    # -- actions: each captures the selected check before any dialog opens ----------------------

    def action_new(self) -> None:
        self.app.push_screen(CheckEditor(self.console.client, None, sorted(self.book.services)), self._saved)

    def action_edit(self) -> None:
        service = self.selected()
        if service is not None:
            self.app.push_screen(CheckEditor(self.console.client, service, sorted(self.book.services)),
                                 self._saved)

    def _saved(self, name: str | None) -> None:
        if name:
            self.say(f"Saved {name}")
            self.action_reload()

    def action_delete(self) -> None:
        service = self.selected()
        if service is None:
            return
        name = str(service["name"])
        question = Text.assemble("Delete the health check ", (name, "bold"), "?\nIts history is kept until it expires.")
        self.app.push_screen(ConfirmDialog(question, "Delete"), lambda yes: self._delete(name, yes))

    @work(group="health-action", exit_on_error=False)
    async def _delete(self, name: str, yes: bool | None) -> None:
        if not yes:
            return
        reply = await self.console.client.delete_check(name)
        if self._report(reply, f"Deleted {name}"):
            self.book.services.pop(name, None)
            self.refresh_data()

    def action_check(self) -> None:
        service = self.selected()
        if service is not None:
            self._check(str(service["name"]))

    def action_check_all(self) -> None:
        self._check(None)

    @work(group="health-action", exit_on_error=False)
    async def _check(self, name: str | None) -> None:
        self.say(f"Checking {name or 'every service'}…")
        reply = await self.console.client.check_now(name)
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        results = [r for r in reply.data.get("results") or [] if isinstance(r, dict)]
        if name is not None and len(results) == 1:
            self.say(check_result(results[0]))
        else:
            counts = {s: sum(1 for r in results if state_of(r) == s) for s in STATES}
            self.say(f"Checked {len(results)}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
        self.action_reload()

    def _report(self, reply: Reply, success: str) -> bool:
        if not reply.ok:
            self.say(reply.error, error=True)
            return False
        self.say(success)
        return True

    def action_details(self) -> None:
        service = self.selected()
        if service is not None:
            self.app.push_screen(CheckDetails(self.console.client, service, self.book.services,
                                              self.console.clock.now(), self.console.range_name))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_dependencies(self) -> None:
        self.toggle_class("-deps")
        if self.has_class("-deps"):
            self.query_one("#deps", Field).show(dependency_view(self.book.services))
            self.query_one("#deps-view").focus()
        else:
            self.table.focus()

    # -- filter ---------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterBar).edit()

    def action_clear_filter(self) -> None:
        self.query_one(FilterBar).clear()
        self.table.set_filter(RowFilter(""))

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self.table.set_filter(RowFilter(event.text))

    def action_back(self) -> None:
        bar = self.query_one(FilterBar)
        if bar.editing:
            bar.close()
            self.table.focus()
        elif self.has_class("-deps"):
            self.action_dependencies()


def check_result(result: dict[str, Any]) -> Text:
    """One check's answer to "check now", as a line: state, name, latency and error."""
    text = state_label(state_of(result))
    text.append(f" {result.get('name')}", style="bold")
    text.append(f" in {latency_text(result.get('latency'))}")
    error = result.get("error") or result.get("lastError")
    if error:
        text.append(f": {error}")
    return text
