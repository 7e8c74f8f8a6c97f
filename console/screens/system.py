"""System (key 2): per-core bars, a table per mount, interface and disk device, and charts over the
selected range that follow the device under the cursor of the focused table."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable

from console import format as fmt
from console.screens.base import FilteredScreen
from console.screens.overview import DISK_IO, NETWORK
from console.screens.processes import ProcessesScreen
from console.widgets.filterbar import FilterBar
from console.widgets.panels import CoresPanel, CpuPanel, MemoryPanel, ThroughputPanel
from console.widgets.table import Column, LiveTable

FILESYSTEMS = (Column("mount", "Mount"), Column("device", "Device"), Column("fstype", "Type"),
               Column("size", "Size", True), Column("used", "Used", True), Column("avail", "Avail", True),
               Column("pct", "Use%", True))
INTERFACES = (Column("device", "Interface"), Column("rx", "Rx/s", True), Column("tx", "Tx/s", True),
              Column("rxp", "Rx pkt/s", True), Column("txp", "Tx pkt/s", True), Column("err", "Err/s", True),
              Column("drop", "Drop/s", True))
DEVICES = (Column("device", "Device"), Column("read", "Read/s", True), Column("write", "Write/s", True),
           Column("reads", "Reads/s", True), Column("writes", "Writes/s", True), Column("busy", "Busy", True))


def _sum(row: dict[str, Any], *fields: str) -> float | None:
    values = [row.get(f) for f in fields]
    return None if all(v is None for v in values) else sum(v or 0.0 for v in values)


def filesystem_rows(system: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(str(f.get("mountpoint", "")), [
        str(f.get("mountpoint", "")), str(f.get("device", "")), str(f.get("fstype", "")),
        fmt.size(f.get("size_bytes")), fmt.size(f.get("used_bytes")), fmt.size(f.get("avail_bytes")),
        fmt.percent(f.get("used_percent"))]) for f in system.get("filesystems") or []]


def interface_rows(system: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(str(n.get("device", "")), [
        str(n.get("device", "")), fmt.rate(n.get("receive_bytes_per_second")),
        fmt.rate(n.get("transmit_bytes_per_second")), fmt.count_rate(n.get("receive_packets_per_second")),
        fmt.count_rate(n.get("transmit_packets_per_second")),
        fmt.count_rate(_sum(n, "receive_errors_per_second", "transmit_errors_per_second")),
        fmt.count_rate(_sum(n, "receive_drops_per_second", "transmit_drops_per_second"))])
        for n in system.get("network") or []]


def device_rows(system: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(str(d.get("device", "")), [
        str(d.get("device", "")), fmt.rate(d.get("read_bytes_per_second")), fmt.rate(d.get("write_bytes_per_second")),
        fmt.count_rate(d.get("reads_per_second")), fmt.count_rate(d.get("writes_per_second")),
        fmt.percent(d.get("busy_percent"))]) for d in system.get("disks") or []]


class SystemScroll(VerticalScroll):
    """The screen's scroller, from the keyboard too: PgUp/PgDn, space, g/G, home/end, ↑/↓. Wide, the
    details column is what scrolls (the charts beside it fill the height), so the keys move it."""

    BINDINGS: ClassVar = [Binding("space", "page_down", "Page down", show=False),
                          Binding("g", "scroll_home", "Top", show=False),
                          Binding("G", "scroll_end", "Bottom", show=False)]

    def _target(self) -> Widget:
        return self if self.max_scroll_y else self.query_one("#details")

    def action_page_down(self) -> None:
        self._target().scroll_page_down(animate=False)

    def action_page_up(self) -> None:
        self._target().scroll_page_up(animate=False)

    def action_scroll_home(self) -> None:
        self._target().scroll_home(animate=False)

    def action_scroll_end(self) -> None:
        self._target().scroll_end(animate=False)

    def action_scroll_down(self) -> None:
        self._target().scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        self._target().scroll_up(animate=False)


class SystemScreen(FilteredScreen):
    TITLE = "System"
    AUTO_FOCUS = "#system"
    CHART_KINDS = ("cpu", "memory", "network", "disk")
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("c", "clear_filter", "Clear filter", show=False),
        Binding("escape", "back", "Back", show=False),
        Binding("P", "processes", "Processes"),
    ]
    DEFAULT_CSS = """
    SystemScreen #system { height: 1fr; scrollbar-size-vertical: 1; }
    SystemScreen #charts { grid-size: 2 2; grid-rows: 1fr; height: 14; }
    SystemScreen #details { height: auto; }
    SystemScreen CoresPanel { height: auto; }
    SystemScreen LiveTable { height: auto; max-height: 16; border: round $primary 60%; border-title-color: $text;
                             border-subtitle-color: $text-muted; }
    SystemScreen LiveTable:focus { border: round $accent; }
    SystemScreen.-wide #system { layout: horizontal; overflow-y: hidden; }
    SystemScreen.-wide #charts { grid-size: 1 4; width: 1fr; height: 1fr; }
    SystemScreen.-wide #details { width: 2fr; height: 1fr; overflow-y: auto; }
    """

    def compose_body(self) -> ComposeResult:
        with SystemScroll(id="system"):
            with Vertical(id="details"):
                yield CoresPanel(id="cores")
                yield LiveTable("Filesystems", FILESYSTEMS, id="filesystems")
                yield LiveTable("Network interfaces", INTERFACES, id="interfaces")
                yield LiveTable("Disk devices", DEVICES, id="devices")
            with Grid(id="charts"):
                yield CpuPanel(strip=False, id="cpu-chart")
                yield MemoryPanel(id="memory-chart")
                yield ThroughputPanel("Network", "network", NETWORK, id="net-chart")
                yield ThroughputPanel("Disk I/O", "disks", DISK_IO, id="disk-chart")
        yield FilterBar()

    def refresh_data(self) -> None:
        live, history, rng = self.console.live, self.console.history, self.console.range_name
        if live.system is None:
            return
        system, interval = live.system, live.interval
        self.query_one(CoresPanel).update(system)
        self.query_one("#filesystems", LiveTable).show(filesystem_rows(system))
        self.query_one("#interfaces", LiveTable).show(interface_rows(system))
        self.query_one("#devices", LiveTable).show(device_rows(system))
        self.query_one("#cpu-chart", CpuPanel).update(system, history.chart("cpu", rng), interval)
        self.query_one("#memory-chart", MemoryPanel).update(system, history.chart("memory", rng), interval)
        self.query_one("#net-chart", ThroughputPanel).update(system, history.chart("network", rng), interval)
        self.query_one("#disk-chart", ThroughputPanel).update(system, history.chart("disk", rng), interval)

    # -- charts follow the focused table's cursor ---------------------------------------------

    def _follow(self) -> None:
        """Point the device charts at the row under the cursor of the focused table, or at totals."""
        focused = self.focused
        for table_id, chart_id in (("interfaces", "#net-chart"), ("devices", "#disk-chart")):
            table = self.query_one(f"#{table_id}", LiveTable)
            self.query_one(chart_id, ThroughputPanel).device = table.highlighted_key if focused is table else None
        self.refresh_data()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._follow()

    def on_descendant_focus(self) -> None:
        self._follow()

    def on_descendant_blur(self) -> None:
        self.call_after_refresh(self._follow)

    def action_processes(self) -> None:
        self.app.push_screen(ProcessesScreen(tab=self.TITLE))

    def action_back(self) -> None:
        """esc: stop editing the filter (it stays applied), else leave the focused table."""
        if self.close_filter(self.query_one("#filesystems", LiveTable)):
            return
        if self.focused is not None:
            self.set_focus(None)
