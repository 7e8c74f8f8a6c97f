"""The bar on top of every screen: screens, server (and, with replicas, which one and the leader),
connection state, age of the last update."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal

from console import format as fmt
from console.client import Link, LinkState
from console.widgets.field import Field

_DOT = "●"
GIVE_WAY = (("replica", "hide"), ("address", "elastic"), ("host", "hide"), ("who", "hide"), ("age", "hide"),
            ("counts", "elastic"))
"""What makes room, in this order, when the tab keys and the current title do not fit beside the
rest of the bar: the replica goes, the address shrinks (to an ellipsis), the host, who is logged in and
the age go, then the counts shrink in place of the address. The connection state always stays."""
MAX_HOST_CHARS = 20
FIELD_PADDING = 1
"""Cells on each side of every field in the bar (``padding: 0 1`` in its CSS below)."""


class TopBar(Horizontal):
    DEFAULT_CSS = """
    TopBar { height: 1; background: $panel; color: $foreground; }
    TopBar > Field { width: auto; padding: 0 1; }
    TopBar #address { width: 1fr; text-align: right; color: $text-muted; text-wrap: nowrap;
                      text-overflow: ellipsis; }
    TopBar #counts { display: none; }
    TopBar #who { display: none; color: $text-muted; }
    TopBar #host { display: none; color: $text-muted; }
    TopBar #replica { display: none; color: $text-muted; }
    TopBar #link.-live { color: $success; }
    TopBar #link.-paused { color: $warning; }
    TopBar #link.-down { color: $error; text-style: bold; }
    TopBar #age { min-width: 10; text-align: right; }
    TopBar #demo { display: none; text-style: reverse bold; color: $warning; }
    TopBar #demo.-on { display: block; }
    TopBar #age.-late { color: $warning; text-style: bold; }
    TopBar > .-squeezed { max-width: 0; padding: 0; }
    TopBar > .-elastic { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    _tabs: tuple[list[tuple[str, str]], str] | None = None
    _tabs_shown: Text | None = None

    def __init__(self, link: Link) -> None:
        super().__init__()
        self._link = link

    def on_mount(self) -> None:
        """The connection word is there from the bar's first frame, not from the first status update
        (which may come a refresh tick later)."""
        self.show_link(self._link)

    def compose(self) -> ComposeResult:
        yield Field(id="tabs")
        yield Field(" DEMO DATA ", id="demo")
        yield Field(id="counts")
        yield Field(id="host")
        yield Field(id="replica")
        yield Field(id="who")
        yield Field(id="address")
        yield Field(id="link")
        yield Field(id="age")

    def show_tabs(self, tabs: Iterable[tuple[str, str]], current: str) -> None:
        """``tabs`` are (key, title); the current one is highlighted. When the titles do not all fit
        beside the rest of the bar, the tabs farthest from the current one show their key only, so the
        current one and its neighbours stay readable (80 columns hold about five titles); every key
        stays."""
        self._tabs = (list(tabs), current)
        self._draw_tabs()

    def on_resize(self) -> None:
        self._draw_tabs()

    def _natural_width(self, field: Field) -> int:
        """The cells a field takes when it is not squeezed: its text, padding and minimum width. The
        padding is the bar's, not the field's current one: a squeezed field has none, and counting
        that would let the next fit undo the squeeze (the bar flipped at every tick of the age)."""
        width = field.get_content_width(self.app.size, self.app.size) + 2 * FIELD_PADDING
        if field.styles.min_width is not None:
            width = max(width, int(field.styles.min_width.resolve(self.app.size, self.app.size)))
        return width

    def _draw_tabs(self) -> None:
        """Fit the tabs from the texts beside them, not from the last layout, so the bar is right in
        the frame that changes it. Every key and the current title always show: when even that does
        not fit, the fields beside the tabs give way first (``GIVE_WAY``)."""
        if self._tabs is None:
            return
        tabs, current = self._tabs
        field = self.query_one("#tabs", Field)
        shown = [f for f in self.query(Field) if f is not field and f.display
                 and (f.id != "demo" or f.has_class("-on"))]
        at = next((i for i, (_, title) in enumerate(tabs) if title == current), 0)
        least = _tabs_text(tabs, current, set(range(len(tabs))) - {at}).cell_len
        width = self.app.size.width - field.styles.gutter.width
        hidden: set[str] = set()
        elastic: set[str] = set()

        def room() -> int:  # an elastic field keeps its padding
            return width - sum(2 * FIELD_PADDING if f.id in elastic else self._natural_width(f)
                               for f in shown if f.id not in hidden)

        for name, how in GIVE_WAY:
            if room() >= least:
                break
            (elastic if how == "elastic" else hidden).add(name)
        if "counts" in elastic:
            hidden.add("address")  # the counts take the room that is left
        for f in shown:
            f.set_class(f.id in hidden, "-squeezed")
            f.set_class(f.id in elastic, "-elastic")
        # The other tabs' titles come last: they take only the room every field shown leaves at its
        # natural width, so they never squeeze the counts or the address (help lists every title).
        free = width - sum(self._natural_width(f) for f in shown if f.id not in hidden)
        compact: set[int] = set()
        text = _tabs_text(tabs, current, compact)
        for i in sorted(range(len(tabs)), key=lambda i: (-abs(i - at), -i)):
            if text.cell_len <= free:
                break
            if i != at:
                compact.add(i)
                text = _tabs_text(tabs, current, compact)
        if text != self._tabs_shown:
            self._tabs_shown = text
            field.show(text)
            # An explicit width, not ``auto``: an auto width measured from the previous text could
            # outlive the change (the current title cut off until some other layout, seen in fleet mode).
            field.styles.width = text.cell_len + 2 * FIELD_PADDING

    def show_who(self, who: str | None) -> None:
        """Who the server takes this console for, when it checks credentials; hidden when it does not."""
        field = self.query_one("#who", Field)
        field.display = bool(who)
        if who:
            field.show(who)
        self._draw_tabs()

    def show_address(self, address: str) -> None:
        self.query_one("#address", Field).show(address)
        self._draw_tabs()

    def show_host(self, hostname: str | None, uptime_s: float | None) -> None:
        """The watched server's host name and uptime (from its ``node_uname_info`` and boot time);
        hidden until the server names its host."""
        host = self.query_one("#host", Field)
        if not isinstance(hostname, str) or not hostname:
            host.display = False
            return
        name = _short(hostname)
        up = fmt.uptime(uptime_s) if isinstance(uptime_s, (int, float)) else None
        host.show(Text(name if up is None else f"{name} up {up}"))
        if not host.display:
            host.display = True
        self._draw_tabs()

    def show_replica(self, replica: str | None, leader: str | None) -> None:
        """Which replica of several this console talks to (behind a load balancer it may be any) and
        which one leads (evaluates rules, sends notifications); hidden for a single server."""
        field = self.query_one("#replica", Field)
        if not replica:
            if field.display:
                field.display = False
                self._draw_tabs()
            return
        text = f"replica {_short(replica)}"
        text += " (leader)" if leader == replica else f" · leader {_short(leader) if leader else 'none'}"
        field.show(Text(text))
        if not field.display:
            field.display = True
        self._draw_tabs()

    def show_counts(self, firing: int, unacked: int, down: int, silenced: int = 0) -> None:
        """Services down, firing alerts and silenced ones (not in the firing figures), each only when
        there are some; they keep their room when the address has to give way."""
        text = Text()
        if down:
            text.append(f"✖ {down} down", style="bold red")
        if firing:
            text.append("  " if text else "")
            text.append(f"{firing} firing", style="bold red")
            text.append(f" · {unacked} unacked")
        if silenced:
            text.append(" · " if firing else "  " if text else "")
            text.append(f"{silenced} silenced", style="magenta")
        counts = self.query_one("#counts", Field)
        counts.display = bool(text)
        counts.show(text)
        self._draw_tabs()

    def show_demo(self, demo: bool) -> None:
        """Label simulated data (the server says it was started by the demo) so nobody takes it for real."""
        self.query_one("#demo", Field).set_class(demo, "-on")
        self._draw_tabs()

    def show_link(self, link: Link) -> None:
        label = self.query_one("#link", Field)
        label.set_class(link.state == LinkState.LIVE, "-live")
        label.set_class(link.state == LinkState.PAUSED, "-paused")
        label.set_class(link.state in (LinkState.CONNECTING, LinkState.RECONNECTING), "-down")
        label.show(f"{_DOT} {link.state.value}")
        self._draw_tabs()

    def show_age(self, text: str, late: bool) -> None:
        age = self.query_one("#age", Field)
        age.set_class(late, "-late")
        age.show(text)
        self._draw_tabs()


def _short(name: str) -> str:
    return name if len(name) <= MAX_HOST_CHARS else name[:MAX_HOST_CHARS - 1] + "…"


def _tabs_text(tabs: list[tuple[str, str]], current: str, compact: set[int]) -> Text:
    """The tabs, those in ``compact`` by their key only."""
    text = Text()
    for i, (key, title) in enumerate(tabs):
        if text:
            text.append(" ")
        text.append(key if i in compact else f"{key} {title}", style="reverse bold" if title == current else "")
    return text
