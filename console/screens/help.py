"""The help screen, generated from the bindings that dispatch the keys of the screen it covers, so
it can never list a key that does not work or miss one that does."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

HIDDEN_ACTIONS = {"help_quit", "screen.copy_text"}
"""Textual's own ctrl+c hint (this app binds ctrl+c to quit) and its copy-selection key, which is not
this product's."""


def _section(node: DOMNode) -> tuple[int, str]:
    """(order, heading) of the part of the help a binding belongs to: global keys first."""
    if isinstance(node, App):
        return 0, "Everywhere"
    if isinstance(node, Screen):
        return 1, f"{getattr(node, 'TITLE', '') or type(node).__name__} screen"
    title = getattr(node, "title", "")
    return 2, f"In the {title} table" if title else "Scrolling"


def help_sections(screen: Screen, app: App) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section, [(keys, description)]) from ``screen.active_bindings``: the app's, the screen's and
    the focused widget's bindings, the same map Textual dispatches key presses through."""
    sections: dict[tuple[int, str], dict[str, list[str]]] = {}
    for active in screen.active_bindings.values():
        binding: Binding = active.binding
        if binding.action in HIDDEN_ACTIONS or binding.system:
            continue
        description = binding.description or binding.action
        keys = sections.setdefault(_section(active.node), {}).setdefault(description, [])
        keys.append(app.get_key_display(binding))
    return [(section[1], [(" / ".join(keys), description) for description, keys in entries.items()])
            for section, entries in sorted(sections.items(), key=lambda item: item[0][0])]


class HelpScreen(ModalScreen[None]):
    """Lists every key of the screen underneath; esc, ? or F1 closes it."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close help"),
        Binding("question_mark", "dismiss", "Close help", show=False),
        Binding("f1", "dismiss", "Close help", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 72; max-width: 100%; height: auto; max-height: 100%;
                                  border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for i, (section, entries) in enumerate(self.sections):
            if i:
                table.add_row("", "")
            table.add_row(Text(section, style="underline"), "")
            for keys, description in entries:
                table.add_row(Text(keys), Text(description))
        scroll = VerticalScroll(Static(table), id="help")
        scroll.border_title = "Keys"
        scroll.border_subtitle = "esc closes"
        yield scroll
