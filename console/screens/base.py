"""What every live screen shares: the top bar, the connection banner, the footer, and the hooks the
app calls to feed it (only the visible screen is fed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen
from textual.widget import Widget

from console.client import Link
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.footer import ConsoleFooter
from console.widgets.table import LiveTable, RowFilter
from console.widgets.topbar import TopBar

if TYPE_CHECKING:
    from console.app import ConsoleApp

TABLE_SCREEN_CSS = """
{screen} #{table} {{ height: 1fr; border: round $primary 60%; border-title-color: $text;
    border-subtitle-color: $text-muted; }}
{screen} #{table}:focus {{ border: round $accent; }}
{screen} #message {{ height: auto; padding: 0 1; }}
{screen} #message.-error {{ background: $error 20%; }}
"""
"""A screen whose body is a bordered live table (``#{table}``) over a ``#message`` line (``say``):
``TABLE_SCREEN_CSS.format(screen=..., table=...)``."""

MESSAGE_S = 10.0
"""How long ``say``'s outcome stays, like a toast (k9s's flash messages clear by themselves too)."""
ERROR_MESSAGE_S = 30.0
"""How long an error stays: longer, to be read and acted on."""


class LiveScreen(Screen):
    """Subclasses compose their body in ``compose_body`` and redraw it from the app's data in
    ``refresh_data``; ``CHART_KINDS`` are the charts the app loads before showing them."""

    TITLE: ClassVar[str] = ""
    CHART_KINDS: ClassVar[tuple[str, ...]] = ()
    TOPICS: ClassVar[tuple[str, ...]] = ()
    """Stream topics only this screen shows: subscribed while it is visible (``ServerClient.follow``)."""
    _message_until: float | None = None
    """When ``say``'s message goes (console clock); None when nothing is said."""
    DEFAULT_CSS = """
    LiveScreen #banner { height: auto; display: none; background: $error 20%; color: $text; padding: 0 1; }
    LiveScreen.-down #banner { display: block; }
    LiveScreen.-stale Panel { border: round $error 50%; }
    LiveScreen.-stale Panel, LiveScreen.-stale LiveTable { text-opacity: 60%; }
    """

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        yield TopBar(self.console.link)
        yield Field(id="banner")
        yield from self.compose_body()
        yield ConsoleFooter()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def refresh_data(self) -> None:
        """Redraw from ``self.console.live`` and ``self.console.history``; called on each flush."""
        raise NotImplementedError

    @property
    def follows_range(self) -> bool:
        """Its charts cover the console's chart range, so ``r`` (cycle it) shows and acts here."""
        return bool(self.CHART_KINDS)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``/`` (filter) is hidden while a text field has the focus, which types it: Textual hides
        the other keys a field types but knows no character for ``slash``."""
        return not (action == "filter" and self.focused is not None and self.focused.check_consume_key("/", "/"))

    def on_screen_resume(self) -> None:
        self.console.screen_shown(self)

    def show_header(self, tabs: list[tuple[str, str]], address: str) -> None:
        bar = self.query_one(TopBar)
        bar.show_tabs(tabs, self.TITLE)
        bar.show_address(address)

    def show_status(self, link: Link, age: str, late: bool, banner: str, stale: bool) -> None:
        bar = self.query_one(TopBar)
        bar.show_link(link)
        bar.show_age(age, late)
        self.set_class(bool(banner), "-down")
        self.set_class(stale, "-stale")
        self.query_one("#banner", Field).show(banner)
        if self._message_until is not None and self.console.clock.now() >= self._message_until:
            self._forget_message()

    def say(self, text: str | Text, error: bool = False) -> None:
        """One line of outcome in the screen's ``#message`` field (its CSS marks ``-error``). It is
        news, not state: it goes after ``MESSAGE_S`` (``ERROR_MESSAGE_S`` for an error, on the
        console's clock, checked on each status tick) or when another screen replaces this one (a
        dialog over it keeps it)."""
        message = self.query_one("#message", Field)
        message.set_class(error, "-error")
        message.show(text if isinstance(text, Text) else Text(text))
        keep = ERROR_MESSAGE_S if error else MESSAGE_S
        self._message_until = self.console.clock.now() + keep if str(text) else None

    def _forget_message(self) -> None:
        """Through ``say``, which a screen may extend (Dashboards gives the emptied line's row back)."""
        self._message_until = None
        if self.query("#message"):
            self.say("")

    def on_screen_suspend(self) -> None:
        if not isinstance(self.app.screen, ModalScreen):
            self._forget_message()


class FilteredScreen(LiveScreen):
    """A screen whose tables all follow the ``/`` filter (a FilterBar in its body); the screen binds
    ``/`` to ``filter`` and its clear key (the FilterBar's) to ``clear_filter``."""

    def action_filter(self) -> None:
        self.query_one(FilterBar).edit()

    def action_clear_filter(self) -> None:
        self.query_one(FilterBar).clear()
        self._set_filter("")

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self._set_filter(event.text)

    def _set_filter(self, text: str) -> None:
        row_filter = RowFilter(text)
        for table in self.query(LiveTable):
            table.set_filter(row_filter)

    def close_filter(self, focus: Widget) -> bool:
        """``esc`` while the filter is edited: close the bar (the filter stays applied) and focus
        ``focus``; False when it was not being edited (``esc`` then means the screen's own back)."""
        bar = self.query_one(FilterBar)
        if not bar.editing:
            return False
        bar.close()
        focus.focus()
        return True
