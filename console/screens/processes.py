"""Processes (``P`` on System): the host's top processes by CPU and by memory, from the server's
``processes`` topic, which it reads only while someone follows it (this screen, while shown).

Sorted here (``P`` CPU, ``M`` memory, the same key again or a click on a column header reverses),
filtered with ``/``; program names (``a``: command lines); ``esc`` goes back to System.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from console import format as fmt
from console.screens.base import FilteredScreen
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.ranked_table import RankedTable
from console.widgets.table import Column, LiveTable
from console.widgets.topbar import TopBar

COLUMNS = (Column("pid", "PID", True), Column("user", "User"), Column("cpu", "CPU%", True),
           Column("rss", "RSS", True), Column("command", "Command"))
SORT_FIELDS = {"pid": "pid", "user": "user", "cpu": "cpu_percent", "rss": "rss_bytes", "command": "command"}
TOP = 50
"""Sorted by CPU or memory, the view shows the top 50 (as the server's ``processes`` topic sends)."""
SORT_NAMES = {"pid": "PID", "user": "user", "cpu": "CPU", "rss": "memory", "command": "command"}


def _sort_value(row: dict[str, Any], column: str) -> tuple[int, Any]:
    """Rows missing a value (or with one of another type) sort last either way round."""
    value = row.get(SORT_FIELDS[column])
    if column in ("user", "command"):
        return (0, value.lower()) if isinstance(value, str) else (1, "")
    return (0, value) if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0)


def _step(value: float, column: str) -> int:
    """The band a CPU % (whole points) or an RSS (5 % steps) falls in: within a band the order stays."""
    return math.floor(value) if column == "cpu" else math.floor(math.log(max(value, 1.0)) / math.log(1.05))


def sorted_rows(rows: list[dict[str, Any]], column: str, descending: bool,
                before: dict[Any, int] | None = None) -> list[dict[str, Any]]:
    """Rows by ``column``; by CPU or memory, rows whose values stay in the same band keep their order
    from ``before`` (pid to position), so small changes do not reshuffle the list at every update."""
    known = [r for r in rows if _sort_value(r, column)[0] == 0]
    unknown = [r for r in rows if _sort_value(r, column)[0] == 1]
    if column in ("cpu", "rss"):
        sign, before = -1 if descending else 1, before or {}

        def key(r: dict[str, Any]) -> tuple[int, int, float]:
            value = _sort_value(r, column)[1]
            return sign * _step(value, column), before.get(r.get("pid"), len(before)), sign * value
        known.sort(key=key)
    else:
        known.sort(key=lambda r: (_sort_value(r, column)[1], r.get("pid") if isinstance(r.get("pid"), int) else 0),
                   reverse=descending)
    return known + unknown


def process_rows(rows: list[dict[str, Any]], full: bool = True) -> list[tuple[str, list[str]]]:
    """Table rows keyed by pid, with the command line (``full``) or the program's name; server text
    is shown as text, never markup."""
    out = []
    for r in rows:
        pid = r.get("pid")
        command = r.get("command", "") if full or not r.get("name") else r.get("name")
        out.append((str(pid), [str(pid), str(r.get("user", "")), fmt.percent(_number(r.get("cpu_percent"))),
                               fmt.size(_number(r.get("rss_bytes"))), str(command)]))
    return out


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


class ProcessesScreen(FilteredScreen):
    TITLE = "Processes"
    TOPICS = ("processes",)
    AUTO_FOCUS = "#processes"
    BINDINGS = [
        Binding("P", "sort('cpu')", "CPU"),
        Binding("M", "sort('rss')", "Memory"),
        Binding("a", "arguments", "Command lines"),
        Binding("slash", "filter", "Filter"),
        Binding("c", "clear_filter", "Clear filter", show=False),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    ProcessesScreen #summary { height: 1; padding: 0 1; color: $text-muted; }
    ProcessesScreen #processes { height: 1fr; border: round $primary 60%; border-title-color: $text;
                                 border-subtitle-color: $text-muted; overflow-x: hidden; }
    ProcessesScreen #processes:focus { border: round $accent; }
    """

    def __init__(self, tab: str = "") -> None:
        """``tab``: the top bar tab to highlight (the screen this view belongs to)."""
        super().__init__()
        self.tab = tab or self.TITLE
        self.sort_column = "cpu"
        self.descending = True
        self.full_commands = False
        """Names, as top shows them (short rows: fewer bytes per update); ``a`` shows command lines."""
        self._positions: dict[Any, int] = {}
        """Each pid's position in the last list shown (a new sort starts afresh)."""

    def compose_body(self) -> ComposeResult:
        yield Field("waiting for the server's process list…", id="summary")
        yield RankedTable("Processes by CPU", COLUMNS, id="processes")
        yield FilterBar()

    def show_header(self, tabs: list[tuple[str, str]], address: str) -> None:
        bar = self.query_one(TopBar)
        bar.show_tabs(tabs, self.tab)
        bar.show_address(address)

    def refresh_data(self) -> None:
        data = self.console.views.get("processes")
        if not isinstance(data, dict) or not isinstance(data.get("processes"), list):
            return
        rows = [r for r in data["processes"] if isinstance(r, dict)]
        table = self.query_one("#processes", RankedTable)
        table.limit = TOP if self.sort_column in ("cpu", "rss") else None
        ordered = sorted_rows(rows, self.sort_column, self.descending, self._positions)
        self._positions = {r.get("pid"): i for i, r in enumerate(ordered)}
        table.show(process_rows(ordered, self.full_commands))
        arrow = "↓" if self.descending else "↑"
        title = f"Processes by {SORT_NAMES[self.sort_column]} {arrow}"
        if table.border_title != title:
            table.border_title = title
        total = data.get("total")
        self.query_one("#summary", Field).show(Text(
            f"{total if isinstance(total, int) else '?'} processes on the host · listed: the top by CPU and by memory"))

    def action_sort(self, column: str) -> None:
        """The same column again reverses the order; a new one starts from the largest (A first for text)."""
        if column == self.sort_column:
            self.descending = not self.descending
        else:
            self.sort_column, self.descending = column, column not in ("user", "command")
        self._positions = {}
        self.refresh_data()

    def action_arguments(self) -> None:
        self.full_commands = not self.full_commands
        self.refresh_data()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.action_sort(str(event.column_key.value))

    def action_back(self) -> None:
        """esc: stop editing the filter (it stays applied), else back to the screen below."""
        if self.close_filter(self.query_one("#processes", LiveTable)):
            return
        self.app.pop_screen()


def processes_text(rows: Any, width: int = 96) -> Text:
    """The top processes an alert kept when it fired, for its details (empty when none were kept)."""
    rows = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    if not rows:
        return Text()
    text = Text("Top processes when it fired\n", style="bold")
    text.append(f"  {'PID':>7} {'USER':<10} {'CPU%':>6} {'RSS':>9}  COMMAND\n", style="dim")
    for pid, user, cpu, rss, command in (cells for _, cells in process_rows(rows)):
        line = f"  {pid:>7} {user[:10]:<10} {cpu:>6} {rss:>9}  {command}"
        text.append((line if len(line) <= width else line[:width - 1] + "…") + "\n")
    return text
