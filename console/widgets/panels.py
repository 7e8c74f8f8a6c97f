"""The host panels: CPU, memory, load, network and disk throughput, disk usage, per-core bars.

Each takes the `system` JSON (as /api/metrics/system and the `system` topic carry it) and, for
its chart, a ``Chart`` from the history book; it repaints only when what it draws has changed.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text

from console import format as fmt
from console.history import Chart
from console.plot import level
from console.widgets.panel import Panel, nice_top

Json = dict[str, Any]
LOOPBACK = ("lo", "lo0")


def gap_for(chart: Chart, interval: float) -> float:
    """Points further apart than this are a hole in the data, not a line."""
    return 3 * max(chart.range.step, interval)


def _with_cores(count: int, chart: Chart) -> str:
    """``4 cores · 1h``; the count is unknown (0) until the server has two samples to rate."""
    return f"{count} cores · {chart.range.name}" if count else chart.range.name


class CpuPanel(Panel):
    """Total CPU as a meter and a chart; with ``strip``, one cell per core underneath."""

    def __init__(self, *, strip: bool = True, id: str | None = None) -> None:
        super().__init__("CPU", id=id)
        self.strip = strip
        self._total: float | None = None
        self._cores: list[float | None] = []
        self._chart: Chart | None = None
        self._gap = 0.0

    def update(self, system: Json, chart: Chart, interval: float) -> None:
        cpu = system.get("cpu") or {}
        self._total = cpu.get("usage_percent")
        self._cores = [c.get("usage_percent") for c in cpu.get("cores") or []]
        self._chart, self._gap = chart, gap_for(chart, interval)
        self.show((self._total, tuple(self._cores), chart.version), _with_cores(len(self._cores), chart))

    def draw(self, width: int, height: int) -> list[Text]:
        strip: list[Text] = []
        if self.strip and self._cores and height > 3:
            per_line = max(1, width - 6)
            lines = min(math.ceil(len(self._cores) / per_line), height // 3)
            for i in range(lines):
                line = Text("cores " if i == 0 else "      ", style=self.style("dim"))
                for p in self._cores[i * per_line:(i + 1) * per_line]:
                    line.append(level(None if p is None else p / 100), style=self.severity(p))
                strip.append(line)
        assert self._chart is not None
        head = self.meter("cpu ", self._total, f"{fmt.percent(self._total):>6}", width)
        chart = self.chart(self._chart, self._chart.line("total"), width, height - 1 - len(strip), 100.0, self._gap)
        return [head, *chart, *strip]


class MemoryPanel(Panel):
    """Memory and swap use, with used memory charted against the total."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Memory", id=id)
        self._memory: Json = {}
        self._swap: Json = {}
        self._chart: Chart | None = None
        self._gap = 0.0

    def update(self, system: Json, chart: Chart, interval: float) -> None:
        self._memory, self._swap = system.get("memory") or {}, system.get("swap") or {}
        self._chart, self._gap = chart, gap_for(chart, interval)
        key = (tuple(self._memory.values()), tuple(self._swap.values()), chart.version)
        self.show(key, f"{fmt.size(self._memory.get('total_bytes'))} · {chart.range.name}")

    def draw(self, width: int, height: int) -> list[Text]:
        m, s = self._memory, self._swap
        lines = [self.meter("mem ", m.get("used_percent"),
                            f"{fmt.percent(m.get('used_percent')):>6} {fmt.size(m.get('used_bytes'))}", width)]
        if s.get("total_bytes"):
            lines.append(self.meter("swap", s.get("used_percent"),
                                    f"{fmt.percent(s.get('used_percent')):>6} {fmt.size(s.get('used_bytes'))}",
                                    width))
        else:
            lines.append(Text("swap none", style=self.style("dim")))
        assert self._chart is not None
        top = self._chart.latest("total") or m.get("total_bytes") or 1.0
        return self.chart(self._chart, self._chart.line("used"), width, height - 2, top, self._gap) + lines


class LoadPanel(Panel):
    """Load averages, the 1-minute one charted against the number of cores."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Load", id=id)
        self._load: Json = {}
        self._chart: Chart | None = None
        self._cores = 1
        self._gap = 0.0

    def update(self, system: Json, chart: Chart, interval: float) -> None:
        self._load = system.get("load") or {}
        count = int((system.get("cpu") or {}).get("count") or 0)
        self._cores = max(1, count)
        self._chart, self._gap = chart, gap_for(chart, interval)
        self.show((tuple(self._load.values()), self._cores, chart.version), _with_cores(count, chart))

    def draw(self, width: int, height: int) -> list[Text]:
        head = Text()
        for window in ("1", "5", "15"):
            value = self._load.get(f"load{window}")
            head.append(f"{window}m ", style=self.style("dim"))
            head.append(f"{fmt.number(value)}  ", style=self.severity(
                None if value is None else 100 * value / self._cores))
        assert self._chart is not None
        points = self._chart.line("1m")
        top = nice_top(max([self._cores, *(v for _, v in points)]))
        return [head, *self.chart(self._chart, points, width, height - 1, top, self._gap)]


class ThroughputPanel(Panel):
    """Two directions of a rate (network rx/tx, disk read/write) summed over devices or for one."""

    def __init__(self, title: str, section: str, directions: tuple[tuple[str, str, str], ...], *,
                 id: str | None = None) -> None:
        """``section`` is the key of the device list in the system JSON; ``directions`` are
        (chart direction, label, JSON field) pairs, drawn top then bottom."""
        super().__init__(title, id=id)
        self.title = title
        self.section = section
        self.directions = directions
        self.device: str | None = None
        """Show one device only (the System screen follows its table's cursor); None sums them."""
        self._rates: list[float | None] = []
        self._lines: list[list[tuple[float, float]]] = []
        self._top = 1.0
        self._chart: Chart | None = None
        self._gap = 0.0

    def counts(self, device: str) -> bool:
        return device == self.device if self.device is not None else device not in LOOPBACK

    def update(self, system: Json, chart: Chart, interval: float) -> None:
        rows = [r for r in system.get(self.section) or [] if self.counts(str(r.get("device", "")))]
        self._rates = [sum(r.get(field) or 0.0 for r in rows) if rows else None for _, _, field in self.directions]
        self._chart, self._gap = chart, gap_for(chart, interval)
        key = (tuple(self._rates), self.device, chart.version)
        if key != self._key:
            self._lines = [chart.total(lambda k, d=direction: k.endswith("/" + d) and
                                       self.counts(k.rpartition("/")[0])) for direction, _, _ in self.directions]
            self._top = nice_top(max((v for points in self._lines for _, v in points), default=0.0), binary=True)
        self.set_border(title=self.title if self.device is None else f"{self.title} {self.device}")
        self.show(key, f"scale {fmt.rate(self._top)} · {chart.range.name}")

    def draw(self, width: int, height: int) -> list[Text]:
        assert self._chart is not None
        head = Text()
        for i, ((_, label, _), value) in enumerate(zip(self.directions, self._rates, strict=True)):
            head.append(f"{label} ", style=self.style("chart-alt" if i else "chart"))  # names the half it labels
            head.append(f"{fmt.rate(value)}  ")
        body = height - 1
        first = (body + 1) // 2
        out = [head]
        for i, (points, rows) in enumerate(zip(self._lines, (first, body - first), strict=True)):
            out += self.chart(self._chart, points, width, rows, self._top, self._gap, alt=i == 1)
        return out


class FilesystemsPanel(Panel):
    """Usage per mount, fullest first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Disk usage", id=id)
        self._mounts: list[Json] = []

    def update(self, system: Json) -> None:
        self._mounts = sorted(system.get("filesystems") or [], key=lambda f: -(f.get("used_percent") or 0.0))
        key = tuple((f.get("mountpoint"), f.get("used_percent"), f.get("size_bytes")) for f in self._mounts)
        self.show((key), f"{len(self._mounts)} mounts")

    def draw(self, width: int, height: int) -> list[Text]:
        shown = self._mounts if len(self._mounts) <= height else self._mounts[: max(0, height - 1)]
        name_width = min(16, max((len(str(f.get("mountpoint", ""))) for f in shown), default=1))
        sizes = [used_of_total(f.get("used_bytes"), f.get("size_bytes")) for f in shown]
        size_width = max(map(len, sizes), default=0)
        with_percent = width - name_width - size_width - 9 >= MIN_DISK_BAR  # the bar says it too when narrow
        lines = []
        for f, used in zip(shown, sizes, strict=True):
            name = str(f.get("mountpoint", ""))
            name = name if len(name) <= name_width else "…" + name[-(name_width - 1):]
            p = f.get("used_percent")
            tail = (f"{fmt.percent(p):>6} " if with_percent else "") + used.rjust(size_width)
            lines.append(self.meter(name.ljust(name_width), p, tail, width))
        if len(shown) < len(self._mounts):
            lines.append(Text(f"+{len(self._mounts) - len(shown)} more on the System screen", style=self.style("dim")))
        return lines


MIN_DISK_BAR = 10
"""The narrowest usage bar a disk row keeps before its percentage gives way."""


def used_of_total(used: float | None, total: float | None) -> str:
    """``465/500 GiB``, or ``700 GiB/1.95 TiB`` when the units differ: a disk's use the way the
    memory row gives it, in as few cells as a row at 80 columns has."""
    a, b = fmt.size(used), fmt.size(total)
    (num, _, unit), (_, _, total_unit) = a.partition(" "), b.partition(" ")
    return f"{num}/{b}" if unit == total_unit else f"{a}/{b}"


MODE_NAMES = {"user": "us", "system": "sy", "iowait": "wa", "steal": "st"}
"""top's names for the CPU modes: the line has room for all of them and the process counts."""


class CoresPanel(Panel):
    """One bar per core, in as many columns as fit, under a line of the CPU time split by mode."""

    CELL = 26

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("CPU cores", id=id)
        self._cpu: Json = {}
        self._extra: Json = {}
        self._count = 0

    def update(self, system: Json) -> None:
        self._cpu = system.get("cpu") or {}
        self._extra = {"ctx": system.get("context_switches_per_second"),
                       "intr": system.get("interrupts_per_second"), **(system.get("processes") or {})}
        cores = tuple((c.get("cpu"), c.get("usage_percent")) for c in self._cpu.get("cores") or [])
        modes = tuple(self._modes().items())
        self.show((cores, modes, tuple(self._extra.values())), f"{len(cores)} cores", layout=len(cores) != self._count)
        self._count = len(cores)

    def _modes(self) -> dict[str, float]:
        """Each mode's share of all CPU time, averaged over cores."""
        cores = self._cpu.get("cores") or []
        totals: dict[str, float] = {}
        for core in cores:
            for mode, p in (core.get("modes") or {}).items():
                totals[mode] = totals.get(mode, 0.0) + (p or 0.0)
        return {m: totals[m] / len(cores) for m in ("user", "system", "iowait", "steal") if m in totals}

    def columns(self, width: int) -> int:
        return max(1, width // self.CELL)

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        cores = len(self._cpu.get("cores") or [])
        return 1 + max(1, math.ceil(cores / self.columns(width)))

    def head(self, width: int) -> Text:
        """Total, the modes (top's short names), context switches and processes, in ``width``: the
        parts that do not fit give way, context switches first, then the rarer modes; total and
        processes always stay."""
        parts = [("total", fmt.percent(self._cpu.get("usage_percent")), 0)]
        parts += [(MODE_NAMES[mode], fmt.percent(p), rank) for rank, (mode, p) in enumerate(self._modes().items(), 2)]
        parts.append(("ctx", fmt.count_rate(self._extra.get("ctx")), 9))
        parts.append(("procs", f"{fmt.number(self._extra.get('running'), 0)} run "
                               f"{fmt.number(self._extra.get('blocked'), 0)} blk", 1))
        while sum(len(name) + len(value) + 3 for name, value, _ in parts) - 2 > width and len(parts) > 2:
            parts.remove(max(parts, key=lambda part: part[2]))
        head = Text()
        for name, value, _ in parts:
            head.append("  " if head else "")
            head.append(f"{name} ", style=self.style("dim"))
            head.append(value)
        return head

    def draw(self, width: int, height: int) -> list[Text]:
        head = self.head(width)
        cores = self._cpu.get("cores") or []
        columns = self.columns(width)
        cell = width // columns
        rows = math.ceil(len(cores) / columns)
        lines = [head]
        for r in range(rows):
            line = Text()
            for core in cores[r::rows]:
                p = core.get("usage_percent")
                line.append(self.meter(f"{core.get('cpu', ''):>3}", p, f"{fmt.percent(p):>6}", cell - 1))
                line.append(" ")
            lines.append(line)
        return lines
