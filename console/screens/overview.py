"""Overview (key 1): the host at a glance, every figure with its history."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid

from console.screens.base import LiveScreen
from console.widgets.panels import CpuPanel, FilesystemsPanel, LoadPanel, MemoryPanel, ThroughputPanel

NETWORK = (("receive", "rx", "receive_bytes_per_second"), ("transmit", "tx", "transmit_bytes_per_second"))
DISK_IO = (("read", "read", "read_bytes_per_second"), ("write", "write", "write_bytes_per_second"))


class OverviewScreen(LiveScreen):
    TITLE = "Overview"
    CHART_KINDS = ("cpu", "memory", "load", "network", "disk")
    DEFAULT_CSS = """
    OverviewScreen #overview { grid-size: 2 3; grid-rows: 1fr; grid-columns: 1fr; height: 1fr; }
    """

    def compose_body(self) -> ComposeResult:
        with Grid(id="overview"):
            yield CpuPanel(id="cpu")
            yield MemoryPanel(id="memory")
            yield ThroughputPanel("Network", "network", NETWORK, id="network")
            yield ThroughputPanel("Disk I/O", "disks", DISK_IO, id="disk")
            yield LoadPanel(id="load")
            yield FilesystemsPanel(id="filesystems")

    def refresh_data(self) -> None:
        live, history, rng = self.console.live, self.console.history, self.console.range_name
        if live.system is None:
            return
        system, interval = live.system, live.interval
        self.query_one(CpuPanel).update(system, history.chart("cpu", rng), interval)
        self.query_one(MemoryPanel).update(system, history.chart("memory", rng), interval)
        self.query_one("#network", ThroughputPanel).update(system, history.chart("network", rng), interval)
        self.query_one("#disk", ThroughputPanel).update(system, history.chart("disk", rng), interval)
        self.query_one(LoadPanel).update(system, history.chart("load", rng), interval)
        self.query_one(FilesystemsPanel).update(system)
