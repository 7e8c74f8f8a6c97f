"""Alerts (key 3): firing and pending alerts, live from the `alerts` topic, and recently resolved ones.

Rows are keyed by alert id and every action reads the id under the cursor when the key is pressed,
so a live re-sort never redirects an acknowledgement to a neighbouring alert.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from console import format as fmt
from console.client import Reply
from console.screens.alert_dialogs import (
    AcknowledgeDialog,
    Acknowledgement,
    AlertDetails,
    ResolveDialog,
    SilenceDialog,
    SilenceRequest,
    alert_title,
    parse_time,
)
from console.screens.base import FilteredScreen
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.table import Column, LiveTable

SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3}
SEVERITY_STYLE = {"critical": "bold red", "error": "red", "warning": "yellow", "info": "cyan"}
COLUMNS = (Column("severity", "Severity"), Column("name", "Alert"), Column("state", "State"),
           Column("since", "Since", True), Column("value", "Value", True), Column("ack", "Ack by"),
           Column("silenced", "Sil"))


class AlertBook:
    """The live alerts by id, from the stream: updates are applied as they arrive (cheap), the
    screen redraws from here once per flush."""

    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}
        self.dirty = False

    def take(self, kind: str, data: Any) -> list[dict[str, Any]]:
        """Apply a snapshot or update; the alerts that just started firing (to notify about)."""
        if not isinstance(data, dict):
            return []
        self.dirty = True
        if kind == "snapshot":
            self.alerts = {str(a["id"]): a for a in data.get("alerts") or [] if isinstance(a, dict) and "id" in a}
            return []
        alert = data.get("alert")
        if not isinstance(alert, dict) or "id" not in alert:
            return []
        if data.get("event") == "resolved" or alert.get("state") == "resolved":
            self.alerts.pop(str(alert["id"]), None)
            return []
        self.alerts[str(alert["id"])] = alert
        return [alert] if data.get("event") == "firing" else []

    def counts(self) -> tuple[int, int]:
        """(firing, firing and not acknowledged): the top bar's figures."""
        firing = [a for a in self.alerts.values() if a.get("state") == "firing"]
        return len(firing), sum(1 for a in firing if not a.get("acknowledgement"))


def sort_alerts(alerts: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Severity (most severe, then oldest first) or age (newest first); ties by name and labels, then id,
    so the order is the same on every refresh and every run."""
    def tie(a: dict[str, Any]) -> tuple[str, str, str]:
        return str(a.get("name")), str(sorted((a.get("labels") or {}).items())), str(a["id"])

    if by == "age":
        return sorted(alerts, key=lambda a: (-(parse_time(a.get("activeAt")) or 0.0), *tie(a)))
    return sorted(alerts, key=lambda a: (SEVERITY_RANK.get(str(a.get("severity")), 9),
                                         parse_time(a.get("activeAt")) or 0.0, *tie(a)))


def alert_row(alert: dict[str, Any], now: float) -> list[str]:
    ack = alert.get("acknowledgement") or {}
    since = parse_time(alert.get("resolvedAt") if alert.get("state") == "resolved" else alert.get("activeAt"))
    value = alert.get("value")
    return [str(alert.get("severity") or fmt.DASH), alert_title(alert).plain, str(alert.get("state", "")),
            fmt.DASH if since is None else fmt.age(now - since),
            f"{value:.4g}" if isinstance(value, (int, float)) else str(value),
            str(ack.get("by") or alert.get("resolvedBy") or ""), "S" if alert.get("silencedBy") else ""]


class AlertTable(LiveTable):
    def cell(self, column: Column, value: str) -> Text:
        text = super().cell(column, value)
        if column.key == "severity":
            text.stylize(SEVERITY_STYLE.get(value, ""))
        elif column.key == "silenced" and value:
            text.stylize("bold magenta")
        return text


class AlertsScreen(FilteredScreen):
    TITLE = "Alerts"
    AUTO_FOCUS = "#alerts"
    BINDINGS = [
        Binding("a", "acknowledge", "Ack"),
        Binding("r", "resolve", "Resolve"),
        Binding("s", "silence", "Silence"),
        Binding("enter", "details", "Details", show=False),
        Binding("S", "sort('severity')", "Sort sev"),
        Binding("A", "sort('age')", "Sort age"),
        Binding("h", "history", "Resolved"),
        Binding("slash", "filter", "Filter"),
        Binding("c", "clear_filter", "Clear filter", show=False),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = """
    AlertsScreen #alerts { height: 1fr; border: round $primary 60%; border-title-color: $text;
                           border-subtitle-color: $text-muted; }
    AlertsScreen #alerts:focus { border: round $accent; }
    AlertsScreen #message { height: auto; padding: 0 1; }
    AlertsScreen #message.-error { background: $error 20%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.sort_by = "severity"
        self.history = False
        self.resolved: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield AlertTable("Firing and pending", COLUMNS, id="alerts")
        yield Field(id="message")
        yield FilterBar()

    @property
    def table(self) -> AlertTable:
        return self.query_one("#alerts", AlertTable)

    def shown(self) -> list[dict[str, Any]]:
        return self.resolved if self.history else list(self.console.alerts.alerts.values())

    def refresh_data(self) -> None:
        now = self.console.clock.now()
        alerts = sort_alerts(self.shown(), "age" if self.history else self.sort_by)
        self.table.show([(str(a["id"]), alert_row(a, now)) for a in alerts])
        title = "Resolved (last 24h)" if self.history else f"Firing and pending · sorted by {self.sort_by}"
        if self.table.border_title != title:
            self.table.border_title = title

    def selected(self) -> dict[str, Any] | None:
        """The alert under the cursor, by id: what the user sees is what is acted on."""
        key = self.table.highlighted_key
        return next((a for a in self.shown() if str(a["id"]) == key), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("acknowledge", "resolve", "silence") and self.history:
            return None
        return True

    # -- actions: each captures the selected alert before any dialog opens ----------------------

    def action_acknowledge(self) -> None:
        alert = self.selected()
        if alert is None:
            return
        client = self.console.client

        def send(answer: Acknowledgement) -> Awaitable[Reply]:
            return client.acknowledge(str(alert["id"]), answer.comment, answer.expires_in)

        self.app.push_screen(AcknowledgeDialog(alert, send), lambda reply: self._acknowledged(alert, reply))

    def _acknowledged(self, alert: dict[str, Any], reply: Reply | None) -> None:
        """The dialog sent the acknowledgement (a refusal stays in the dialog)."""
        if reply is not None:
            self._done(reply, f"Acknowledged {alert_title(alert).plain}", reply.data and reply.data.get("alert"))

    def action_resolve(self) -> None:
        alert = self.selected()
        if alert is None:
            return
        client = self.console.client

        def send(comment: str) -> Awaitable[Reply]:
            return client.resolve(str(alert["id"]), comment)

        self.app.push_screen(ResolveDialog(alert, send), lambda reply: self._resolved(alert, reply))

    def _resolved(self, alert: dict[str, Any], reply: Reply | None) -> None:
        if reply is None:
            return
        self._done(reply, f"Resolved {alert_title(alert).plain}", None)
        if reply.ok:
            self.console.alerts.alerts.pop(str(alert["id"]), None)
            self.refresh_data()

    def action_silence(self) -> None:
        alert = self.selected()
        if alert is None:
            return
        self.app.push_screen(SilenceDialog(alert), lambda answer: self._silence(alert, answer))

    @work(group="alert-action", exit_on_error=False)
    async def _silence(self, alert: dict[str, Any], answer: SilenceRequest | None) -> None:
        if answer is None:
            return
        reply = await self.console.client.silence(answer.matchers, answer.duration, answer.comment)
        self._done(reply, f"Silenced {alert_title(alert).plain} for {answer.duration}", None)

    def _done(self, reply: Any, success: str, alert: dict[str, Any] | None) -> None:
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        if alert is not None and str(alert.get("id")) in self.console.alerts.alerts:
            self.console.alerts.alerts[str(alert["id"])] = alert  # shown now; the stream confirms
            self.refresh_data()
        self.say(success)

    def action_details(self) -> None:
        alert = self.selected()
        if alert is not None:
            self.app.push_screen(AlertDetails(self.console.client, alert, self.console.clock.now()))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_sort(self, by: str) -> None:
        self.sort_by = by
        self.refresh_data()

    def action_history(self) -> None:
        self.history = not self.history
        self.refresh_bindings()
        if self.history:
            self._load_resolved()
        self.refresh_data()

    @work(group="resolved", exclusive=True, exit_on_error=False)
    async def _load_resolved(self) -> None:
        reply = await self.console.client.alerts(state="resolved", sort="age")
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        self.resolved = list(reply.data.get("alerts") or [])
        if self.history:
            self.refresh_data()

    def action_back(self) -> None:
        if self.close_filter(self.table):
            return
        if self.history:
            self.action_history()
