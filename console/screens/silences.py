"""Silences: the form that creates, edits or extends one, and the Silences view (``S`` from Alerts)
with active and expired silences, what each one silences, ``x`` to expire and ``e`` to extend.

Matchers are read by the API's own parser (Alertmanager's syntax), so what the form accepts is what
the server stores; a silence needs a comment, as in Alertmanager."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label

from console import format as fmt
from console.client import Reply, ServerClient
from console.screens.alert_dialogs import ConfirmDialog, alert_title, parse_time
from console.screens.base import TABLE_SCREEN_CSS, LiveScreen
from console.screens.dialog import DIALOG_CSS, Dialog
from console.screens.forms import FORM_CSS, SendingDialog, field_row
from console.widgets.field import Field
from console.widgets.table import Column, LiveTable
from console.widgets.topbar import TopBar
from engine.alerts.silences import SilenceError, format_matchers, parse_matcher_list
from engine.compat.durations import format_seconds

NEW_SILENCE_DURATION = "2h"
EXTEND_BY_S = 3600.0
COLUMNS = (Column("state", "State"), Column("ends", "Ends", True), Column("matchers", "Matchers", shrinks=True),
           Column("alerts", "Silences"), Column("by", "By"), Column("comment", "Comment"))
STATE_STYLE = {"active": "bold magenta", "pending": "yellow", "expired": "dim"}
STATE_ORDER = {"active": 0, "pending": 1, "expired": 2}


@dataclass(frozen=True)
class SilenceAnswer:
    matchers: list[dict[str, Any]]
    duration: str
    comment: str


def extended_duration(silence: dict[str, Any], now: float) -> str:
    """What the form offers to extend a silence to: an hour past its end (or two hours from now if it
    has ended), as a duration from now."""
    ends = parse_time(silence.get("endsAt")) or now
    if ends <= now:
        return NEW_SILENCE_DURATION
    return format_seconds(60 * math.ceil((ends - now) / 60) + EXTEND_BY_S)


class SilenceForm(SendingDialog):
    """``s`` on an alert (prefilled with its labels) or ``e`` on a silence (its matchers, an hour
    longer): matchers, how long from now, and why."""

    DEFAULT_CSS = DIALOG_CSS.format(name="SilenceForm") + FORM_CSS.format(name="SilenceForm", label=10)
    FIELD_IDS: ClassVar[dict[str, str]] = {"matchers": "matchers", "duration": "duration", "endsAt": "duration",
                                           "startsAt": "duration", "comment": "comment"}

    def __init__(self, send: Any, title: Text, matchers: str, duration: str, comment: str = "") -> None:
        super().__init__(send)
        self.title, self.matchers, self.duration, self.comment = title, matchers, duration, comment

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Field(self.title, classes="title")
            yield from field_row("Matchers", Input(self.matchers, id="matchers"))
            yield Label('name="v", name!="v", name=~"regex", name!~"regex" (comma separated)', classes="hint")
            yield from field_row("Ends in", Input(self.duration, id="duration", placeholder="e.g. 2h, 1d"))
            yield from field_row("Comment", Input(self.comment, id="comment", placeholder="why (required)"))
            yield Field(id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Silence", id="ok", variant="primary")

    def problems(self) -> dict[str, str]:
        """Everything the console can check before sending, by field id."""
        errors = {}
        try:
            parse_matcher_list(self.query_one("#matchers", Input).value)
        except SilenceError as exc:
            errors["matchers"] = exc.message if exc.field == "matchers" else str(exc)
        if not self.query_one("#duration", Input).value.strip():
            errors["duration"] = "how long, e.g. 2h"
        if not self.query_one("#comment", Input).value.strip():
            errors["comment"] = "say why the alerts are silenced (required)"
        return errors

    def submit(self) -> None:
        errors = self.problems()
        if errors:
            self.show_errors(errors)
            return
        super().submit()

    def answer(self) -> SilenceAnswer:
        matchers = [m.to_json() for m in parse_matcher_list(self.query_one("#matchers", Input).value)]
        return SilenceAnswer(matchers, self.query_one("#duration", Input).value.strip(),
                             self.query_one("#comment", Input).value.strip())


class SilencedAlertDialog(Dialog):
    """``s`` on an alert that is already silenced: edit (extend) its silence, expire it, or add another."""

    DEFAULT_CSS = DIALOG_CSS.format(name="SilencedAlertDialog")

    def __init__(self, alert: dict[str, Any], silence: dict[str, Any], now: float) -> None:
        super().__init__()
        self.alert, self.silence, self.now = alert, silence, now

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Field(Text.assemble(alert_title(self.alert), " is silenced"), classes="title")
            yield Field(silence_summary(self.silence, self.now))
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("New silence", id="new")
                yield Button("Expire", id="expire", variant="error")
                yield Button("Edit / extend", id="edit", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#edit", Button).focus()

    @on(Button.Pressed, "#new, #expire, #edit")
    def _choose(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)


def silence_summary(silence: dict[str, Any], now: float) -> Text:
    return Text.assemble(("Matchers ", "bold"), format_matchers(silence.get("matchers") or []), "\n",
                         ("By ", "bold"), str(silence.get("createdBy") or ""), "  ",
                         ("ends ", "bold"), ends_text(silence, now), "\n",
                         ("Comment ", "bold"), str(silence.get("comment") or ""))


def ends_text(silence: dict[str, Any], now: float) -> str:
    """When a silence ends, from now: ``in 1h59m`` or ``5m00s ago``."""
    ends = parse_time(silence.get("endsAt"))
    return fmt.DASH if ends is None else f"in {time_left(ends, now)}" if ends > now else f"{fmt.age(now - ends)} ago"


def time_left(ends: float, now: float) -> str:
    """A silence's remaining time to the nearest second: one made for 2h, read back a moment later,
    still says ``2h00m``, not ``1h59m``."""
    return fmt.age(round(ends - now))


class SilenceActions:
    """What the Alerts screen and the Silences view both do to a silence; ``silence_changed`` is
    told the outcome (the screen says it and reloads what it shows)."""

    app: Any
    console: Any

    def silence_changed(self, message: str, error: bool = False) -> None:
        raise NotImplementedError

    def new_silence(self, alert: dict[str, Any]) -> None:
        labels = alert.get("labels") or {}
        matchers = format_matchers({"name": k, "value": v} for k, v in sorted(labels.items()))
        client: ServerClient = self.console.client
        form = SilenceForm(lambda a: client.silence(a.matchers, a.duration, a.comment),
                           Text.assemble("Silence ", alert_title(alert)), matchers, NEW_SILENCE_DURATION)
        self.app.push_screen(form, lambda reply: self._sent(reply, "Silenced"))

    def edit_silence(self, silence: dict[str, Any]) -> None:
        client: ServerClient = self.console.client
        form = SilenceForm(lambda a: client.update_silence(str(silence["id"]), a.matchers, a.duration, a.comment),
                           Text("Edit or extend the silence"), format_matchers(silence.get("matchers") or []),
                           extended_duration(silence, self.console.clock.now()), str(silence.get("comment") or ""))
        self.app.push_screen(form, lambda reply: self._sent(reply, "Silence updated:"))

    def _sent(self, reply: Reply | None, done: str) -> None:
        """Says what the server stored (the form's matchers may select other alerts than the one
        the form was opened on) and what it silences now, so a typo that silences nothing shows:
        ``Silenced alertname="B" for 1h59m · 2 alerts now``."""
        if reply is None:
            return
        data = reply.data or {}
        silence = data.get("silence") or {}
        ends = parse_time(silence.get("endsAt"))
        left = "" if ends is None else f" for {time_left(ends, self.console.clock.now())}"
        count = data.get("silencedAlerts")
        now = "" if not isinstance(count, int) else (
            " · no alert matches it now" if count == 0 else f" · {count} alert{'s' * (count != 1)} now")
        self.silence_changed(f"{done} {format_matchers(silence.get('matchers') or [])}{left}{now}",
                             error=count == 0)

    def expire_silence(self, silence: dict[str, Any]) -> None:
        question = Text.assemble("Expire the silence ", (format_matchers(silence.get("matchers") or []), "bold"),
                                 "?\nThe alerts it silences notify again.")
        self.app.push_screen(ConfirmDialog(question, "Expire"), lambda yes: self._expire(silence, yes))

    @work(group="silence-action", exit_on_error=False)
    async def _expire(self, silence: dict[str, Any], yes: bool | None) -> None:
        if not yes:
            return
        reply = await self.console.client.expire_silence(str(silence["id"]))
        self.silence_changed("Silence expired" if reply.ok else reply.error, error=not reply.ok)


def silence_row(silence: dict[str, Any], alerts: list[dict[str, Any]], now: float) -> list[str]:
    state = str((silence.get("status") or {}).get("state") or "")
    mine = [a for a in alerts if silence.get("id") in (a.get("silencedBy") or [])]
    names = sorted({str(a.get("name")) for a in mine})
    silenced = f"{len(mine)}: {', '.join(names)}" if mine else fmt.DASH
    return [state, ends_text(silence, now), format_matchers(silence.get("matchers") or []), silenced,
            str(silence.get("createdBy") or ""), str(silence.get("comment") or "")]


class SilenceTable(LiveTable):
    def cell(self, column: Column, value: str) -> Text:
        text = super().cell(column, value)
        if column.key == "state":
            text.stylize(STATE_STYLE.get(value, ""))
        return text


class SilencesScreen(SilenceActions, LiveScreen):
    """Pushed over the Alerts screen; esc (or ``S`` again) goes back to it."""

    TITLE = "Silences"
    AUTO_FOCUS = "#silences"
    BINDINGS = [
        Binding("x", "expire", "Expire"),
        Binding("e", "extend", "Extend/edit"),
        Binding("escape", "back", "Alerts"),
        Binding("S", "back", "Alerts", show=False),
        Binding("f5", "reload", "Reload", show=False),
    ]
    DEFAULT_CSS = TABLE_SCREEN_CSS.format(screen="SilencesScreen", table="silences")

    def __init__(self) -> None:
        super().__init__()
        self.silences: list[dict[str, Any]] = []
        self._seen_version = -1

    def compose_body(self) -> ComposeResult:
        yield SilenceTable("Silences · active first", COLUMNS, id="silences")
        yield Field(id="message")

    @property
    def table(self) -> SilenceTable:
        return self.query_one("#silences", SilenceTable)

    def show_header(self, tabs: list[tuple[str, str]], address: str) -> None:
        """The Alerts tab stays lit: this view belongs to it."""
        super().show_header(tabs, address)
        self.query_one(TopBar).show_tabs(tabs, "Alerts")

    def refresh_data(self) -> None:
        """Ends-in moves with the clock; a change in the alerts (silenced, unsilenced) may come from a
        silence made elsewhere, so the list is read again."""
        if self.console.alerts.version != self._seen_version:
            self.action_reload()
        now = self.console.clock.now()
        alerts = list(self.console.alerts.alerts.values())
        ordered = sorted(self.silences, key=lambda s: (STATE_ORDER.get((s.get("status") or {}).get("state"), 9),
                                                       -(parse_time(s.get("endsAt")) or 0.0), str(s.get("id"))))
        self.table.show([(str(s["id"]), silence_row(s, alerts, now)) for s in ordered])

    @work(group="silences", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        self._seen_version = self.console.alerts.version
        reply = await self.console.client.silences()
        if not reply.ok:
            self.say(reply.error, error=True)
            return
        self.silences = [s for s in reply.data.get("silences") or [] if isinstance(s, dict) and "id" in s]
        self.refresh_data()

    def selected(self) -> dict[str, Any] | None:
        """The silence under the cursor, by id."""
        return self.table.highlighted_item(self.silences)

    def action_expire(self) -> None:
        silence = self.selected()
        if silence is None:
            return
        if (silence.get("status") or {}).get("state") == "expired":
            self.say("That silence has already expired", error=True)
            return
        self.expire_silence(silence)

    def action_extend(self) -> None:
        silence = self.selected()
        if silence is not None:
            self.edit_silence(silence)

    def silence_changed(self, message: str, error: bool = False) -> None:
        self.say(message, error=error)
        self.action_reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_extend()
