"""History charts for the console and dashboards, computed from stored series on a time grid."""

from __future__ import annotations

from typing import Any

from engine.rates import gauge_on_grid, rate_on_grid
from engine.system_view import IDLE_MODES
from engine.tsdb.matchers import Matcher
from engine.tsdb.store import SeriesData, Store

CHART_TYPES = ("cpu", "memory", "disk", "network", "load")
MAX_POINTS = 11_000  # Prometheus's own limit on points per series in a range query

Points = list[list[float]]


def grid(start_ms: int, end_ms: int, step_ms: int) -> list[int]:
    return list(range(start_ms, end_ms + 1, step_ms))


def _points(grid_ms: list[int], values: list[float | None]) -> Points:
    return [[t / 1000.0, v] for t, v in zip(grid_ms, values, strict=True) if v is not None]


class ChartBuilder:
    """One chart request: the grid plus how far back samples must be read."""

    def __init__(self, store: Store, start_ms: int, end_ms: int, step_ms: int, rate_window_ms: int) -> None:
        self.store = store
        self.grid = grid(start_ms, end_ms, step_ms)
        self.window = rate_window_ms
        self.mint = start_ms - max(rate_window_ms, store.lookback_ms)
        self.maxt = end_ms

    def select(self, name: str) -> list[SeriesData]:
        return self.store.select([Matcher.make("__name__", "=", name)], self.mint, self.maxt)

    def rates(self, s: SeriesData) -> list[float | None]:
        return rate_on_grid(s.ts, s.vals, self.grid, self.window)

    def gauge(self, s: SeriesData) -> list[float | None]:
        return gauge_on_grid(s.ts, s.vals, self.grid, self.store.lookback_ms)

    def cpu(self) -> list[dict[str, Any]]:
        n = len(self.grid)
        per_core: dict[str, tuple[list[float], list[float]]] = {}
        for s in self.select("node_cpu_seconds_total"):
            labels = dict(s.labels)
            busy, total = per_core.setdefault(labels.get("cpu", ""), ([0.0] * n, [0.0] * n))
            idle = labels.get("mode") in IDLE_MODES
            for i, r in enumerate(self.rates(s)):
                if r is not None:
                    total[i] += r
                    if not idle:
                        busy[i] += r
        all_busy, all_total = [0.0] * n, [0.0] * n
        out = []
        for cpu in sorted(per_core, key=lambda c: int(c) if c.isdigit() else 1 << 30):
            busy, total = per_core[cpu]
            for i in range(n):
                all_busy[i] += busy[i]
                all_total[i] += total[i]
            out.append({"labels": {"cpu": cpu}, "points": _points(self.grid, _ratio(busy, total))})
        return [{"labels": {"cpu": "total"}, "points": _points(self.grid, _ratio(all_busy, all_total))}, *out]

    def memory(self) -> list[dict[str, Any]]:
        def one(field: str) -> list[float | None]:
            found = self.select(f"node_memory_{field}_bytes")
            return self.gauge(found[0]) if found else [None] * len(self.grid)

        total, avail = one("MemTotal"), one("MemAvailable")
        swap_total, swap_free = one("SwapTotal"), one("SwapFree")
        series = {
            "total": total,
            "used": _diff(total, avail),
            "available": avail,
            "cached": one("Cached"),
            "buffers": one("Buffers"),
            "swap_used": _diff(swap_total, swap_free),
        }
        return [{"labels": {"kind": k}, "points": _points(self.grid, v)} for k, v in series.items()]

    def _directions(self, metrics: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        for direction, name in metrics.items():
            for s in self.select(name):
                device = dict(s.labels).get("device", "")
                out.append({"labels": {"device": device, "direction": direction},
                            "points": _points(self.grid, self.rates(s))})
        out.sort(key=lambda e: (e["labels"]["device"], e["labels"]["direction"]))
        return out

    def disk(self) -> list[dict[str, Any]]:
        return self._directions({"read": "node_disk_read_bytes_total", "write": "node_disk_written_bytes_total"})

    def network(self) -> list[dict[str, Any]]:
        return self._directions({"receive": "node_network_receive_bytes_total",
                                 "transmit": "node_network_transmit_bytes_total"})

    def load(self) -> list[dict[str, Any]]:
        out = []
        for window in ("1", "5", "15"):
            found = self.select(f"node_load{window}")
            points = _points(self.grid, self.gauge(found[0])) if found else []
            out.append({"labels": {"window": f"{window}m"}, "points": points})
        return out


def _ratio(part: list[float], whole: list[float]) -> list[float | None]:
    return [round(100.0 * p / w, 3) if w > 0 else None for p, w in zip(part, whole, strict=True)]


def _diff(a: list[float | None], b: list[float | None]) -> list[float | None]:
    return [x - y if x is not None and y is not None else None for x, y in zip(a, b, strict=True)]


def chart(store: Store, chart_type: str, start_ms: int, end_ms: int, step_ms: int,
          rate_window_ms: int) -> dict[str, Any]:
    """``{"type", "series": [{"labels", "points": [[unix_seconds, value], ...]}]}`` for one chart."""
    builder = ChartBuilder(store, start_ms, end_ms, step_ms, rate_window_ms)
    series = getattr(builder, chart_type)()
    return {"type": chart_type, "start": start_ms / 1000.0, "end": end_ms / 1000.0,
            "step": step_ms / 1000.0, "series": series}
