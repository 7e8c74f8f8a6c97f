"""History charts (CPU, memory, disk, network, load) as PromQL range queries.

One definition for both renderers: the chart API (``GET /api/dashboard/charts/{type}``) evaluates
these expressions here and the console draws what it answers, so both show the same figures from the
same evaluator as rules, Explore and Grafana. Each result series is named by labels the
charts already use for their live lines (``cpu``, ``kind``, ``device`` + ``direction``, ``window``).
CPU is a ratio of rates, so it is right even before a full rate window of samples exists.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.promql import QueryEngine

CHART_TYPES = ("cpu", "memory", "disk", "network", "load")

Labeller = Callable[[dict[str, str]], dict[str, str]]

BUSY = 'node_cpu_seconds_total{mode!~"idle|iowait"}'


def rate_window(step_s: float) -> str:
    """Wide enough for several 5 s samples and for the step (Grafana's $__rate_interval idea)."""
    ms = max(20_000, round(2000 * step_s))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _fixed(**labels: str) -> Labeller:
    return lambda _: dict(labels)


def _keep(*names: str, **extra: str) -> Labeller:
    return lambda metric: {**{n: metric.get(n, "") for n in names}, **extra}


def chart_queries(kind: str, step_s: float) -> list[tuple[str, Labeller]]:
    """(PromQL expression, labels of its result series) for one chart kind."""
    w = rate_window(step_s)
    if kind == "cpu":  # clamped: on a saturated host busy/total can round to 100.00000000000001
        return [
            (f"clamp(100 * sum(rate({BUSY}[{w}])) / sum(rate(node_cpu_seconds_total[{w}])), 0, 100)",
             _fixed(cpu="total")),
            (f"clamp(100 * sum by (cpu) (rate({BUSY}[{w}]))"
             f" / sum by (cpu) (rate(node_cpu_seconds_total[{w}])), 0, 100)", _keep("cpu")),
        ]
    if kind == "memory":
        mem = "node_memory_{}_bytes".format
        return [
            (mem("MemTotal"), _fixed(kind="total")),
            (f"{mem('MemTotal')} - {mem('MemAvailable')}", _fixed(kind="used")),
            (mem("MemAvailable"), _fixed(kind="available")),
            (mem("Cached"), _fixed(kind="cached")),
            (mem("Buffers"), _fixed(kind="buffers")),
            (f"{mem('SwapTotal')} - {mem('SwapFree')}", _fixed(kind="swap_used")),
        ]
    if kind == "disk":
        return [(f"rate(node_disk_read_bytes_total[{w}])", _keep("device", direction="read")),
                (f"rate(node_disk_written_bytes_total[{w}])", _keep("device", direction="write"))]
    if kind == "network":
        return [(f"rate(node_network_receive_bytes_total[{w}])", _keep("device", direction="receive")),
                (f"rate(node_network_transmit_bytes_total[{w}])", _keep("device", direction="transmit"))]
    if kind == "load":
        return [(f"node_load{n}", _fixed(window=f"{n}m")) for n in (1, 5, 15)]
    raise ValueError(f"unknown chart kind {kind!r}")


def chart(query: QueryEngine, kind: str, start_ms: int, end_ms: int, step_ms: int) -> dict[str, Any]:
    """``{"type", "start", "end", "step", "series": [{"labels", "points": [[unix_seconds, value]]}]}``;
    points without a finite value (a ratio of nothing) are left out, as JSON cannot carry them."""
    series = []
    for expr, labeller in chart_queries(kind, step_ms / 1000):
        for s in query.range(expr, start_ms / 1000, end_ms / 1000, step_ms / 1000).value:
            series.append({"labels": labeller(s.labels),
                           "points": [[t, v] for t, v in s.points if math.isfinite(v)]})
    return {"type": kind, "start": start_ms / 1000, "end": end_ms / 1000, "step": step_ms / 1000,
            "series": series}
