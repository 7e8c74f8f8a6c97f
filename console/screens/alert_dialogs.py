"""Modals for acting on an alert. Each dialog only collects the user's answer; the screen that opened
it sends the request, so the action always targets the alert that was selected when the key was
pressed, whatever the live table did meanwhile. Destructive answers default to Cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input

from console import format as fmt
from console import plot
from console.client import ServerClient
from console.screens.dialog import DIALOG_CSS, Dialog
from console.screens.forms import FORM_CSS, Send, SendingDialog, field_row
from console.screens.processes import processes_text
from console.units import humanise
from console.widgets.delivery_state import deliveries_text
from console.widgets.field import Field


def clock_text(value: object) -> str:
    """An API time as the dialogs' timelines show times, ``2026-12-03 17:36:56`` (UTC); else as given."""
    at = parse_time(value)
    return str(value or "") if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(value: object) -> float | None:
    """An RFC 3339 time from the API as epoch seconds; None when missing or unreadable (a server of
    another version, a proxy's page): the screens show a placeholder instead of failing."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def alert_title(alert: dict[str, Any]) -> Text:
    """The alert's name and its distinguishing labels; no trailing space when it has none, so a
    sentence built around it reads ``Resolve HighCPUUsage?``."""
    labels = {k: v for k, v in (alert.get("labels") or {}).items() if k not in ("alertname", "severity")}
    title = Text(str(alert.get("name", "")), style="bold")
    if labels:
        title.append(" " + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    return title


@dataclass(frozen=True)
class Acknowledgement:
    comment: str
    expires_in: str | None


class AcknowledgeDialog(SendingDialog):
    """``a``: an optional comment and expiry (e.g. 2h); enter moves on, ctrl+s (or enter on the
    Acknowledge button) acknowledges; a refused expiry stays here, under its field."""

    DEFAULT_CSS = DIALOG_CSS.format(name="AcknowledgeDialog") + FORM_CSS.format(name="AcknowledgeDialog", label=12)
    FIELD_IDS: ClassVar = {"comment": "comment", "expiresIn": "expires"}

    def __init__(self, alert: dict[str, Any], send: Send) -> None:
        super().__init__(send)
        self.alert = alert

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Field(Text.assemble("Acknowledge ", alert_title(self.alert)), classes="title")
            yield Field("enter next field · ctrl+s acknowledges · esc cancels", classes="hint")
            yield from field_row("Comment", Input(id="comment", placeholder="optional: what is being done",
                                                  compact=True))
            yield from field_row("Expires in", Input(id="expires", placeholder="optional: 30m, 2h (never)",
                                                     compact=True))
            yield Field(id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Acknowledge", id="ok", variant="primary")

    def answer(self) -> Acknowledgement:
        expires = self.query_one("#expires", Input).value.strip()
        return Acknowledgement(self.query_one("#comment", Input).value, expires or None)


class ResolveDialog(SendingDialog):
    """``r``: resolve with an optional comment. Enter in the comment moves to Cancel, the default:
    only enter on the Resolve button (or ctrl+s) resolves, as the dialog says. Resolve comes first
    (focus follows the screen, left to right), so one tab from the comment reaches it. ``comment`` keeps what
    was typed, so a screen can say that a cancelled dialog did not send it."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ResolveDialog") + FORM_CSS.format(name="ResolveDialog", label=9)
    FIELD_IDS: ClassVar = {"comment": "comment"}
    DEFAULT_BUTTON = "#cancel"

    def __init__(self, alert: dict[str, Any], send: Send) -> None:
        super().__init__(send)
        self.alert = alert
        self.comment = ""

    @on(Input.Changed, "#comment")
    def _typed(self, event: Input.Changed) -> None:
        self.comment = event.value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Field(Text.assemble("Resolve ", alert_title(self.alert), "?"), classes="title")
            yield Field("It fires again if its condition still holds.")
            yield from field_row("Comment", Input(id="comment", placeholder="optional: why it is over",
                                                  compact=True))
            yield Field("Default: Cancel · tab to Resolve, then enter (or ctrl+s) · esc cancels", classes="hint")
            yield Field(id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Resolve", id="ok", variant="error")
                yield Button("Cancel", id="cancel")

    def answer(self) -> str:
        return self.query_one("#comment", Input).value


class ConfirmDialog(Dialog):
    """A yes/no question whose focus starts on Cancel: enter alone never destroys anything."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmDialog")

    def __init__(self, question: Text | str, action: str) -> None:
        super().__init__()
        self.question, self.action = question, action

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Field(self.question)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.action, id="ok", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(True)


class AlertDetails(Dialog):
    """``enter``: labels, annotations, timeline, where the alert was notified and when, and the rule's
    expression charted around the alert; values in ``unit`` (see ``console.units``), times as ages."""

    DEFAULT_CSS = DIALOG_CSS.format(name="AlertDetails") + """
    AlertDetails > Vertical { width: 100; height: 90%; }
    AlertDetails VerticalScroll { height: 1fr; }
    AlertDetails #chart { height: auto; color: $accent; }
    AlertDetails #processes { text-wrap: nowrap; text-overflow: ellipsis; }  /* long commands: cut, not wrapped */
    """
    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("q", "cancel", "Close", show=False)]
    CHART_HEIGHT = 6

    def __init__(self, client: ServerClient, alert: dict[str, Any], now: float, unit: str = "") -> None:
        super().__init__()
        self.client, self.alert, self.now, self.unit = client, alert, now, unit

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Field(alert_title(self.alert), classes="title")
            with VerticalScroll():
                yield Field(self._facts(self.alert, self.now), id="facts")
                yield Field("", id="chart")
                yield Field("loading the timeline…", id="timeline")
                yield Field("", id="processes")
                yield Field("", id="sent")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="cancel")

    def on_mount(self) -> None:
        self.load()

    @staticmethod
    def _facts(alert: dict[str, Any], now: float) -> Text:
        text = Text()
        for section in ("labels", "annotations"):
            if not alert.get(section):
                continue
            text.append(f"{section.capitalize()}\n", style="bold")
            for k, v in sorted((alert.get(section) or {}).items()):
                text.append(f"  {k}", style="cyan")
                text.append(f" = {v}\n")
        ack = alert.get("acknowledgement")
        since, until = parse_time(alert.get("activeAt")), parse_time(alert.get("resolvedAt")) or now
        active = fmt.DASH if since is None else fmt.age(until - since)
        text.append(f"State {alert.get('state')}  value {alert.get('value')}  active for {active}\n")
        if ack:
            text.append(f"Acknowledged by {ack.get('by')} at {clock_text(ack.get('at'))}: {ack.get('comment') or ''}\n")
        return text

    @work(group="details", exit_on_error=False)
    async def load(self) -> None:
        reply = await self.client.alert(str(self.alert["id"]))
        timeline = Text("Timeline\n", style="bold")
        if reply.ok:
            for event in reply.data["alert"].get("timeline", []):
                timeline.append(f"  {clock_text(event.get('at'))}  {event.get('event'):<14} {event.get('by') or ''}"
                                f"  {event.get('detail') or ''}\n")
        else:
            timeline.append(reply.error, style="red")
        self.query_one("#timeline", Field).show(timeline)
        if reply.ok:
            self.query_one("#processes", Field).show(processes_text(reply.data["alert"].get("processes")))
        await self._notifications()
        await self._chart()

    async def _notifications(self) -> None:
        reply = await self.client.notifications(alert=str(self.alert["id"]))
        sent = self.query_one("#sent", Field)
        if reply.ok:
            sent.show(deliveries_text(list(reply.data.get("notifications") or []), self.now))
        else:
            sent.show(Text.assemble(("Notifications\n", "bold"), (reply.error, "red")))

    async def _chart(self) -> None:
        rule = await self.client.rule(str(self.alert.get("ruleId", "")))
        chart = self.query_one("#chart", Field)
        if not rule.ok:
            chart.show(Text(f"No chart: {rule.error}", style="red"))
            return
        expr = rule.data["rule"]["expr"]
        active = parse_time(self.alert.get("activeAt")) or self.now
        start = min(active - 900, self.now - 900)
        end = self.now
        series = await self.client.query_range(expr, start, end, max(1.0, (end - start) / 120))
        if not series.ok:
            chart.show(Text(f"No chart: {series.error}", style="red"))
            return
        mine = self.alert.get("labels") or {}
        results = series.data["data"]["result"]
        match = next((r for r in results if all(mine.get(k) == v for k, v in r["metric"].items()
                                                   if k != "__name__")), results[0] if results else None)
        if match is None:
            chart.show(Text.assemble((expr, "bold"), "\n(no data in the last 15 minutes)"))
            return
        points = [(float(t), float(v)) for t, v in match["values"]]
        top = max((v for _, v in points), default=1.0) * 1.1 or 1.0
        lines = plot.braille(points, start, end, 90, self.CHART_HEIGHT, top, gap=(end - start) / 40)
        caption = f"  (last {int((end - start) // 60)}m, top {humanise(top, self.unit)})\n"
        chart.show(Text.assemble((expr, "bold"), caption, "\n".join(lines)))
