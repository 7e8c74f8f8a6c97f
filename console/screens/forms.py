"""What every dialog with fields shares, so none loses what was typed: enter moves to the next field
and ctrl+s submits; every problem the console can see is shown at once, each under its field; a
request the server refuses keeps the dialog open with the server's message under the field it names.
A field's error goes as soon as its value is changed.

Labels are typed as ``severity=page team=ops`` (space or comma separated) and read by one parser."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select

from console.client import Reply
from console.screens.dialog import Dialog
from console.widgets.field import Field

FORM_CSS = """
{name} .row {{ height: auto; }}
{name} .label {{ width: {label}; padding-right: 1; }}
{name} .row Input, {name} .row Select {{ margin: 0; width: 1fr; }}
{name} .row Checkbox {{ width: auto; }}
{name} .field-error {{ height: auto; color: $error; display: none; padding-left: {label}; }}
{name} .field-error.-shown {{ display: block; }}
{name} #form-error {{ height: auto; color: $error; }}
{name} .hint {{ color: $text-muted; }}
"""
"""Rows of ``label | field`` with the field's error under it; ``label`` is the label column's width."""

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LABEL_PAIR = re.compile(r'\s*([^\s,=]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|\s|$)')
MAX_LABELS = 64


def parse_labels(text: str) -> dict[str, str]:
    """``severity=page team=ops`` or ``severity=page, team=ops`` (a value with spaces in double
    quotes) as a dict; ValueError names the first part that is not ``name=value``."""
    out: dict[str, str] = {}
    pos, text = 0, text.strip()
    while pos < len(text):
        match = _LABEL_PAIR.match(text, pos)
        if match is None or match.end() == pos or not _LABEL_NAME.fullmatch(match[1]):
            part = re.split(r"[\s,]", text[pos:].lstrip(" ,"), maxsplit=1)[0]
            raise ValueError(f"not name=value: {part[:40]!r} (e.g. severity=page team=ops)")
        value = match[2]
        out[match[1]] = value[1:-1].replace('\\"', '"') if value.startswith('"') else value
        if len(out) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} labels")
        pos = match.end()
        while pos < len(text) and text[pos] in " ,":
            pos += 1
    return out


def labels_text(labels: dict[str, str]) -> str:
    """Labels as ``parse_labels`` reads them back (a value with spaces, commas or quotes quoted)."""
    def one(name: str, value: str) -> str:
        if value and not re.search(r'[\s,"]', value):
            return f"{name}={value}"
        quoted = value.replace('"', '\\"')
        return f'{name}="{quoted}"'

    return " ".join(one(k, v) for k, v in labels.items())


def field_named(reply: Reply) -> str | None:
    """The form field a 400 names: its details' ``field`` (or ``parameter``), else the message's
    ``field: problem`` prefix; ``headers.X-Key`` or ``dependsOn[1]`` name their top field."""
    named = None
    if isinstance(reply.details, dict):
        named = reply.details.get("field") or reply.details.get("parameter")
    if not isinstance(named, str):
        match = re.match(r"server answered \d+: ([A-Za-z][\w.\[\]-]*):", reply.error)
        named = match.group(1) if match else None
    return re.split(r"[.\[]", named, maxsplit=1)[0] if named else None


def field_row(label: str, widget: Widget) -> ComposeResult:
    """One ``label | field`` row and the line under it where the field's error shows."""
    with Horizontal(classes="row"):
        yield Label(label, classes="label")
        yield widget
    yield Field(id=f"{widget.id}-error", classes="field-error")


FIELDS = (Input, Select, Checkbox)


class FormDialog(Dialog):
    """A dialog of fields. Subclasses implement ``submit`` (the whole form, ctrl+s or the OK button);
    ``DEFAULT_BUTTON`` is where enter in the last field goes (Cancel for a destructive answer, which
    then needs its own button focused)."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]
    DEFAULT_BUTTON: ClassVar[str] = "#ok"

    def inputs(self) -> list[Widget]:
        """The fields on show, in focus order."""
        return [w for w in self.focus_chain if isinstance(w, FIELDS)]

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        event.stop()
        fields = self.inputs()
        if event.input in fields and event.input is not fields[-1]:
            fields[fields.index(event.input) + 1].focus()
        else:
            self.query_one(self.DEFAULT_BUTTON, Button).focus()

    @on(Button.Pressed, "#ok")
    def action_save(self) -> None:
        self.submit()

    def submit(self) -> None:
        raise NotImplementedError

    def live_problem(self, field: Widget) -> str:
        """What is wrong with ``field``'s value that is worth saying as it is typed ("" for nothing,
        the default: the rest waits for ctrl+s)."""
        return ""

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        """A field's error goes as soon as its value changes: it was about the value that is gone
        (the next ctrl+s, or a live check, says again what is still wrong)."""
        self.field_error(event.control, self.live_problem(event.control))

    def field_error(self, field: Widget, message: str) -> None:
        """``message`` under ``field`` ("" clears it)."""
        line = next(iter(self.query(f"#{field.id}-error")), None) if field.id else None
        if isinstance(line, Field):
            line.set_class(bool(message), "-shown")
            line.show(Text(f"↑ {message}") if message else "")

    def show_errors(self, errors: dict[str, str], general: str = "") -> None:
        """Each message under its field (by the field's id; the first one focused and scrolled into
        view); what names no field goes in ``#form-error``."""
        first = None
        for field in self.inputs() + [w for w in self.query("*") if isinstance(w, FIELDS) and w.disabled]:
            line = next(iter(self.query(f"#{field.id}-error")), None) if field.id else None
            if not isinstance(line, Field):
                continue
            message = errors.get(field.id or "", "")
            self.field_error(field, message)
            if message and first is None:
                first = field
        self.query_one("#form-error", Field).show(Text(general))
        if first is not None:
            first.focus()
            first.scroll_visible()

    def refused(self, reply: Reply, ids: dict[str, str]) -> None:
        """The server refused the form: its message under the field it names (``ids`` maps the API's
        field names to field ids), else under the form."""
        named = field_named(reply)
        if named in ids:
            self.show_errors({ids[named]: reply.error})
        else:
            self.show_errors({}, reply.error)


Send = Callable[[Any], Awaitable[Reply]]


class SendingDialog(FormDialog):
    """A dialog that sends its own request (``send`` from the screen that opened it, which binds the
    target) and is dismissed with the successful Reply; a refused one stays open, as typed."""

    FIELD_IDS: ClassVar[dict[str, str]] = {}
    """The API's field names mapped to this dialog's field ids."""

    def __init__(self, send: Send) -> None:
        super().__init__()
        self.send = send

    def answer(self) -> Any:
        raise NotImplementedError

    @work(group="send", exclusive=True, exit_on_error=False)
    async def submit(self) -> None:
        reply = await self.send(self.answer())
        if reply.ok:
            self.dismiss(reply)
        else:
            self.refused(reply, self.FIELD_IDS)
