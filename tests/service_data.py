"""A made-up booking platform with known figures, as series that grow by fixed steps every 10 s.

The same definitions feed our store (through the engine's ingestion) and a promtool test file (as
``a+bxN`` input series), so every figure the views compute can be checked against Prometheus.
Counters grow by ``step`` per sample; gauges hold ``value``. With samples every 10 s, ``rate`` over a
window is ``step / 10`` and ``increase`` over 10 m is ``60 * step`` (Prometheus extrapolates to the
window's edges when samples sit 5 s inside them).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.tsdb.types import Family

INTERVAL_S = 10
SAMPLES = 121
"""0 to 1200 s: a 20-minute history."""
EVAL_OFFSET_S = (SAMPLES - 1) * INTERVAL_S + 5
"""Where the views are evaluated: between two samples (promtool 2.42 and Prometheus 3 agree there)."""

LATENCY_BUCKETS = (("0.1", 8), ("0.25", 16), ("0.5", 18), ("1", 20), ("+Inf", 20))
"""Cumulative observations per 10 s of booking's requests: p50 0.1375, p90 0.5, p95 0.75, p99 0.95."""
SATISFACTION_BUCKETS = (("1", 1), ("2", 2), ("3", 4), ("4", 7), ("5", 10), ("+Inf", 10))
"""Ten scores per 10 s: one 1, one 2, two 3s, three 4s, three 5s (sum 36, average 3.6)."""


@dataclass(frozen=True)
class Def:
    name: str
    kind: str
    labels: tuple[tuple[str, str], ...]
    step: float = 0.0
    value: float = 0.0

    def at(self, k: int) -> float:
        return self.step * k if self.kind == "counter" else self.value

    def promtool(self) -> dict[str, str]:
        labels = ", ".join(f'{k}="{v}"' for k, v in self.labels)
        values = f"0+{self.step:g}x{SAMPLES - 1}" if self.kind == "counter" else f"{self.value:g}x{SAMPLES - 1}"
        return {"series": f"{self.name}{{{labels}}}", "values": values}


def _c(name: str, by: float, **labels: str) -> Def:
    return Def(name, "counter", tuple(labels.items()), step=by)


def _g(name: str, value: float, **labels: str) -> Def:
    return Def(name, "gauge", tuple(labels.items()), value=value)


def _histogram(name: str, buckets: tuple[tuple[str, int], ...], total: float, **labels: str) -> list[Def]:
    out = [_c(f"{name}_bucket", n, **labels, le=le) for le, n in buckets]
    return [*out, _c(f"{name}_sum", total, **labels), _c(f"{name}_count", buckets[-1][1], **labels)]


def platform() -> list[Def]:
    """booking: 3 req/s (2.6 ok, 0.2 4xx, 0.2 5xx), 7 connections, DB 1.2 q/s, cache 90 % hits, one
    of two targets up; payment: 1 req/s, its only target down; node: a target with no metrics."""
    get = {"service": "booking", "method": "GET", "route": "/bookings"}
    defs = [
        _c("http_requests_total", 26, **get, status="200"),
        _c("http_requests_total", 2, **get, status="404"),
        _c("http_requests_total", 2, **get, status="503"),
        _c("http_requests_total", 10, service="payment", method="POST", route="/pay", status="200"),
        *_histogram("http_request_duration_seconds", LATENCY_BUCKETS, 5.5, **get),
        _g("http_active_connections", 7, service="booking"),
        *_histogram("db_query_duration_seconds", (("0.01", 5), ("0.1", 10), ("+Inf", 10)), 0.4,
                    service="booking", operation="select"),
        *_histogram("db_query_duration_seconds", (("0.01", 0), ("0.1", 2), ("+Inf", 2)), 0.15,
                    service="booking", operation="insert"),
        _c("cache_requests_total", 9, service="booking", result="hit"),
        _c("cache_requests_total", 1, service="booking", result="miss"),
        _g("up", 1, job="booking", instance="10.0.0.1:8080"),
        _g("up", 0, job="booking", instance="10.0.0.2:8080"),
        _g("up", 0, job="payment", instance="10.0.0.3:8080"),
        _g("up", 1, job="node", instance="10.0.0.1:9100"),
        _c("bookings_total", 6, service="booking", status="created"),
        _c("bookings_total", 3, service="booking", status="completed"),
        _c("bookings_total", 1, service="booking", status="cancelled"),
        _c("revenue_total", 50, service="payment", currency="EUR"),
        _c("revenue_total", 20, service="payment", currency="USD"),
        _g("active_users", 42, service="booking"),
        _g("active_users", 8, service="web"),
        _c("conversion_funnel_step_total", 10, funnel="checkout", step="search"),
        _c("conversion_funnel_step_total", 5, funnel="checkout", step="select"),
        _c("conversion_funnel_step_total", 2, funnel="checkout", step="pay"),
        *_histogram("customer_satisfaction_score", SATISFACTION_BUCKETS, 36),
    ]
    return defs


def families(defs: list[Def], k: int) -> list[Family]:
    """Sample ``k`` of every series, one family per metric name (types as a client library writes them)."""
    out: dict[str, Family] = {}
    for d in defs:
        base = d.name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        is_histogram = base != d.name
        fam_name = base if is_histogram else d.name
        fam = out.get(fam_name)
        if fam is None:
            kind = "histogram" if is_histogram else d.kind
            fam = out[fam_name] = Family(fam_name, kind, f"{fam_name} of the test platform")
        fam.samples.append((d.name, dict(d.labels), d.at(k)))
    return list(out.values())
