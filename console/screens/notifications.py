"""Notifications (key 9): the channels with their health and queue, the delivery log with status and
errors, ``t`` to send a test through the selected channel, ``enter`` for a delivery's payload and the
receiver's response.

Live from the `notifications` topic, followed only while this screen is shown: its snapshot brings
the channels, each delivery attempt updates one log entry. Events go into the book as they arrive;
the screen redraws from it once per flush, and asks the server again for the channels (whose health
and queue a delivery changes) at most once per flush.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable

from console import format as fmt
from console.client import ServerClient
from console.screens.alert_dialogs import DIALOG_CSS, Dialog, parse_time
from console.screens.base import FilteredScreen
from console.widgets.delivery_state import (
    HEALTH_STYLE,
    HEALTH_SYMBOL,
    clock_time,
    labelled,
    one_line,
    status_label,
)
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.table import Column, LiveTable

CHANNEL_COLUMNS = (Column("health", "Health"), Column("name", "Channel"), Column("type", "Type"),
                   Column("queue", "Queue", True), Column("last", "Last sent", True), Column("error", "Last error"))
LOG_COLUMNS = (Column("time", "Time"), Column("alert", "Alert"), Column("channel", "Channel"),
               Column("status", "Status"), Column("attempts", "Tries", True), Column("error", "Last error"))
LOG_LIMIT = 200
"""Deliveries kept and shown: the newest, as the API lists them."""
RELOAD_S = 30.0
"""The log is asked again this often while shown (entries the stream missed while hidden)."""
PAYLOAD_LINES = 400
"""Lines of a payload shown in the details: a large group stays readable and cheap to draw."""


def channel_health(channel: dict[str, Any]) -> str:
    """``failing`` once the server marks it unhealthy, ``retrying`` after a failure, else ``ok``."""
    health = channel.get("health") or {}
    if health.get("healthy") is False:
        return "failing"
    return "retrying" if health.get("consecutiveFailures") else "ok"


def alert_names(entry: dict[str, Any]) -> str:
    """The group's alert names (``HighTemp +2`` for three alerts), with resolved ones marked."""
    alerts = [a for a in entry.get("alerts") or [] if isinstance(a, dict)]
    names = sorted({str(a.get("name", "")) for a in alerts})
    text = names[0] if names else fmt.DASH
    if len(alerts) > 1:
        text += f" +{len(alerts) - 1}"
    return f"{text} (resolved)" if entry.get("alertStatus") == "resolved" else text


def channel_row(channel: dict[str, Any], now: float) -> list[str]:
    health = channel.get("health") or {}
    last = parse_time(health.get("lastSuccessAt"))
    return [channel_health(channel), str(channel.get("name", "")), str(channel.get("type", "")),
            str(channel.get("queueLength", 0)), fmt.DASH if last is None else f"{fmt.age(now - last)} ago",
            one_line(health.get("lastError"))]


def log_row(entry: dict[str, Any], now: float) -> list[str]:
    return [clock_time(entry.get("lastAttemptAt") or entry.get("createdAt"), now), alert_names(entry),
            str(entry.get("channel", "")), str(entry.get("status", "")), str(entry.get("attempts", 0)),
            one_line(entry.get("lastError"))]


def answer_text(name: str, answer: dict[str, Any]) -> Text:
    """The receiver's answer to ``t``: ok or not, the HTTP status, the time taken and what it said."""
    ok = answer.get("ok") is True
    text = status_label("sent" if ok else "failed")
    text.append(f" test to {name}", style="bold")
    status = answer.get("status")
    text.append(f": HTTP {status}" if status is not None else ":")
    seconds = answer.get("durationSeconds")
    if isinstance(seconds, (int, float)):
        text.append(f" in {fmt.seconds(seconds)}")
    if answer.get("error"):
        text.append(f" · {one_line(answer['error'])}", style="red")
    if answer.get("response"):
        text.append(f" · {one_line(answer['response'])}")
    return text


class NotificationBook:
    """Channels by name and deliveries by id, from the API and the `notifications` stream."""

    def __init__(self) -> None:
        self.channels: dict[str, dict[str, Any]] = {}
        self.deliveries: dict[int, dict[str, Any]] = {}
        self.dirty = False
        self.channels_stale = False
        """A delivery changed a channel's health or queue since the channels were last listed."""

    def take(self, kind: str, data: Any) -> None:
        """Apply the topic's snapshot (every channel) or update (one delivery attempt)."""
        if not isinstance(data, dict):
            return
        if kind == "snapshot":
            self.load_channels(data.get("channels"))
            return
        entry = data.get("notification")
        if data.get("event") == "delivery" and isinstance(entry, dict) and isinstance(entry.get("id"), int):
            self.deliveries[entry["id"]] = entry
            self._trim()
            self.dirty = self.channels_stale = True

    def load_channels(self, channels: Any) -> None:
        if isinstance(channels, list):
            self.channels = {str(c["name"]): c for c in channels if isinstance(c, dict) and c.get("name")}
            self.dirty, self.channels_stale = True, False

    def load_log(self, entries: Any) -> None:
        """The API's listing, merged: an event newer than the listing is not undone by it."""
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("id"), int):
                    known = self.deliveries.get(entry["id"])
                    if known is None or (known.get("attempts") or 0) <= (entry.get("attempts") or 0):
                        self.deliveries[entry["id"]] = entry
            self._trim()
            self.dirty = True

    def _trim(self) -> None:
        if len(self.deliveries) > LOG_LIMIT:
            for old in sorted(self.deliveries)[:-LOG_LIMIT]:
                del self.deliveries[old]

    def log(self) -> list[dict[str, Any]]:
        """Newest first, as the API lists them (ids grow with creation)."""
        return [self.deliveries[i] for i in sorted(self.deliveries, reverse=True)]


class ChannelTable(LiveTable):
    def cell(self, column: Column, value: str) -> Text:
        if column.key == "health":
            return labelled(value, HEALTH_SYMBOL, HEALTH_STYLE)
        text = super().cell(column, value)
        if column.key == "error" and value:
            text.stylize("red")
        return text


class LogTable(LiveTable):
    def cell(self, column: Column, value: str) -> Text:
        if column.key == "status":
            return status_label(value)
        text = super().cell(column, value)
        if column.key == "error" and value:
            text.stylize("red")
        return text


class NotificationsScreen(FilteredScreen):
    TITLE = "Notifications"
    TOPICS = ("notifications",)
    AUTO_FOCUS = "#channels"
    BINDINGS = [
        Binding("t", "test", "Test channel"),
        Binding("enter", "details", "Details", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("x", "clear_filter", "Clear filter", show=False),
        Binding("f5", "reload", "Reload", show=False),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = """
    NotificationsScreen LiveTable { border: round $primary 60%; border-title-color: $text;
                                    border-subtitle-color: $text-muted; }
    NotificationsScreen LiveTable:focus { border: round $accent; }
    NotificationsScreen #channels { height: auto; max-height: 8; }
    NotificationsScreen #log { height: 1fr; min-height: 5; }
    NotificationsScreen #answer { height: auto; max-height: 3; padding: 0 1; }
    NotificationsScreen #message { height: auto; padding: 0 1; }
    NotificationsScreen #message.-error { background: $error 20%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._loaded_at: float | None = None

    def on_screen_resume(self) -> None:
        """Deliveries made while another screen was shown came by no event: ask for the log again."""
        self._loaded_at = None
        super().on_screen_resume()

    def compose_body(self) -> ComposeResult:
        yield ChannelTable("Channels", CHANNEL_COLUMNS, id="channels")
        yield Field(id="answer")
        yield LogTable("Deliveries", LOG_COLUMNS, id="log")
        yield Field(id="message")
        yield FilterBar(clear_key="x")

    @property
    def channels(self) -> ChannelTable:
        return self.query_one("#channels", ChannelTable)

    @property
    def log_table(self) -> LogTable:
        return self.query_one("#log", LogTable)

    @property
    def book(self) -> NotificationBook:
        return self.console.notifications

    def refresh_data(self) -> None:
        now = self.console.clock.now()
        channels = sorted(self.book.channels.values(), key=lambda c: str(c.get("name")))
        self.channels.show([(str(c["name"]), channel_row(c, now)) for c in channels])
        failing = sum(1 for c in channels if channel_health(c) == "failing")
        title = (f"Channels · {failing} failing" if failing else "Channels") if channels \
            else "Channels · none: add them under notifications: in the config or through the API"
        if self.channels.border_title != title:
            self.channels.border_title = title
        self.log_table.show([(str(e["id"]), log_row(e, now)) for e in self.book.log()])
        if self.book.channels_stale:
            self._reload_channels()
        if self._loaded_at is None or now - self._loaded_at >= RELOAD_S:
            self.action_reload()

    @work(group="notifications-channels", exclusive=True, exit_on_error=False)
    async def _reload_channels(self) -> None:
        self.book.channels_stale = False
        reply = await self.console.client.notification_channels()
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        self.book.load_channels(reply.data.get("channels"))
        self.refresh_data()

    @work(group="notifications-log", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        """The delivery log as the server keeps it: the stream carries new attempts only."""
        self._loaded_at = self.console.clock.now()
        reply = await self.console.client.notifications(limit=LOG_LIMIT)
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        self.book.load_log(reply.data.get("notifications"))
        self.refresh_data()

    # -- actions: each reads the key under the cursor when pressed -------------------------------

    def action_test(self) -> None:
        name = self.channels.highlighted_key
        if name is None:
            self.say("No channel to test", error=True)
            return
        self._test(name)

    @work(group="notifications-test", exit_on_error=False)
    async def _test(self, name: str) -> None:
        answer = self.query_one("#answer", Field)
        answer.show(Text(f"Sending a test message to {name}…"))
        reply = await self.console.client.test_channel(name)
        if not reply.ok:
            answer.show(Text.assemble(status_label("failed"), f" test to {name}: ",
                                      (reply.error, "red")))
            return
        answer.show(answer_text(name, reply.data))

    def action_details(self) -> None:
        if self.focused is not self.log_table:
            self.log_table.focus()
            return
        key = self.log_table.highlighted_key
        entry = self.book.deliveries.get(int(key)) if key is not None else None
        if entry is not None:
            self.app.push_screen(DeliveryDetails(self.console.client, entry))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_back(self) -> None:
        self.close_filter(self.channels)


class DeliveryDetails(Dialog):
    """``enter`` on a delivery: what it carried, each attempt's outcome, the payload sent and the
    receiver's response."""

    DEFAULT_CSS = DIALOG_CSS.format(name="DeliveryDetails") + """
    DeliveryDetails > Vertical { width: 100; height: 90%; }
    DeliveryDetails VerticalScroll { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("q", "cancel", "Close", show=False)]

    def __init__(self, client: ServerClient, entry: dict[str, Any]) -> None:
        super().__init__()
        self.client, self.entry = client, entry

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Field(Text.assemble(("Delivery ", "bold"), (f"#{self.entry.get('id')}", "bold"),
                                      f" to {self.entry.get('channel')}"), classes="title")
            with VerticalScroll():
                yield Field(delivery_facts(self.entry), id="facts")
                yield Field("loading the payload and the response…", id="exchange")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="cancel")

    def on_mount(self) -> None:
        self.load()

    @work(group="delivery", exit_on_error=False)
    async def load(self) -> None:
        reply = await self.client.notification(int(self.entry["id"]))
        if not reply.ok:
            self.query_one("#exchange", Field).show(Text(reply.error, style="red"))
            return
        entry = reply.data.get("notification") or {}
        self.query_one("#facts", Field).show(delivery_facts(entry))
        self.query_one("#exchange", Field).show(exchange_text(entry))


def delivery_facts(entry: dict[str, Any]) -> Text:
    text = Text()
    text.append_text(status_label(str(entry.get("status", ""))))
    text.append(f"  {entry.get('alertStatus')}  after {entry.get('attempts', 0)} attempt(s)\n")
    for label, key in (("Created", "createdAt"), ("Last attempt", "lastAttemptAt"), ("Sent", "sentAt"),
                       ("Next attempt", "nextAttemptAt")):
        if entry.get(key):
            text.append(f"{label:<13}", style="cyan")
            text.append(f"{entry[key]}\n")
    if entry.get("lastError"):
        text.append(f"{'Last error':<13}", style="cyan")
        text.append(f"{entry['lastError']}\n", style="red")
    text.append(f"{'Group':<13}", style="cyan")
    text.append(f"{entry.get('groupKey')}\n")
    text.append(f"{'Key':<13}", style="cyan")
    text.append(f"{entry.get('idempotencyKey')}\n")
    text.append("Alerts\n", style="bold")
    for alert in entry.get("alerts") or []:
        if isinstance(alert, dict):
            text.append(f"  {alert.get('name')}  {alert.get('status')}  fingerprint {alert.get('fingerprint')}\n")
    return text


def exchange_text(entry: dict[str, Any]) -> Text:
    """The receiver's response, then the payload as sent (pretty JSON, or the text of an email)."""
    text = Text()
    response = entry.get("response")
    text.append("Response\n", style="bold")
    if isinstance(response, dict):
        status = response.get("status")
        text.append(f"  HTTP {status}\n" if status is not None else "  no HTTP status\n")
        body = str(response.get("body") or "")
        for line in body.splitlines()[:PAYLOAD_LINES] if body else ["(empty)"]:
            text.append(f"  {line}\n")
    else:
        text.append("  none yet\n")
    payload = entry.get("payload")
    text.append("Payload sent\n", style="bold")
    shown = payload if isinstance(payload, str) else json.dumps(payload, indent=2, ensure_ascii=False)
    lines = shown.splitlines()
    for line in lines[:PAYLOAD_LINES]:
        text.append(f"  {line}\n")
    if len(lines) > PAYLOAD_LINES:
        text.append(f"  … {len(lines) - PAYLOAD_LINES} more lines\n", style="dim")
    return text
