"""The ``/`` filter line: an input while editing, a reminder of the active filter afterwards."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input

from console.widgets.field import Field


class FilterBar(Horizontal):
    """Posts ``Changed`` as the user types; esc or enter hide it and keep the filter applied (enter
    gives the focus back to where it was when editing began: the hidden field cannot keep it)."""

    DEFAULT_CSS = """
    FilterBar { height: 1; display: none; background: $panel; }
    FilterBar.-editing, FilterBar.-active { display: block; }
    FilterBar > #filter-label { width: auto; padding: 0 1; color: $text-muted; }
    FilterBar > Input { display: none; width: 1fr; border: none; height: 1; padding: 0; }
    FilterBar.-editing > Input { display: block; }
    FilterBar.-editing > #filter-label { color: $accent; }
    """

    class Changed(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, clear_key: str = "c") -> None:
        """``clear_key`` is the screen's key that clears the filter, named in the reminder."""
        super().__init__()
        self.clear_key = clear_key
        self._came_from: Widget | None = None

    def compose(self) -> ComposeResult:
        yield Field("/", id="filter-label")
        yield Input(placeholder="filter rows: text or regex, !text hides matches", compact=True,
                    id="filter-input")

    @property
    def text(self) -> str:
        return self.query_one(Input).value

    @property
    def editing(self) -> bool:
        return self.has_class("-editing")

    def edit(self) -> None:
        if not self.editing:
            self._came_from = self.screen.focused
        self.add_class("-editing")
        self._label()
        field = self.query_one(Input)
        field.cursor_blink = False
        field.focus()

    def close(self) -> None:
        """Stop editing; the filter stays applied and is shown as a reminder."""
        self.remove_class("-editing")
        self._label()

    def clear(self) -> None:
        self.query_one(Input).value = ""
        self.close()

    def _label(self) -> None:
        active = bool(self.text)
        self.set_class(active, "-active")
        label = Text("/")
        if active and not self.editing:
            label = Text.assemble("filter: ", (self.text, "bold"), f"   / edit · {self.clear_key} clear")
        self.query_one("#filter-label", Field).show(label)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._label()
        self.post_message(self.Changed(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()
        back = self._came_from
        if back is not None and back.is_attached and back.focusable:
            back.focus()
        self.post_message(self.Changed(event.value))
