"""Rules (key 4): every rule with its state, group, last evaluation and error; create, edit, enable or
disable and delete managed rules. Rules from read-only files say why instead of acting."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from console import format as fmt
from console.client import Reply
from console.screens.alert_dialogs import ConfirmDialog, parse_time
from console.screens.base import LiveScreen
from console.screens.rule_editor import RuleDetails, RuleEditor
from console.widgets.field import Field
from console.widgets.table import Column, LiveTable

COLUMNS = (Column("name", "Rule"), Column("state", "State"), Column("group", "Group"),
           Column("last", "Last eval", True), Column("alerts", "Alerts", True), Column("error", "Error"))
DEFAULT_POLL_S = 15.0
"""How often the list is read again for its evaluation times when the rules do not say (their interval)."""
STATE_STYLE = {"firing": "bold red", "pending": "yellow", "inactive": "green", "disabled": "dim"}


def full_body(rule: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A rule as the PromQL-form body PUT expects (it replaces the whole definition)."""
    body = {"name": rule["name"], "expr": rule["expr"], "for": rule.get("for") or "0s",
            "labels": rule.get("labels") or {}, "annotations": rule.get("annotations") or {},
            "notificationChannels": rule.get("notificationChannels") or [], "enabled": rule.get("enabled", True)}
    if rule.get("keepFiringFor"):
        body["keepFiringFor"] = rule["keepFiringFor"]
    return body | changes


class RuleTable(LiveTable):
    def cell(self, column: Column, value: str) -> Text:
        text = super().cell(column, value)
        if column.key == "state":
            text.stylize(STATE_STYLE.get(value, ""))
        elif column.key == "error" and value:
            text.stylize("red")
        return text


class RulesScreen(LiveScreen):
    TITLE = "Rules"
    AUTO_FOCUS = "#rules"
    BINDINGS = [
        Binding("n", "new", "New"),
        Binding("e", "edit", "Edit"),
        Binding("d", "delete", "Delete"),
        Binding("t", "toggle", "Enable/disable"),
        Binding("enter", "details", "Details", show=False),
        Binding("f5", "reload", "Reload", show=False),
    ]
    DEFAULT_CSS = """
    RulesScreen #rules { height: 1fr; border: round $primary 60%; border-title-color: $text; }
    RulesScreen #rules:focus { border: round $accent; }
    RulesScreen #message { height: auto; padding: 0 1; }
    RulesScreen #message.-error { background: $error 20%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.rules: dict[str, dict[str, Any]] = {}
        self._seen_version = -1
        self._next_poll = 0.0

    def compose_body(self) -> ComposeResult:
        yield RuleTable("Alerting and recording rules", COLUMNS, id="rules")
        yield Field(id="message")

    @property
    def table(self) -> RuleTable:
        return self.query_one("#rules", RuleTable)

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.action_reload()

    def refresh_data(self) -> None:
        """Rule states and alert counts move with the alerts: reload when the alert stream changed
        something, and once per evaluation interval for the last-evaluation times."""
        now = self.console.clock.now()
        if self.console.alerts.version != self._seen_version or now >= self._next_poll:
            self.action_reload()
        rows = []
        for rule in self.rules.values():
            last = parse_time(rule.get("lastEvaluation"))
            rows.append((str(rule["id"]), [
                str(rule.get("name", "")), str(rule.get("state") or rule.get("type") or ""), str(rule.get("group", "")),
                fmt.DASH if last is None else f"{fmt.age(now - last)} ago", str(rule.get("activeAlerts", 0)),
                str(rule.get("lastError") or "")]))
        self.table.show(rows)

    @work(group="rules", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        self._seen_version = self.console.alerts.version
        self._next_poll = self.console.clock.now() + min(
            (float(r.get("interval") or DEFAULT_POLL_S) for r in self.rules.values()), default=DEFAULT_POLL_S)
        reply = await self.console.client.rules()
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        self.rules = {str(r["id"]): r for r in reply.data.get("rules") or []}
        if reply.data.get("lastReloadError"):
            self.say(f"Last reload failed: {reply.data['lastReloadError']}", error=True)
        self.refresh_data()

    def selected(self) -> dict[str, Any] | None:
        key = self.table.highlighted_key
        return self.rules.get(key) if key is not None else None

    def _editable(self, rule: dict[str, Any]) -> bool:
        if not rule.get("editable"):
            self.say(f"{rule['name']} is read-only: {rule.get('readOnlyReason') or 'not a managed rule'}", error=True)
            return False
        return True

    def action_new(self) -> None:
        self.app.push_screen(RuleEditor(self.console.client, None), self._saved)

    def action_edit(self) -> None:
        rule = self.selected()
        if rule is not None and self._editable(rule):
            self.app.push_screen(RuleEditor(self.console.client, rule), self._saved)

    def _saved(self, name: str | None) -> None:
        if name:
            self.say(f"Saved {name}")
            self.action_reload()

    def action_delete(self) -> None:
        rule = self.selected()
        if rule is None or not self._editable(rule):
            return
        question = Text.assemble("Delete rule ", (str(rule["name"]), "bold"), "?")
        self.app.push_screen(ConfirmDialog(question, "Delete"), lambda yes: self._delete(rule, yes))

    @work(group="rule-action", exit_on_error=False)
    async def _delete(self, rule: dict[str, Any], yes: bool | None) -> None:
        if yes:
            self._report(await self.console.client.delete_rule(str(rule["id"])), f"Deleted {rule['name']}")

    @work(group="rule-action", exit_on_error=False)
    async def action_toggle(self) -> None:
        rule = self.selected()
        if rule is None or not self._editable(rule):
            return
        enabled = not rule.get("enabled", True)
        reply = await self.console.client.update_rule(str(rule["id"]), full_body(rule, enabled=enabled))
        self._report(reply, f"{'Enabled' if enabled else 'Disabled'} {rule['name']}")

    def _report(self, reply: Reply, success: str) -> None:
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        error = (reply.data or {}).get("reloadError")
        self.say(f"{success}; reload failed: {error}" if error else success, error=bool(error))
        self.action_reload()

    def action_details(self) -> None:
        rule = self.selected()
        if rule is not None:
            self.app.push_screen(RuleDetails(rule))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()
