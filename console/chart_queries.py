"""The console's history charts as PromQL range queries, asked through the Prometheus API like any
other client would (the same evaluator as rules, Explore and Grafana).

Each chart is a few expressions; each result series is named by labels the chart already uses for
its live lines (``cpu``, ``kind``, ``device`` + ``direction``, ``window``). CPU is a ratio of
rates, so it is right even before a full rate window of samples exists.
"""

from __future__ import annotations

from collections.abc import Callable

Labeller = Callable[[dict[str, str]], dict[str, str]]

BUSY = 'node_cpu_seconds_total{mode!~"idle|iowait"}'


def rate_window(step_s: int) -> str:
    """Wide enough for several 5 s samples and for the step (Grafana's $__rate_interval idea)."""
    return f"{max(20, 2 * step_s)}s"


def _fixed(**labels: str) -> Labeller:
    return lambda _: dict(labels)


def _keep(*names: str, **extra: str) -> Labeller:
    return lambda metric: {**{n: metric.get(n, "") for n in names}, **extra}


def chart_queries(kind: str, step_s: int) -> list[tuple[str, Labeller]]:
    """(PromQL expression, labels of its result series) for one chart kind."""
    w = rate_window(step_s)
    if kind == "cpu":
        return [
            (f"100 * sum(rate({BUSY}[{w}])) / sum(rate(node_cpu_seconds_total[{w}]))", _fixed(cpu="total")),
            (f"100 * sum by (cpu) (rate({BUSY}[{w}])) / sum by (cpu) (rate(node_cpu_seconds_total[{w}]))",
             _keep("cpu")),
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
