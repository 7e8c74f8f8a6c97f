"""The base of every dialog: a centred box that esc (or ctrl+c, see ``ConsoleApp.action_interrupt``)
closes with no answer."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Button, Input

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 72; max-width: 100%; height: auto; max-height: 100%; border: round $accent;
                     background: $surface; padding: 0 1; }}
{name} Input {{ margin: 0 0 1 0; }}
{name} .buttons {{ height: auto; align-horizontal: right; }}
{name} Button {{ margin-left: 1; min-width: 10; }}
{name} .title {{ text-style: bold; }}
"""


class Dialog(ModalScreen[Any]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
