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
    alert_title,
    parse_time,
)
from console.screens.base import TABLE_SCREEN_CSS, FilteredScreen
from console.screens.silences import SilenceActions, SilencedAlertDialog, SilencesScreen
from console.units import RuleUnits, humanise
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.table import Column, LiveTable

SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3}
UNREADABLE = "?"
"""The age of an alert whose time the server sent in a form we cannot read."""
SEVERITY_STYLE = {"critical": "bold red", "error": "red", "warning": "yellow", "info": "cyan"}
COLUMNS = (Column("severity", "Severity"), Column("state", "State"), Column("name", "Alert", shrinks=True),
           Column("since", "Since", True), Column("value", "Value", True), Column("ack", "Ack by"))
"""The state before the long alert title, so a silenced alert shows as such at 80 columns too."""


class AlertBook:
    """The live alerts by id, from the stream: updates are applied as they arrive (cheap), the
    screen redraws from here once per flush."""

    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}
        self.dirty = False
        self.version = 0
        """Counts the changes taken: a screen that reads more than the alerts (Rules) reloads when it moves."""

    def take(self, kind: str, data: Any) -> list[dict[str, Any]]:
        """Apply a snapshot or update; the alerts that just started firing and are not silenced (to
        notify about: a silence is someone saying they know)."""
        if not isinstance(data, dict):
            return []
        self.dirty = True
        self.version += 1
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
        return [alert] if data.get("event") == "firing" and not alert.get("silencedBy") else []

    def counts(self) -> tuple[int, int, int]:
        """(firing, firing and not acknowledged, firing and silenced): the top bar's figures; a
        silenced alert counts only as silenced."""
        firing = [a for a in self.alerts.values() if a.get("state") == "firing"]
        loud = [a for a in firing if not a.get("silencedBy")]
        return len(loud), sum(1 for a in loud if not a.get("acknowledgement")), len(firing) - len(loud)


def sort_alerts(alerts: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Severity (most severe, then oldest first) or age (newest first); ties by name and labels, then id,
    so the order is the same on every refresh and every run."""
    def tie(a: dict[str, Any]) -> tuple[str, str, str]:
        return str(a.get("name")), str(sorted((a.get("labels") or {}).items())), str(a["id"])

    if by == "age":
        return sorted(alerts, key=lambda a: (-(parse_time(a.get("activeAt")) or 0.0), *tie(a)))
    return sorted(alerts, key=lambda a: (SEVERITY_RANK.get(str(a.get("severity")), 9),
                                         parse_time(a.get("activeAt")) or 0.0, *tie(a)))


def alert_row(alert: dict[str, Any], now: float, unit: str | None = "") -> list[str]:
    """The table's cells; ``unit`` None: the value's unit is not known yet, so no value is shown."""
    ack = alert.get("acknowledgement") or {}
    raw_since = alert.get("resolvedAt") if alert.get("state") == "resolved" else alert.get("activeAt")
    since = parse_time(raw_since)
    state = str(alert.get("state", ""))
    if alert.get("silencedBy") and state != "resolved":
        state = "silenced"
    return [str(alert.get("severity") or fmt.DASH), state, alert_title(alert).plain,
            fmt.DASH if raw_since in (None, "") else UNREADABLE if since is None else fmt.age(now - since),
            fmt.DASH if unit is None else humanise(alert.get("value"), unit),
            str(ack.get("by") or alert.get("resolvedBy") or "")]


class AlertTable(LiveTable):
    def cell(self, column: Column, value: str) -> Text:
        text = super().cell(column, value)
        if column.key == "severity":
            text.stylize(SEVERITY_STYLE.get(value, ""))
        elif column.key == "state" and value == "silenced":
            text.stylize("bold magenta")
        return text


class LiveAlertDetails(AlertDetails):
    """The details of a live alert follow each evaluation (value, annotations, acknowledgement), the
    value in its rule's unit."""

    FOLLOW_S = 1.0

    def __init__(self, client: Any, alert: dict[str, Any], now: float, unit: str) -> None:
        super().__init__(client, self._humanised(alert, unit), now, unit)

    @staticmethod
    def _humanised(alert: dict[str, Any], unit: str) -> dict[str, Any]:
        return {**alert, "value": humanise(alert.get("value"), unit)}

    def on_mount(self) -> None:
        self.set_interval(self.FOLLOW_S, self._follow)

    def _follow(self) -> None:
        current = self.app.alerts.alerts.get(str(self.alert["id"]))
        if current is None:
            return
        self.alert = self._humanised(current, self.unit)
        self.query_one("#facts", Field).show(self._facts(self.alert, self.app.clock.now()))


class AlertsScreen(SilenceActions, FilteredScreen):
    TITLE = "Alerts"
    AUTO_FOCUS = "#alerts"
    BINDINGS = [
        Binding("a", "acknowledge", "Ack"),
        Binding("r", "resolve", "Resolve"),
        Binding("s", "silence", "Silence"),
        Binding("enter", "details", "Details", show=False),
        Binding("S", "silences", "Silences"),
        Binding("o", "sort", "Sort"),
        Binding("h", "history", "Resolved"),
        Binding("slash", "filter", "Filter"),
        Binding("c", "clear_filter", "Clear filter", show=False),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = TABLE_SCREEN_CSS.format(screen="AlertsScreen", table="alerts")

    def __init__(self) -> None:
        super().__init__()
        self.sort_by = "severity"
        self.history = False
        self.resolved: list[dict[str, Any]] = []
        self.units = RuleUnits()

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
        if self.units.missing(alerts):
            self._load_units()
        self.table.show([(str(a["id"]), alert_row(a, now, self.units.of(a))) for a in alerts])
        self._label_by_column()
        title = "Resolved (last 24h)" if self.history else f"Firing and pending · sorted by {self.sort_by}"
        if self.table.border_title != title:
            self.table.border_title = title

    def _label_by_column(self) -> None:
        """Who acknowledged a live alert, who resolved a resolved one: the column says which."""
        column = self.table.columns.get("ack")  # type: ignore[call-overload]
        label = "Resolved by" if self.history else "Ack by"
        if column is not None and column.label.plain != label:
            column.label = Text(label)
            column.content_width = max(column.content_width, len(label))
            self.table.refresh(layout=True)

    @work(group="units", exclusive=True, exit_on_error=False)
    async def _load_units(self) -> None:
        reply = await self.console.client.rules()
        self.units.load(reply.data.get("rules") if reply.ok else None, self.shown())
        self.refresh_data()

    def selected(self) -> dict[str, Any] | None:
        """The alert under the cursor, by id: what the user sees is what is acted on."""
        return self.table.highlighted_item(self.shown())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("acknowledge", "resolve", "silence") and self.history:
            return None
        return super().check_action(action, parameters)

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

        dialog = ResolveDialog(alert, send)
        self.app.push_screen(dialog, lambda reply: self._resolved(alert, reply, dialog.comment))

    def _resolved(self, alert: dict[str, Any], reply: Reply | None, comment: str) -> None:
        """Cancel is the dialog's default, so a comment typed and then enter-ed away is easy to lose
        unnoticed: the screen says it was not sent."""
        if reply is None:
            if comment.strip():
                self.say("Not resolved: cancelled; the comment was not sent", error=True)
            return
        self._done(reply, f"Resolved {alert_title(alert).plain}", None)
        if reply.ok:
            self.console.alerts.alerts.pop(str(alert["id"]), None)
            self.refresh_data()

    def action_silence(self) -> None:
        alert = self.selected()
        if alert is None:
            return
        if alert.get("silencedBy"):
            self._silenced_alert(alert)
        else:
            self.new_silence(alert)

    @work(group="alert-action", exit_on_error=False)
    async def _silenced_alert(self, alert: dict[str, Any]) -> None:
        """``s`` on a silenced alert: edit or expire the silence it is under, or add one."""
        reply = await self.console.client.silences()
        silence = next((s for s in (reply.data.get("silences") or []) if s.get("id") in alert["silencedBy"]),
                       None) if reply.ok else None
        if silence is None:
            self.new_silence(alert)
            return
        choice = await self.app.push_screen_wait(SilencedAlertDialog(alert, silence, self.console.clock.now()))
        if choice == "edit":
            self.edit_silence(silence)
        elif choice == "expire":
            self.expire_silence(silence)
        elif choice == "new":
            self.new_silence(alert)

    def silence_changed(self, message: str, error: bool = False) -> None:
        self.say(message, error=error)

    def action_silences(self) -> None:
        self.app.push_screen(SilencesScreen())

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
            self.app.push_screen(LiveAlertDetails(self.console.client, alert, self.console.clock.now(),
                                                  self.units.of(alert) or ""))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_sort(self) -> None:
        self.sort_by = "age" if self.sort_by == "severity" else "severity"
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
