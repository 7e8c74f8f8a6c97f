"""Fleet (key F, with several servers): one row per server and the alerts of all of them.

``enter`` on a server switches the whole console to it; on an alert, to its server's Alerts screen.
Rows are keyed by server URL and alert id (the server's URL with it), so a re-sort never makes
``enter`` pick a neighbour.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from console import format as fmt
from console.fleet import Member, MemberState
from console.screens.alerts import AlertTable, alert_row, sort_alerts
from console.screens.base import FilteredScreen
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.table import Column, LiveTable

SERVERS = (Column("server", "Server"), Column("state", "State"), Column("cpu", "CPU", True),
           Column("mem", "Mem", True), Column("load", "Load", True), Column("uptime", "Uptime", True),
           Column("firing", "Firing", True), Column("down", "Down", True), Column("version", "Version"))
ALERTS = (Column("server", "Server"), Column("severity", "Severity"), Column("state", "State"),
          Column("name", "Alert"), Column("since", "Since", True), Column("ack", "Ack by"))
STATE_STYLE: dict[str, str] = {MemberState.UP: "green", MemberState.DOWN: "bold red",
                               MemberState.UNAUTHORIZED: "bold yellow"}
ACTIVE = "▶ "
SEP = "\x1f"
"""Between the server URL and the alert id in an alert row's key."""


def server_row(member: Member, active: bool) -> list[str]:
    """The servers table's cells; figures only while the server answers."""
    system = member.system if member.state == MemberState.UP else {}
    uptime = system.get("uptime_seconds")
    up = member.state == MemberState.UP
    return [f"{ACTIVE if active else '  '}{member.address}", str(member.state),
            fmt.percent(system.get("cpu_percent")), fmt.percent(system.get("memory_used_percent")),
            fmt.number(system.get("load1")),
            fmt.uptime(uptime) if isinstance(uptime, (int, float)) else fmt.DASH,
            str(member.firing) if up and member.firing is not None else fmt.DASH,
            str(member.checks_down) if up and member.checks_down is not None else fmt.DASH,
            member.version or fmt.DASH]


def fleet_alert_rows(pairs: list[tuple[Member, dict[str, Any]]], now: float) -> list[tuple[str, list[str]]]:
    """The combined alerts, most severe first across servers; the value column is left out (its unit
    is each server's rule's)."""
    by_id = {id(a): m for m, a in pairs}
    rows = []
    for alert in sort_alerts([a for _, a in pairs], "severity"):
        member = by_id[id(alert)]
        cells = alert_row(alert, now, None)
        rows.append((f"{member.url}{SEP}{alert['id']}", [member.address, *cells[:4], cells[5]]))
    return rows


class ServerTable(LiveTable):
    def cell(self, column: Column, value: str) -> Text:
        text = super().cell(column, value)
        if column.key == "state":
            text.stylize(STATE_STYLE.get(value, ""))  # a StrEnum member is found by its text
        return text


class FleetScreen(FilteredScreen):
    TITLE = "Fleet"
    AUTO_FOCUS = "#servers"
    BINDINGS = [
        Binding("enter", "switch", "Switch to server"),
        Binding("slash", "filter", "Filter"),
        Binding("c", "clear_filter", "Clear filter", show=False),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = """
    FleetScreen LiveTable { border: round $primary 60%; border-title-color: $text; border-subtitle-color: $text-muted; }
    FleetScreen LiveTable:focus { border: round $accent; }
    FleetScreen #servers { height: auto; max-height: 50%; }
    FleetScreen #fleet-alerts { height: 1fr; }
    FleetScreen #reasons { height: auto; max-height: 6; padding: 0 1; color: $text-muted; }
    FleetScreen #message { height: auto; padding: 0 1; }
    FleetScreen #message.-error { background: $error 20%; }
    """

    def compose_body(self) -> ComposeResult:
        yield ServerTable("Servers · enter switches the console to one", SERVERS, id="servers")
        yield Field(id="reasons")
        yield AlertTable("Alerts across the fleet", ALERTS, id="fleet-alerts")
        yield Field(id="message")
        yield FilterBar()

    def refresh_data(self) -> None:
        fleet = self.console.fleet
        if fleet is None:
            return
        active = self.console.client.base_url
        members = list(fleet.members.values())
        self.query_one("#servers", LiveTable).show([(m.url, server_row(m, m.url == active)) for m in members])
        reasons = Text("\n".join(f"{m.address} {m.state}: {m.reason}" for m in members if m.reason))
        field = self.query_one("#reasons", Field)
        field.display = bool(reasons)
        field.show(reasons)
        self.query_one("#fleet-alerts", LiveTable).show(fleet_alert_rows(fleet.alerts(), self.console.clock.now()))

    def action_switch(self) -> None:
        table = self.focused if isinstance(self.focused, LiveTable) else self.query_one("#servers", LiveTable)
        key = table.highlighted_key
        if key is None:
            return
        url = key.split(SEP, 1)[0]
        self.console.switch_server(url, "alerts" if table.id == "fleet-alerts" else None)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_switch()

    def action_back(self) -> None:
        self.close_filter(self.query_one("#servers", LiveTable))
