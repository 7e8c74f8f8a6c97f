"""The rule editor: the simple form (metric, condition, threshold) or the PromQL form, checked against
the server as the user types, with a preview of what the expression returns now and which alerts it
would raise. Server errors stay in the editor, next to the fields, until fixed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label

from console.client import ServerClient
from console.screens.alert_dialogs import DIALOG_CSS, Dialog
from console.widgets.field import Field

PREVIEW_ROWS = 5
SIMPLE = (("name", "Name", ""), ("metric", "Metric (name or selector)", ""), ("condition", "Condition", ">"),
          ("threshold", "Threshold", ""), ("duration", "For (duration)", "0s"), ("severity", "Severity", "warning"))
PROMQL = (("name", "Name", ""), ("expr", "Expression (PromQL)", ""), ("for", "For (duration)", "0s"),
          ("labels", "Labels (k=v, comma separated)", ""), ("annotations", "Annotations (k=v, comma separated)", ""))


def parse_pairs(text: str) -> dict[str, str]:
    """``k=v, k2=v2`` as a dict; ValueError names a part without ``=``."""
    out = {}
    for part in (p.strip() for p in text.split(",")):
        if part:
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"not key=value: {part!r}")
            out[key.strip()] = value.strip()
    return out


def pairs(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def preview(data: dict[str, Any]) -> Text:
    """The first rows of an instant query's result, and the label sets of the alerts it would raise."""
    result = data.get("result")
    if data.get("resultType") in ("scalar", "string"):
        return Text(f"Returns the {data['resultType']} {result[1]}: a rule needs a vector to raise alerts.")
    result = result or []
    text = Text(f"Returns {len(result)} series now", style="bold")
    text.append(" — each would raise an alert:\n" if result else " — no alert would be raised.\n")
    for series in result[:PREVIEW_ROWS]:
        labels = {k: v for k, v in series.get("metric", {}).items() if k != "__name__"}
        value = series.get("value") or series.get("values", [[0, ""]])[-1]
        text.append(f"  {{{pairs(labels)}}}  {value[1]}\n")
    if len(result) > PREVIEW_ROWS:
        text.append(f"  … and {len(result) - PREVIEW_ROWS} more\n")
    return text


class RuleEditor(Dialog):
    """Dismissed with the saved rule's name, or None when cancelled."""

    DEFAULT_CSS = DIALOG_CSS.format(name="RuleEditor") + """
    RuleEditor > Vertical { width: 100; height: 100%; }
    RuleEditor VerticalScroll { height: 1fr; }
    RuleEditor Input { margin: 0; }
    RuleEditor .-hidden { display: none; }
    RuleEditor #check { height: auto; min-height: 1; }
    RuleEditor #check.-error { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("f2", "switch_form", "Simple/PromQL form"),
                Binding("ctrl+s", "save", "Save")]

    def __init__(self, client: ServerClient, rule: dict[str, Any] | None) -> None:
        super().__init__()
        self.client, self.rule = client, rule
        self.form = "promql" if rule else "simple"

    def compose(self) -> ComposeResult:
        rule = self.rule or {}
        known = {"name": rule.get("name", ""), "expr": rule.get("expr", ""), "for": rule.get("for") or "0s",
                 "labels": pairs(rule.get("labels") or {}), "annotations": pairs(rule.get("annotations") or {})}
        with Vertical():
            yield Field(f"Edit rule {rule['name']}" if rule else "New rule", classes="title")
            yield Field(id="form-label")
            with VerticalScroll():
                with Vertical(id="simple"):
                    for key, label, default in SIMPLE:
                        yield Label(label)
                        yield Input(default, id=f"simple-{key}")
                with Vertical(id="promql"):
                    for key, label, default in PROMQL:
                        yield Label(label)
                        yield Input(known.get(key, default), id=f"promql-{key}")
                yield Field(id="check")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="ok", variant="primary")

    def on_mount(self) -> None:
        super().on_mount()
        self._show_form()
        if self.rule:
            self.check()

    def _show_form(self) -> None:
        self.query_one("#simple").set_class(self.form != "simple", "-hidden")
        self.query_one("#promql").set_class(self.form != "promql", "-hidden")
        self.query_one("#form-label", Field).show(
            f"{'Simple' if self.form == 'simple' else 'PromQL'} form · f2 switches · ctrl+s saves")
        self.query_one(f"#{self.form}-name", Input).focus()

    def action_switch_form(self) -> None:
        name = self.value("name")
        self.form = "promql" if self.form == "simple" else "simple"
        self.query_one(f"#{self.form}-name", Input).value = name
        self._show_form()
        self.check()

    def value(self, key: str) -> str:
        return self.query_one(f"#{self.form}-{key}", Input).value.strip()

    def expr(self) -> str:
        if self.form == "promql":
            return self.value("expr")
        metric, threshold = self.value("metric"), self.value("threshold")
        return f"{metric} {self.value('condition')} {threshold}" if metric and threshold else ""

    def body(self) -> dict[str, Any]:
        """The API body of the form on show; ValueError for a field it cannot read."""
        if self.form == "simple":
            try:
                threshold = float(self.value("threshold"))
            except ValueError:
                raise ValueError("threshold: must be a number") from None
            return {"name": self.value("name"), "metricName": self.value("metric"),
                    "condition": self.value("condition"), "threshold": threshold,
                    "duration": self.value("duration") or "0s", "severity": self.value("severity")}
        return {"name": self.value("name"), "expr": self.value("expr"), "for": self.value("for") or "0s",
                "labels": parse_pairs(self.value("labels")), "annotations": parse_pairs(self.value("annotations"))}

    def show_check(self, text: Text | str, error: bool) -> None:
        check = self.query_one("#check", Field)
        check.set_class(error, "-error")
        check.show(text if isinstance(text, Text) else Text(text))

    @on(Input.Changed)
    def _changed(self) -> None:
        self.check()

    @work(group="check", exclusive=True, exit_on_error=False)
    async def check(self) -> None:
        """Ask the server what the expression returns now; the newest keystroke's check wins."""
        expr = self.expr()
        if not expr:
            self.show_check("Give an expression (or a metric and a threshold) to see what it returns.", False)
            return
        reply = await self.client.query(expr)
        if not reply.ok:
            self.show_check(reply.error, True)
            return
        self.show_check(Text.assemble((expr, "italic"), "\n", preview(reply.data.get("data") or {})), False)

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def action_save(self) -> None:
        self.save()

    @work(group="save", exclusive=True, exit_on_error=False)
    async def save(self) -> None:
        try:
            body = self.body()
        except ValueError as exc:
            self.show_check(str(exc), True)
            return
        if self.rule:
            body |= {"enabled": self.rule.get("enabled", True),
                     "notificationChannels": self.rule.get("notificationChannels") or []}
            reply = await self.client.update_rule(str(self.rule["id"]), body)
        else:
            reply = await self.client.create_rule(body)
        if not reply.ok:
            self.show_check(reply.error, True)
            return
        self.dismiss(body["name"])


class RuleDetails(Dialog):
    """``enter`` on a rule: its whole definition and status, read-only rules saying why."""

    DEFAULT_CSS = DIALOG_CSS.format(name="RuleDetails")
    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("q", "cancel", "Close", show=False)]

    def __init__(self, rule: dict[str, Any]) -> None:
        super().__init__()
        self.rule = rule

    def compose(self) -> ComposeResult:
        rule = self.rule
        text = Text.assemble((str(rule.get("name")), "bold"), f"  ({rule.get('type')}, group {rule.get('group')})\n")
        for key in ("expr", "for", "keepFiringFor", "state", "health", "lastEvaluation", "lastError", "file"):
            if rule.get(key):
                text.append(f"{key}: ", style="cyan")
                text.append(f"{rule[key]}\n")
        for key in ("labels", "annotations"):
            if rule.get(key):
                text.append(f"{key}: ", style="cyan")
                text.append(f"{pairs(rule[key])}\n")
        if not rule.get("editable"):
            text.append(f"Read-only: {rule.get('readOnlyReason')}\n", style="yellow")
        with Vertical():
            yield Field(text)
            with Horizontal(classes="buttons"):
                yield Button("Close", id="cancel")
