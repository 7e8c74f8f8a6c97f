"""Health check dialogs: the editor (a form per check type, the server's 400 shown next to the field it
names) and the details (facts, dependencies, latency chart and history timeline).

Like the alert dialogs, each one only collects or shows; the screen that opened the editor acts on
the check that was selected when the key was pressed."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select

from console.client import ServerClient
from console.history import RANGE_BY_NAME
from console.screens.alert_dialogs import DIALOG_CSS, Dialog, clock_text
from console.screens.forms import FormDialog, labels_text, parse_labels
from console.screens.rule_editor import pairs, parse_pairs
from console.widgets.field import Field
from console.widgets.health_state import SYMBOL, latency_text, state_label, state_of, uptime_text
from console.widgets.series_chart import AXIS_W, Series, SeriesChart
from engine.compat.strconv import quote


@dataclass(frozen=True)
class FormField:
    """One input of the editor; ``key`` is the API's field name."""

    key: str
    label: str
    kind: str = "text"
    """text, int, bool, labels (k=v k=v), pairs (k=v, k=v), list (a, b) or json (a JSON scalar, else the text)."""
    default: str | bool = ""
    required: bool = False
    placeholder: str = ""


COMMON = (FormField("name", "Name", required=True, placeholder="booking"),
          FormField("interval", "Interval", default="30s"), FormField("timeout", "Timeout", default="5s"),
          FormField("retries", "Retries", "int", "1", placeholder="results in a row that change the state"),
          FormField("degradedLatency", "Degraded after", placeholder="optional latency, e.g. 500ms"),
          FormField("dependsOn", "Depends on", "list", placeholder="check names, comma separated"),
          FormField("labels", "Labels", "labels", placeholder="team=booking tier=1"))
HTTP = (FormField("url", "URL", required=True, placeholder="https://booking:8080/health"),
        FormField("method", "Method", default="GET"),
        FormField("expectedStatus", "Expected status", "list", placeholder="2xx (or 200, 301, 3xx …)"),
        FormField("bodyContains", "Body contains", placeholder="optional text the answer must hold"),
        FormField("jsonPath", "JSON path", placeholder="optional, e.g. $.status"),
        FormField("jsonValue", "JSON value", "json", placeholder='with a JSON path: "ok", 1, true'),
        FormField("headers", "Headers", "pairs", placeholder="Name=value, … (shown back as ***)"),
        FormField("body", "Request body", placeholder="optional"),
        FormField("followRedirects", "Follow redirects", "bool", True),
        FormField("tlsVerify", "Verify TLS certificate", "bool", True))
FORMS: dict[str, tuple[FormField, ...]] = {
    "http": HTTP,
    "tcp": (FormField("host", "Host", required=True, placeholder="127.0.0.1"),
            FormField("port", "Port", "int", required=True, placeholder="5432"),
            FormField("send", "Send", placeholder="optional"),
            FormField("expect", "Expect", placeholder="optional text in the answer")),
    "redis": (FormField("url", "Redis URL", required=True, placeholder="redis://127.0.0.1:6379/0"),),
    "postgres": (FormField("url", "PostgreSQL URL", required=True,
                           placeholder="postgresql://user@127.0.0.1:5432/db"),),
    "mongodb": (FormField("url", "MongoDB URI", required=True, placeholder="mongodb://127.0.0.1:27017"),),
    "dns": (FormField("host", "Name", required=True, placeholder="booking.example.com"),
            FormField("expectedAddress", "Expected address", placeholder="optional, e.g. 10.0.0.7")),
}
TYPES = ("http", "https", "tcp", "redis", "postgres", "mongodb", "dns")
"""What the API accepts; ``command`` checks come from the config file only."""


def form_of(check_type: str) -> str:
    return "http" if check_type in ("http", "https") else check_type


def json_or_text(text: str) -> Any:
    """``1``, ``true``, ``null`` or ``"ok"`` as JSON; anything else as the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, (str, int, float, bool)) else text


class CheckEditor(FormDialog):
    """``n`` (new) or ``e`` (edit): dismissed with the saved check's name, or None when cancelled."""

    DEFAULT_CSS = DIALOG_CSS.format(name="CheckEditor") + """
    CheckEditor > Vertical { width: 90; height: 100%; }
    CheckEditor VerticalScroll { height: 1fr; }
    CheckEditor .row { height: auto; }
    CheckEditor .label { width: 24; padding-right: 1; }
    CheckEditor Input { margin: 0; width: 1fr; }
    CheckEditor Select { margin: 0; width: 1fr; }
    CheckEditor Checkbox { width: auto; }
    CheckEditor .-hidden { display: none; }
    CheckEditor .field-error { height: auto; color: $error; display: none; padding-left: 24; }
    CheckEditor .field-error.-shown { display: block; }
    CheckEditor #form-error { height: auto; color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, client: ServerClient, check: dict[str, Any] | None, names: list[str]) -> None:
        super().__init__()
        self.client, self.check = client, check
        self.names = names
        self.form = form_of(str((check or {}).get("type") or "http"))

    def compose(self) -> ComposeResult:
        check = (self.check or {}).get("check") or {}
        with Vertical():
            yield Field(f"Edit health check {check['name']}" if check else "New health check", classes="title")
            yield Field("ctrl+s saves · esc cancels · tab moves between fields", classes="hint")
            with VerticalScroll():
                with Horizontal(classes="row"):
                    yield Label("Type", classes="label")
                    yield Select([(t, t) for t in TYPES], value=str(check.get("type") or "http"),
                                 allow_blank=False, id="type", compact=True)
                yield from self._inputs("common", COMMON, check)
                for form, fields in FORMS.items():
                    with Vertical(id=f"form-{form}", classes="type-form"):
                        yield from self._inputs(form, fields, check if form_of(str(check.get("type"))) == form
                                                else {})
                yield Field(id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="ok", variant="primary")

    def _inputs(self, form: str, fields: tuple[FormField, ...], check: dict[str, Any]) -> ComposeResult:
        for f in fields:
            value = check.get(f.key)
            with Horizontal(classes="row"):
                yield Label(f.label + (" *" if f.required else ""), classes="label")
                if f.kind == "bool":
                    yield Checkbox("space toggles", bool(f.default) if value is None else bool(value),
                                   id=f"{form}-{f.key}", compact=True)
                else:
                    text = (f.default if value is None
                            else pairs(value) if f.kind == "pairs" and isinstance(value, dict)
                            else labels_text(value) if f.kind == "labels" and isinstance(value, dict)
                            else ", ".join(map(str, value)) if f.kind == "list" and isinstance(value, list)
                            else json.dumps(value) if f.kind == "json" and not isinstance(value, str)
                            else str(value))
                    yield Input(str(text), placeholder=f.placeholder, id=f"{form}-{f.key}", compact=True,
                                disabled=bool(self.check) and f.key == "name")
            yield Field(id=f"{form}-{f.key}-error", classes="field-error")

    def on_mount(self) -> None:
        super().on_mount()
        self._show_form()
        self.query_one("#common-name" if not self.check else "#type").focus()

    def _show_form(self) -> None:
        for form in FORMS:
            self.query_one(f"#form-{form}").set_class(form != self.form, "-hidden")

    @on(Select.Changed, "#type")
    def _type_changed(self, event: Select.Changed) -> None:
        self.form = form_of(str(event.value))
        self._show_form()

    def fields(self) -> list[tuple[str, FormField]]:
        return [("common", f) for f in COMMON] + [(self.form, f) for f in FORMS[self.form]]

    def body(self) -> dict[str, Any]:
        """The API body of the form; a field the console can already tell is wrong is marked and
        ValueError raised (the server checks everything else)."""
        body: dict[str, Any] = {"type": str(self.query_one("#type", Select).value)}
        errors = {}
        for form, f in self.fields():
            if f.kind == "bool":
                body[f.key] = self.query_one(f"#{form}-{f.key}", Checkbox).value
                continue
            text = self.query_one(f"#{form}-{f.key}", Input).value.strip()
            try:
                if not text:
                    if f.required:
                        raise ValueError("required")
                elif f.kind == "int":
                    body[f.key] = int(text)
                elif f.kind == "pairs":
                    body[f.key] = parse_pairs(text)
                elif f.kind == "labels":
                    body[f.key] = parse_labels(text)
                elif f.kind == "list":
                    body[f.key] = [int(p) if f.key == "expectedStatus" and p.isdigit() else p
                                   for p in (part.strip() for part in text.split(",")) if p]
                elif f.kind == "json":
                    body[f.key] = json_or_text(text)
                else:
                    body[f.key] = text
            except ValueError as exc:
                wrong_int = f.kind == "int" and str(exc) != "required"
                errors[f"{form}-{f.key}"] = "must be a whole number" if wrong_int else str(exc)
        self.show_errors(errors)
        if errors:
            raise ValueError(", ".join(errors))
        return body

    @work(group="save", exclusive=True, exit_on_error=False)
    async def submit(self) -> None:
        try:
            body = self.body()
        except ValueError:
            return
        if self.check:
            body["name"] = self.check["name"]
            reply = await self.client.update_check(str(self.check["name"]), body)
        else:
            reply = await self.client.create_check(body)
        if reply.ok:
            self.dismiss(body["name"])
            return
        self.refused(reply, {f.key: f"{form}-{f.key}" for form, f in self.fields()})


class CheckDetails(Dialog):
    """``enter``: the check's facts and dependencies, its latency charted with PromQL over the chart
    range, and its history of state changes and failures."""

    DEFAULT_CSS = DIALOG_CSS.format(name="CheckDetails") + """
    CheckDetails > Vertical { width: 110; height: 100%; }
    CheckDetails VerticalScroll { height: 1fr; }
    CheckDetails SeriesChart { height: 9; padding: 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("q", "cancel", "Close", show=False)]

    def __init__(self, client: ServerClient, check: dict[str, Any], services: dict[str, dict[str, Any]],
                 now: float, range_name: str) -> None:
        super().__init__()
        self.client, self.check, self.services = client, check, services
        self.now, self.range = now, RANGE_BY_NAME[range_name]

    def compose(self) -> ComposeResult:
        title = state_label(state_of(self.check))
        title.append(f" {self.check.get('name')}  ({self.check.get('type')})", style="bold")
        with Vertical():
            yield Field(title, classes="title")
            with VerticalScroll():
                yield Field(self._facts(self.check), id="facts")
                yield Field(Text(f"Latency in ms (probe_duration_seconds), last {self.range.name}", style="bold"))
                yield SeriesChart(id="latency")
                yield Field("loading the history…", id="timeline")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="cancel")

    def on_mount(self) -> None:
        self.load()
        self.call_after_refresh(self.chart)  # its width sets the query's step

    def _facts(self, view: dict[str, Any]) -> Text:
        text = Text()

        def fact(name: str, value: Any) -> None:
            if value not in (None, "", [], {}):
                text.append(f"{name:<13}", style="cyan")
                text.append(f"{value}\n")

        check = view.get("check") or {}
        fact("target", check.get("url") or (f"{check.get('host')}:{check['port']}" if check.get("port")
                                            else check.get("host")))
        fact("state since", clock_text(view.get("since")))
        fact("why", view.get("reason"))
        fact("last check", clock_text(view.get("lastCheck")))
        if view.get("lastError"):
            fact("last error", f"{view['lastError']} (at {clock_text(view.get('lastErrorAt'))})")
        times = view.get("responseTimeMs") or {}
        fact("latency", f"last {latency_text(view.get('latencyMs'))} · 24h mean {latency_text(times.get('mean'))}"
                        f" · p95 {latency_text(times.get('p95'))}")
        uptime = view.get("uptime") or {}
        fact("uptime", " · ".join(f"{w} {uptime_text(uptime.get(w))}" for w in ("24h", "7d", "30d")))
        if view.get("certExpiry"):
            fact("certificate", f"expires {view['certExpiry']} ({view.get('certDaysLeft'):.0f} days left)")
        fact("schedule", " · ".join(f"{k} {check[k]}" for k in ("interval", "timeout", "retries") if k in check))
        fact("labels", ", ".join(f"{k}={v}" for k, v in sorted((view.get("labels") or {}).items())))
        fact("source", view.get("source"))
        name = view.get("name")
        fact("depends on", self._names(view.get("dependsOn") or []))
        fact("needed by", self._names(view.get("dependents") or sorted(
            n for n, s in self.services.items() if name in (s.get("dependsOn") or []))))
        return text

    def _names(self, names: list[Any]) -> str:
        """Check names with their states' symbols (``?`` for a name with no check)."""
        return ", ".join(f"{SYMBOL[state_of(self.services[n])] if n in self.services else '?'} {n}"
                         for n in map(str, names))

    @work(group="details", exit_on_error=False)
    async def load(self) -> None:
        reply = await self.client.health_service(str(self.check["name"]))
        timeline = Text("\nHistory\n", style="bold")
        if not reply.ok:
            timeline.append(reply.error, style="red")
            self.query_one("#timeline", Field).show(timeline)
            return
        check = reply.data.get("service") or {}
        self.query_one("#facts", Field).show(self._facts({**self.check, **check}))
        history = [e for e in check.get("history") or [] if isinstance(e, dict)]
        if not history:
            timeline.append("  no state change or failure recorded yet\n", style="dim")
        for event in history:
            timeline.append(f"  {clock_text(event.get('ts'))}  ")
            if event.get("kind") == "state":
                timeline.append_text(state_label(str(event.get("state") or "unknown")))
                timeline.append(f" (was {event.get('previous')})" if event.get("previous") else "")
            else:
                timeline.append(f"{SYMBOL['down']} failed", style="red")
                timeline.append(f" after {latency_text(event.get('durationMs'))}")
            if event.get("error"):
                timeline.append(f"  {event['error']}")
            timeline.append("\n")
        self.query_one("#timeline", Field).show(timeline)

    @work(group="details-chart", exit_on_error=False)
    async def chart(self) -> None:
        chart = self.query_one(SeriesChart)
        width = max(10, chart.size.width - AXIS_W)
        step = max(1, math.ceil(self.range.seconds / (2 * width)))
        end = math.ceil(self.now / step) * step  # the latest result falls inside the range
        expr = f"1000 * probe_duration_seconds{{service={quote(str(self.check['name']))}}}"
        reply = await self.client.prom_query_range(expr, end - self.range.seconds, end, step)
        if not reply.ok:
            chart.show_note(reply.error)
            return
        series = [Series("ms", [(float(t), float(v)) for t, v in item.get("values") or []
                                     if math.isfinite(float(v))])
                  for item in reply.data.get("result") or []]
        chart.show(series[:1], end - self.range.seconds, end, step)

