"""The bar on top of every screen: screens, server, connection state, age of the last update."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal

from console.client import Link, LinkState
from console.widgets.field import Field

_DOT = "●"


class TopBar(Horizontal):
    DEFAULT_CSS = """
    TopBar { height: 1; background: $panel; color: $foreground; }
    TopBar > Field { width: auto; padding: 0 1; }
    TopBar #address { width: 1fr; text-align: right; color: $text-muted; text-wrap: nowrap;
                      text-overflow: ellipsis; }
    TopBar #counts { display: none; }
    TopBar #link.-live { color: $success; }
    TopBar #link.-paused { color: $warning; }
    TopBar #link.-down { color: $error; text-style: bold; }
    TopBar #age { min-width: 10; text-align: right; }
    TopBar #demo { display: none; text-style: reverse bold; color: $warning; }
    TopBar #demo.-on { display: block; }
    TopBar #age.-late { color: $warning; text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        yield Field(id="tabs")
        yield Field(" DEMO DATA ", id="demo")
        yield Field(id="counts")
        yield Field(id="address")
        yield Field(id="link")
        yield Field(id="age")

    def show_tabs(self, tabs: Iterable[tuple[str, str]], current: str) -> None:
        """``tabs`` are (key, title); the current one is highlighted."""
        text = Text()
        for key, title in tabs:
            if text:
                text.append(" ")
            text.append(f"{key} {title}", style="reverse bold" if title == current else "")
        self.query_one("#tabs", Field).show(text)

    def show_address(self, address: str) -> None:
        self.query_one("#address", Field).show(address)

    def show_counts(self, firing: int, unacked: int, down: int) -> None:
        """Services down and firing alerts, each only when there are some; they keep their room
        when the address has to give way."""
        text = Text()
        if down:
            text.append(f"✖ {down} down", style="bold red")
        if firing:
            text.append("  " if text else "")
            text.append(f"{firing} firing", style="bold red")
            text.append(f" · {unacked} unacked")
        counts = self.query_one("#counts", Field)
        counts.display = bool(text)
        counts.show(text)

    def show_demo(self, demo: bool) -> None:
        """Label simulated data (the server says it was started by the demo) so nobody takes it for real."""
        self.query_one("#demo", Field).set_class(demo, "-on")

    def show_link(self, link: Link) -> None:
        label = self.query_one("#link", Field)
        label.set_class(link.state == LinkState.LIVE, "-live")
        label.set_class(link.state == LinkState.PAUSED, "-paused")
        label.set_class(link.state in (LinkState.CONNECTING, LinkState.RECONNECTING), "-down")
        label.show(f"{_DOT} {link.state.value}")

    def show_age(self, text: str, late: bool) -> None:
        age = self.query_one("#age", Field)
        age.set_class(late, "-late")
        age.show(text)
