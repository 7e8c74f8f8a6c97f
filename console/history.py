"""Chart history: fetched once per chart and range with PromQL range queries, then extended from the
live `system` stream, so a chart never re-downloads what the console already has."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]


@dataclass(frozen=True)
class Range:
    name: str
    seconds: int
    step: int
    """Seconds between points: at most 240 points, enough for a 120-column braille plot."""


RANGES = (Range("5m", 300, 5), Range("1h", 3600, 15), Range("6h", 21600, 90), Range("24h", 86400, 360))
RANGE_BY_NAME = {r.name: r for r in RANGES}
DEFAULT_RANGE = "1h"
CHART_KINDS = ("cpu", "memory", "load", "network", "disk")


def series_key(kind: str, labels: dict[str, str]) -> str:
    """One string per line of a chart: ``total`` or a core for cpu, ``eth0/receive`` for network."""
    if kind == "cpu":
        return labels.get("cpu", "")
    if kind == "memory":
        return labels.get("kind", "")
    if kind == "load":
        return labels.get("window", "")
    return f"{labels.get('device', '')}/{labels.get('direction', '')}"


def _devices(rows: Any, field_by_direction: dict[str, str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for row in rows if isinstance(rows, list) else []:
        for direction, field in field_by_direction.items():
            out[f"{row.get('device', '')}/{direction}"] = row.get(field)
    return out


def live_values(kind: str, system: dict[str, Any]) -> dict[str, float | None]:
    """The values one `system` message adds to a chart, keyed like ``series_key``."""
    if kind == "cpu":
        cpu = system.get("cpu") or {}
        values = {"total": cpu.get("usage_percent")}
        values.update({c.get("cpu", ""): c.get("usage_percent") for c in cpu.get("cores") or []})
        return values
    if kind == "memory":
        memory, swap = system.get("memory") or {}, system.get("swap") or {}
        return {"total": memory.get("total_bytes"), "used": memory.get("used_bytes"),
                "available": memory.get("available_bytes"), "cached": memory.get("cached_bytes"),
                "buffers": memory.get("buffers_bytes"), "swap_used": swap.get("used_bytes")}
    if kind == "load":
        load = system.get("load") or {}
        return {"1m": load.get("load1"), "5m": load.get("load5"), "15m": load.get("load15")}
    if kind == "network":
        return _devices(system.get("network"), {"receive": "receive_bytes_per_second",
                                                "transmit": "transmit_bytes_per_second"})
    if kind == "disk":
        return _devices(system.get("disks"), {"read": "read_bytes_per_second", "write": "write_bytes_per_second"})
    raise KeyError(kind)


class Chart:
    """The lines of one chart type over one range, as (unix seconds, value) points oldest first."""

    def __init__(self, kind: str, rng: Range) -> None:
        self.kind = kind
        self.range = rng
        self.lines: dict[str, list[Point]] = {}
        self.end: float | None = None
        self.loaded = False
        self.version = 0
        """Bumped on every change, so widgets redraw only when their chart moved."""

    def load(self, payload: dict[str, Any]) -> None:
        """Replace the history with a fetched chart (ServerClient.chart), keeping live points newer than it."""
        end = float(payload.get("end") or 0.0)
        lines: dict[str, list[Point]] = {}
        for s in payload.get("series") or []:
            points = [(float(t), float(v)) for t, v in s.get("points") or [] if v is not None]
            lines[series_key(self.kind, s.get("labels") or {})] = points
        for key, points in self.lines.items():
            newer = [p for p in points if p[0] > end]
            if newer:
                lines.setdefault(key, []).extend(newer)
        self.lines = lines
        self.end = max(end, self.end or end)
        self.loaded = True
        self._trim()
        self.version += 1

    def extend(self, t: float, values: dict[str, float | None]) -> None:
        """Add one live sample per line; within one step the newest sample replaces the last point."""
        step = self.range.step
        for key, value in values.items():
            if value is None:
                continue
            points = self.lines.setdefault(key, [])
            if points and t <= points[-1][0]:
                continue
            if points and int(points[-1][0] // step) == int(t // step):
                points[-1] = (t, float(value))
            else:
                points.append((t, float(value)))
        self.end = max(t, self.end or t)
        self._trim()
        self.version += 1

    def _trim(self) -> None:
        start = self.start
        for key, points in self.lines.items():
            if points and points[0][0] < start:
                self.lines[key] = [p for p in points if p[0] >= start]

    @property
    def start(self) -> float:
        return (self.end or 0.0) - self.range.seconds

    def line(self, key: str) -> list[Point]:
        return self.lines.get(key, [])

    def latest(self, key: str) -> float | None:
        points = self.lines.get(key)
        return points[-1][1] if points else None

    def total(self, keep: Callable[[str], bool]) -> list[Point]:
        """The sum of the lines whose key passes ``keep``, point by point (they share timestamps)."""
        sums: dict[float, float] = {}
        for key, points in self.lines.items():
            if keep(key):
                for t, v in points:
                    sums[t] = sums.get(t, 0.0) + v
        return sorted(sums.items())


class HistoryBook:
    """Every chart the console holds, by (kind, range name)."""

    def __init__(self) -> None:
        self._charts: dict[tuple[str, str], Chart] = {}

    def chart(self, kind: str, range_name: str) -> Chart:
        key = (kind, range_name)
        if key not in self._charts:
            self._charts[key] = Chart(kind, RANGE_BY_NAME[range_name])
        return self._charts[key]

    def missing(self, kinds: Iterable[str], range_name: str) -> list[str]:
        return [k for k in kinds if not self.chart(k, range_name).loaded]

    def extend(self, t: float, system: dict[str, Any]) -> None:
        for chart in self._charts.values():
            chart.extend(t, live_values(chart.kind, system))

    def invalidate(self) -> None:
        """After a gap in the stream (reconnect, resume): fetch history again on next view."""
        for chart in self._charts.values():
            chart.loaded = False
