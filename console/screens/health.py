"""Health (key 8): one row per health check, live from the `health` topic; details, a dependency view,
and adding, editing, deleting and running checks from the keyboard.

Rows are keyed by check name and every action reads the name under the cursor when its key is
pressed, so a live re-sort never sends a delete or a "check now" to a neighbouring check.
"""

from __future__ import annotations

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
from console.screens.base import FilteredScreen
from console.screens.health_dialogs import CheckDetails, CheckEditor
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.health_state import STATES, SYMBOL, latency_text, state_label, state_of, uptime_text
from console.widgets.table import Column, LiveTable

COLUMNS = (Column("state", "State"), Column("name", "Service"), Column("since", "Since", True),
           Column("latency", "Latency", True), Column("trend", "Trend"), Column("up24h", "24h", True),
           Column("up7d", "7d", True), Column("up30d", "30d", True), Column("cert", "Cert", True),
           Column("type", "Type"), Column("error", "Last error"))
TREND_CELLS = 10
"""The latest results in the trend column, one cell each (a failed check is ``·``)."""
RELOAD_S = 30.0
"""The listing (uptime, latency) is asked again this often while the screen is shown, and after a change."""


def trend_text(latencies: Any) -> str:
    """The latest results' latencies, scaled to the row's own peak (the latency column gives the figure)."""
    values = [p[1] if isinstance(p[1], (int, float)) else None
              for p in (latencies if isinstance(latencies, list) else [])[-TREND_CELLS:]
              if isinstance(p, list) and len(p) == 2]
    top = max((v for v in values if v is not None), default=0.0)
    return "".join(level(None if v is None else v / top if top > 0 else 0.0) for v in values)


def service_row(service: dict[str, Any], now: float) -> list[str]:
    since = parse_time(service.get("since"))
    uptime = service.get("uptime") or {}
    days = service.get("certDaysLeft")
    return [state_of(service), str(service.get("name", "")),
            fmt.DASH if since is None else fmt.age(now - since), latency_text(service.get("latencyMs")),
            trend_text(service.get("latencies")), uptime_text(uptime.get("24h")), uptime_text(uptime.get("7d")),
            uptime_text(uptime.get("30d")), fmt.DASH if not isinstance(days, (int, float)) else f"{days:.0f}d",
            str(service.get("type", "")), str(service.get("lastError") or "")]


def sort_services(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worst state first, then by name: the same order on every refresh."""
    return sorted(services, key=lambda s: (STATES.index(state_of(s)), str(s.get("name"))))


class HealthBook:
    """The checks by name, from the API's listing and the `health` stream; the screen redraws from
    here once per flush, and the top bar counts the services down."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, Any]] = {}
        self.dirty = False
        self.stale = False
        """A state changed since the last listing: its uptime and latency figures are older than it."""

    def take(self, kind: str, data: Any) -> None:
        """Apply the topic's snapshot (every check's state) or update (one check's change)."""
        if not isinstance(data, dict):
            return
        if kind == "snapshot":
            items = [s for s in data.get("services") or [] if isinstance(s, dict) and s.get("service")]
            self.services = {str(s["service"]): {**self.services.get(str(s["service"]), {}), **_change(s)}
                             for s in items}
        elif data.get("service"):
            name = str(data["service"])
            if data.get("state") == "deleted":
                self.services.pop(name, None)
            else:
                self.services[name] = {**self.services.get(name, {}), **_change(data)}
        self.dirty = self.stale = True

    def load(self, services: Any) -> None:
        """Replace every check with the API's listing."""
        if isinstance(services, list):
            self.services = {str(s["name"]): s for s in services if isinstance(s, dict) and s.get("name")}
            self.dirty, self.stale = True, False

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for service in self.services.values():
            out[state_of(service)] += 1
        return out


def _change(event: dict[str, Any]) -> dict[str, Any]:
    """A stream message's fields in the listing's shape."""
    return {"name": str(event["service"]), "state": event.get("state"), "reason": event.get("reason"),
            "since": event.get("since")}


def dependency_view(services: dict[str, dict[str, Any]]) -> Text:
    """Which services are down because of which: each failing check that depends on no failing
    check, with the failing checks that depend on it under it (the cause first, its consequences
    below), then every declared dependency with its state."""
    dependents: dict[str, list[str]] = {}
    for name, service in services.items():
        for dep in service.get("dependsOn") or []:
            dependents.setdefault(str(dep), []).append(name)
    bad = {n for n, s in services.items() if state_of(s) in ("down", "degraded")}
    causes = [n for n in bad if not any(str(d) in bad for d in services[n].get("dependsOn") or [])]
    text = Text()
    if not bad:
        text.append("No service is down or degraded.\n", style="bold")
    drawn: set[str] = set()
    rank = {n: (STATES.index(state_of(services[n])), n) for n in bad}
    for root in sorted(causes, key=rank.__getitem__) + sorted(bad, key=rank.__getitem__):
        if root not in drawn:  # the second pass draws what only a cycle of failures reaches
            _branch(text, services, {k: [c for c in v if c in bad] for k, v in dependents.items()}, root, "", drawn)
    chains = sorted(n for n in services if services[n].get("dependsOn"))
    if chains:
        text.append("\nDependencies\n", style="bold")
        for name in chains:
            text.append_text(state_label(state_of(services[name])))
            text.append(f" {name} ← ")
            for i, dep in enumerate(str(d) for d in services[name]["dependsOn"]):
                known = services.get(dep)
                text.append(f"{', ' if i else ''}{SYMBOL[state_of(known)] if known else '?'} {dep}"
                            f"{'' if known else ' (no such check)'}")
            text.append("\n")
    return text


def _branch(text: Text, services: dict[str, dict[str, Any]], dependents: dict[str, list[str]], name: str,
            indent: str, drawn: set[str]) -> None:
    service = services[name]
    drawn.add(name)
    text.append(indent + ("└ " if indent else ""))
    text.append_text(state_label(state_of(service)))
    text.append(f" {name}", style="bold")
    why = service.get("reason") or service.get("lastError")
    if why:
        text.append(f"  {why}")
    text.append("\n")
    for child in sorted(dependents.get(name, [])):
        if child in services and child not in drawn:  # a cycle is drawn once, not forever
            _branch(text, services, dependents, child, indent + "  ", drawn)


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


class HealthScreen(FilteredScreen):
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
    HealthScreen #deps-view { display: none; height: 1fr; border: round $accent; border-title-color: $text;
                              padding: 0 1; }
    HealthScreen.-deps #deps-view { display: block; }
    HealthScreen.-deps #checks { display: none; }
    HealthScreen #selected { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    HealthScreen #message { height: auto; padding: 0 1; }
    HealthScreen #message.-error { background: $error 20%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._loaded_at: float | None = None

    @property
    def follows_range(self) -> bool:
        """A check's details open with its latency chart over the console's chart range: ``r`` sets it here."""
        return True

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

    def refresh_data(self) -> None:
        now = self.console.clock.now()
        services = sort_services(list(self.book.services.values()))
        self.table.show([(str(s["name"]), service_row(s, now)) for s in services])
        counts = self.book.counts()
        title = "Checks · " + " · ".join(f"{counts[s]} {s}" for s in STATES if counts[s]) if services \
            else "Checks · none yet: n adds one"
        if self.table.border_title != title:
            self.table.border_title = title
        if self.has_class("-deps"):
            self.query_one("#deps", Field).show(dependency_view(self.book.services))
        self._show_selected()
        if self.book.stale or self._loaded_at is None or now - self._loaded_at >= RELOAD_S:
            self.action_reload()

    @work(group="health", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        """The full listing (uptime, latency, certificates): the stream carries state changes only."""
        self._loaded_at = self.console.clock.now()
        self.book.stale = False
        reply = await self.console.client.health_services()
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        self.book.load(reply.data.get("services"))
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

    # -- actions: each captures the selected check before any dialog opens ----------------------

    def action_new(self) -> None:
        self.app.push_screen(CheckEditor(self.console.client, None, sorted(self.book.services)), self._saved)

    def _editable(self, service: dict[str, Any]) -> bool:
        if service.get("editable") is False:
            self.say(f"{service['name']} comes from the {service.get('source')}: change it there", error=True)
            return False
        return True

    def action_edit(self) -> None:
        service = self.selected()
        if service is not None and self._editable(service):
            self.app.push_screen(CheckEditor(self.console.client, service, sorted(self.book.services)),
                                 self._saved)

    def _saved(self, name: str | None) -> None:
        if name:
            self.say(f"Saved {name}")
            self.action_reload()

    def action_delete(self) -> None:
        service = self.selected()
        if service is None or not self._editable(service):
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
        results = [r for r in reply.data.get("services") or [] if isinstance(r, dict)]
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

    def action_back(self) -> None:
        if self.close_filter(self.table):
            return
        if self.has_class("-deps"):
            self.action_dependencies()


def check_result(result: dict[str, Any]) -> Text:
    """One check's answer to "check now", as a line: state, name, latency and error."""
    text = state_label(state_of(result))
    text.append(f" {result.get('name')}", style="bold")
    text.append(f" in {latency_text(result.get('latencyMs'))}")
    why = result.get("reason") or result.get("lastError")
    if why and state_of(result) != "up":
        text.append(f": {why}")
    return text
