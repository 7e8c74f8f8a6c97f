"""The rule editor: the simple form (metric, condition, threshold) or the PromQL form, checked against
the server as the user types, with a preview of what the expression returns now and which alerts it
would raise. Server errors stay in the editor, next to the fields, until fixed."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input

from console.client import ServerClient
from console.screens.dialog import DIALOG_CSS, Dialog
from console.screens.forms import FORM_CSS, FormDialog, field_row, labels_text, parse_labels
from console.widgets.field import Field
from engine.compat.regex import compile as compile_regex
from engine.settings import parse_duration

PREVIEW_ROWS = 5
CONDITIONS = (">", "<", ">=", "<=", "==", "!=")
FIELDS = (  # (id, label, default, placeholder, form: both, simple or promql), in focus order
    ("name", "Name", "", "e.g. HighLoad", "both"),
    ("metric", "Metric", "", "a name or selector, e.g. node_load1", "simple"),
    ("condition", "Condition", ">", " ".join(CONDITIONS), "simple"),
    ("threshold", "Threshold", "", "a number, e.g. 0.9", "simple"),
    ("expr", "Expression", "", "PromQL, e.g. node_load1 > 2", "promql"),
    ("for", "For", "0s", "how long it must hold: 0s, 5m, 1h", "both"),
    ("severity", "Severity", "warning", "warning, critical, page …", "simple"),
    ("labels", "Labels", "", "team=ops tier=1 (space or comma separated)", "both"),
    ("annotations", "Annotations", "", "summary=…, runbook=… (comma separated)", "both"),
)
API_FIELDS = {"name": "name", "metricName": "metric", "condition": "condition", "threshold": "threshold",
              "expr": "expr", "duration": "for", "for": "for", "keepFiringFor": "for", "severity": "severity",
              "labels": "labels", "annotations": "annotations"}
"""The API's field names (either form) mapped to the editor's fields, for the server's 400."""
_SIMPLE_EXPR = compile_regex(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^{}]*\})?|\{[^{}]*\})\s*(>=|<=|==|!=|>|<)\s*"
                             r"([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$")


def simple_parts(expr: str) -> tuple[str, str, str] | None:
    """(metric, condition, threshold) of ``metric > 0.9``; None for any other expression."""
    match = _SIMPLE_EXPR.find_submatch(expr)
    return None if match is None else (match[1] or "", match[2] or "", match[3] or "")


def parse_threshold(text: str) -> float:
    """The simple form's threshold; ValueError for anything but a finite number."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


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


class RuleEditor(FormDialog):
    """Dismissed with the saved rule's name, or None when cancelled. Both forms stay filled: f2 carries
    the simple form over into the PromQL one (``metric > threshold``, severity into the labels) and
    back when the expression is that simple."""

    DEFAULT_CSS = DIALOG_CSS.format(name="RuleEditor") + FORM_CSS.format(name="RuleEditor", label=13) + """
    RuleEditor > Vertical { width: 100; height: 100%; }
    RuleEditor VerticalScroll { height: 1fr; }
    RuleEditor VerticalScroll > Vertical { height: auto; }
    RuleEditor .-hidden { display: none; }
    RuleEditor #check { height: auto; min-height: 1; margin-top: 1; }
    RuleEditor #check.-error { color: $error; }
    """
    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel"), Binding("f2", "switch_form", "Simple/PromQL form"),
                          Binding("ctrl+s", "save", "Save")]

    def __init__(self, client: ServerClient, rule: dict[str, Any] | None) -> None:
        super().__init__()
        self.client, self.rule = client, rule
        self.form = "promql" if rule else "simple"

    def compose(self) -> ComposeResult:
        rule = self.rule or {}
        known = {"name": rule.get("name", ""), "expr": rule.get("expr", ""), "for": rule.get("for") or "0s",
                 "labels": labels_text(rule.get("labels") or {}), "annotations": pairs(rule.get("annotations") or {})}
        with Vertical():
            yield Field(f"Edit rule {rule['name']}" if rule else "New rule", classes="title")
            yield Field(id="form-label", classes="hint")
            with VerticalScroll():
                for key, label, default, placeholder, form in FIELDS:
                    with Vertical(classes=f"form-{form}"):
                        yield from field_row(label, Input(known.get(key, default), placeholder=placeholder,
                                                          id=key, compact=True))
                yield Field(id="form-error")
                yield Field(id="check")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="ok", variant="primary")

    def on_mount(self) -> None:
        super().on_mount()
        self._show_form()
        self.query_one("#name", Input).focus()
        if self.rule:
            self.check()

    def _show_form(self) -> None:
        for form in ("simple", "promql"):
            for part in self.query(f".form-{form}"):
                part.set_class(self.form != form, "-hidden")
        self.query_one("#form-label", Field).show(
            f"{'Simple' if self.form == 'simple' else 'PromQL'} form · f2 switches · "
            "enter next field · ctrl+s saves · esc cancels")

    def action_switch_form(self) -> None:
        """Carry what was typed over into the other form; stay when it cannot be carried (labels
        that do not read, a threshold that is not a number)."""
        try:
            labels = parse_labels(self.value("labels"))
        except ValueError as exc:
            self.show_errors({"labels": str(exc)}, "Fix the labels to switch forms.")
            return
        threshold_problem = self.bad_threshold() if self.form == "simple" else ""
        if threshold_problem:
            self.show_errors({"threshold": threshold_problem}, "Fix the threshold to switch forms.")
            return
        if self.form == "simple":
            if self.value("severity"):
                labels["severity"] = self.value("severity")
            expr = self.expr()
            if expr or not self.value("expr"):
                self.set_value("expr", expr)
        else:
            parts = simple_parts(self.value("expr")) if self.value("expr") else ("", ">", "")
            if parts is None:
                self.show_errors({}, "This expression is not «metric condition threshold»: "
                                     "it has no simple form, so it stays in the PromQL form.")
                return
            for key, value in zip(("metric", "condition", "threshold"), parts, strict=True):
                self.set_value(key, value)
            self.set_value("severity", labels.pop("severity", ""))
        self.set_value("labels", labels_text(labels))
        was_in = self.focused.id if isinstance(self.focused, Input) else None
        self.form = "promql" if self.form == "simple" else "simple"
        self._show_form()
        self.show_errors({})
        self.focus_after_switch(was_in)
        self.check()

    def focus_after_switch(self, was_in: str | None) -> None:
        """Typing goes on where it was: a field both forms have keeps the focus; from a field of the
        other form, the focus goes to the field the switch carried it into (the expression, or the
        metric); from anywhere else, to the first field."""
        shared = {key for key, *_, form in FIELDS if form == "both"}
        if was_in in shared:
            target = was_in
        elif was_in is not None:
            target = "expr" if self.form == "promql" else "metric"
        else:
            target = FIELDS[0][0]
        self.query_one(f"#{target}", Input).focus()

    def value(self, key: str) -> str:
        return self.query_one(f"#{key}", Input).value.strip()

    def set_value(self, key: str, value: str) -> None:
        with self.prevent(Input.Changed):
            self.query_one(f"#{key}", Input).value = value

    def bad_threshold(self) -> str:
        """What is wrong with the threshold typed ("" when it is a number, or not typed yet)."""
        try:
            parse_threshold(self.value("threshold") or "0")
        except ValueError:
            return "must be a number"
        return ""

    def live_problem(self, field: Widget) -> str:
        """The threshold is checked as it is typed: a word there is not a metric."""
        return self.bad_threshold() if field.id == "threshold" else ""

    def expr(self) -> str:
        """The expression on show; in the simple form, none while the threshold is not a number."""
        if self.form == "promql":
            return self.value("expr")
        metric, threshold = self.value("metric"), self.value("threshold")
        if not (metric and threshold) or self.bad_threshold():
            return ""
        return f"{metric} {self.value('condition')} {threshold}"

    def body(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The API body of the form on show, and every problem the console can see (by field)."""
        errors: dict[str, str] = {}
        body: dict[str, Any] = {"name": self.value("name")}
        if not body["name"]:
            errors["name"] = "required"
        if self.form == "simple":
            body |= {"metricName": self.value("metric"), "condition": self.value("condition"),
                     "duration": self.value("for") or "0s", "severity": self.value("severity")}
            if not body["metricName"]:
                errors["metric"] = "required: a metric name or a selector"
            if body["condition"] not in CONDITIONS:
                errors["condition"] = f"must be one of {' '.join(CONDITIONS)}"
            try:
                body["threshold"] = parse_threshold(self.value("threshold"))
            except ValueError:
                errors["threshold"] = "must be a number"
        else:
            body |= {"expr": self.value("expr"), "for": self.value("for") or "0s"}
            if not body["expr"]:
                errors["expr"] = "required: a PromQL expression"
        try:
            parse_duration(self.value("for") or "0s")
        except ValueError:
            errors["for"] = "a duration such as 0s, 90s, 5m or 1h"
        try:
            body["labels"] = parse_labels(self.value("labels"))
        except ValueError as exc:
            errors["labels"] = str(exc)
        else:
            severity = body.get("severity")
            if severity and body["labels"].get("severity", severity) != severity:
                errors["severity"] = f"differs from the labels' severity={body['labels']['severity']}"
        try:
            body["annotations"] = parse_pairs(self.value("annotations"))
        except ValueError as exc:
            errors["annotations"] = str(exc)
        return body, errors

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
        if self.form == "simple" and self.bad_threshold():
            self.show_check("The threshold must be a number: nothing to preview.", True)
            return
        if not expr:
            self.show_check("Give an expression (or a metric and a threshold) to see what it returns.", False)
            return
        reply = await self.client.query(expr)
        if not reply.ok:
            self.show_check(reply.error, True)
            return
        self.show_check(Text.assemble((expr, "italic"), "\n", preview(reply.data.get("data") or {})), False)

    @work(group="save", exclusive=True, exit_on_error=False)
    async def submit(self) -> None:
        body, errors = self.body()
        self.show_errors(errors, "Nothing saved: fix the fields marked." if errors else "")
        if errors:
            return
        if self.rule:
            body |= {"enabled": self.rule.get("enabled", True),
                     "notificationChannels": self.rule.get("notificationChannels") or []}
            reply = await self.client.update_rule(str(self.rule["id"]), body)
        else:
            reply = await self.client.create_rule(body)
        if not reply.ok:
            self.refused(reply, API_FIELDS)
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
