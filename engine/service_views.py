"""The platform's services and business, read with PromQL from the documented metric names.

Every figure of ``GET /api/metrics/application`` and ``GET /api/metrics/business`` (and of the
`application` and `business` WebSocket topics) is one of the expressions below, evaluated by the same
evaluator as rules, Explore and Grafana, so a figure on screen can be pasted into any of them. The
figures cover the last ``range``: rates are averages over it, counts are ``increase`` over it, and
each history has ``HISTORY_POINTS`` steps spanning it.

A service is a ``service`` label value of the application metrics, or the ``job`` of a scrape target
(the convention: a service's targets have ``job="<service>"`` and its metrics ``service="<service>"``),
so a service that stopped answering still has a row saying it is down.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from engine.charts import rate_window
from engine.compat.durations import format_seconds

if TYPE_CHECKING:
    from engine.promql import QueryEngine

QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99))
BOOKING_STATUSES = ("created", "completed", "cancelled")
HISTORY_POINTS = 30
MIN_STEP_S = 1.0
DEFAULT_APPLICATION_RANGE_S = 300.0
"""The default rules judge error rate and latency over 5 m: the Services screen shows the same."""
DEFAULT_BUSINESS_RANGE_S = 3600.0


_PER_SERVICE = ("requests", "ratio_4xx", "ratio_5xx", "connections", "db_rate", "db_p95", "cache_hit_ratio",
                "probe", *(name for name, _ in QUANTILES))


def history_step(range_s: float) -> float:
    """Seconds between history points: ``HISTORY_POINTS`` across the range, at least a second."""
    return max(MIN_STEP_S, range_s / HISTORY_POINTS)


def application_queries(w: str) -> dict[str, str]:
    """Instant expressions of the application view, by figure; ``w`` is the range as a duration."""
    requests = f"sum by (service) (rate(http_requests_total[{w}]))"
    cache = f"sum by (service) (rate(cache_requests_total[{w}]))"
    out = {
        "requests": requests,
        "status": f"sum by (service, status) (rate(http_requests_total[{w}]))",
        "ratio_4xx": share_expr(f'sum by (service) (rate(http_requests_total{{status=~"4.."}}[{w}]))', requests),
        "ratio_5xx": share_expr(f'sum by (service) (rate(http_requests_total{{status=~"5.."}}[{w}]))', requests),
        "connections": "sum by (service) (http_active_connections)",
        "db_rate": f"sum by (service) (rate(db_query_duration_seconds_count[{w}]))",
        "db_p95": f"histogram_quantile(0.95, sum by (service, le) (rate(db_query_duration_seconds_bucket[{w}])))",
        "db_op_rate": f"sum by (service, operation) (rate(db_query_duration_seconds_count[{w}]))",
        "db_op_p95": ("histogram_quantile(0.95, sum by (service, operation, le) "
                      f"(rate(db_query_duration_seconds_bucket[{w}])))"),
        "cache": f"sum by (service, result) (rate(cache_requests_total[{w}]))",
        "cache_hit_ratio": share_expr(f'sum by (service) (rate(cache_requests_total{{result="hit"}}[{w}]))', cache),
        "targets_up": "sum by (job) (up)",
        "targets": "count by (job) (up)",
        "probe": "min by (service) (probe_success)",
    }
    for name, q in QUANTILES:
        out[name] = (f"histogram_quantile({q}, sum by (service, le) "
                     f"(rate(http_request_duration_seconds_bucket[{w}])))")
    return out


def share_expr(part: str, whole: str) -> str:
    """The PromQL of ``part / whole`` (by whatever both group by), 0 (not nothing) where ``whole``
    has series and ``part`` none; shared with the dashboard's figures (engine/dashboard_view.py)."""
    return f"({part} or 0 * {whole}) / {whole}"


def application_history_queries(step_s: float) -> dict[str, str]:
    """Range expressions of the application view's histories (the Services screen's sparklines)."""
    w = rate_window(step_s)
    requests = f"sum by (service) (rate(http_requests_total[{w}]))"
    return {"requests_per_second": requests,
            "error_ratio_5xx": share_expr(f'sum by (service) (rate(http_requests_total{{status=~"5.."}}[{w}]))',
                                      requests)}


def business_queries(w: str) -> dict[str, str]:
    """Instant expressions of the business view, by figure."""
    return {
        "bookings": f"sum by (service, status) (increase(bookings_total[{w}]))",
        "revenue": f"sum by (service, currency) (increase(revenue_total[{w}]))",
        "users": "sum by (service) (active_users)",
        "funnel": f"sum by (funnel, step) (increase(conversion_funnel_step_total[{w}]))",
        "satisfaction_sum": f"sum(increase(customer_satisfaction_score_sum[{w}]))",
        "satisfaction_count": f"sum(increase(customer_satisfaction_score_count[{w}]))",
        "satisfaction_buckets": f"sum by (le) (increase(customer_satisfaction_score_bucket[{w}]))",
    }


def business_history_queries(step_s: float) -> dict[str, str]:
    """Range expressions of the business view's histories: counts per step (one period each)."""
    w = format_seconds(step_s)
    return {"bookings": f"sum by (status) (increase(bookings_total[{w}]))",
            "revenue": f"sum by (currency) (increase(revenue_total[{w}]))",
            "active_users": "sum(active_users)"}


def finite_or_none(x: float | None) -> float | None:
    """JSON has no NaN or infinity: a ratio of nothing (0/0) is unknown, shown as null (every
    figure of these views and of the dashboard goes through it)."""
    return x if x is not None and math.isfinite(x) else None


class ViewReader:
    """Evaluates named expressions at one instant (or over one range) and indexes their results by
    label values: how these views and the dashboard's (engine/dashboard_view.py) read PromQL."""

    def __init__(self, query: QueryEngine, t: float) -> None:
        self.query = query
        self.t = t

    def by(self, expr: str, *keys: str) -> dict[tuple[str, ...], float]:
        """The result as {(label values of ``keys``): value}, non-finite values as they are."""
        return {tuple(s.labels.get(k, "") for k in keys): s.value for s in self.query.instant(expr, self.t).value}

    def history(self, expr: str, key: str, start: float, end: float, step: float) -> dict[str, list[list[float]]]:
        """A range result as {label value of ``key``: [[unix_seconds, value]...]}, finite points only."""
        return {s.labels.get(key, ""): [[t, v] for t, v in s.points if math.isfinite(v)]
                for s in self.query.range(expr, start, end, step).value}


def _window(range_s: float, now: float) -> tuple[str, float, float, float]:
    """(range as a PromQL duration, history start, end, step): the history ends at the last whole step."""
    step = history_step(range_s)
    end = now // step * step
    return format_seconds(range_s), end - range_s, end, step


def application_view(query: QueryEngine, now: float, range_s: float, own_service: str) -> dict[str, Any]:
    """Per service: request rate, latency percentiles, 4xx/5xx ratios, status codes, connections,
    DB and cache figures, up, and histories of the request rate and 5xx ratio."""
    w, start, end, step = _window(range_s, now)
    read = ViewReader(query, now)
    q = application_queries(w)
    figures = {name: read.by(q[name], "service") for name in _PER_SERVICE}
    targets, targets_up = read.by(q["targets"], "job"), read.by(q["targets_up"], "job")
    status = read.by(q["status"], "service", "status")
    db_ops = read.by(q["db_op_rate"], "service", "operation")
    db_op_p95 = read.by(q["db_op_p95"], "service", "operation")
    cache = read.by(q["cache"], "service", "result")
    histories = {name: read.history(expr, "service", start, end, step)
                 for name, expr in application_history_queries(step).items()}
    names = {k[0] for f in (*figures.values(), targets, status) for k in f}
    names.discard("")

    def get(figure: str, service: str) -> float | None:
        return finite_or_none(figures[figure].get((service,)))

    services = []
    for svc in sorted(names):
        total = targets.get((svc,))
        up, source = _up(total, targets_up.get((svc,)), figures["probe"].get((svc,)), svc == own_service)
        services.append({
            "service": svc,
            "up": up,
            "up_source": source,
            "targets": None if total is None else {"up": int(targets_up.get((svc,), 0)), "total": int(total)},
            "requests_per_second": get("requests", svc),
            "latency_seconds": {name: get(name, svc) for name, _ in QUANTILES},
            "error_ratio_4xx": get("ratio_4xx", svc),
            "error_ratio_5xx": get("ratio_5xx", svc),
            "status_codes": {code: finite_or_none(v) for (s, code), v in sorted(status.items()) if s == svc},
            "active_connections": get("connections", svc),
            "db": {
                "queries_per_second": get("db_rate", svc),
                "p95_seconds": get("db_p95", svc),
                "operations": [{"operation": op, "queries_per_second": finite_or_none(v),
                                "p95_seconds": finite_or_none(db_op_p95.get((s, op)))}
                               for (s, op), v in sorted(db_ops.items()) if s == svc],
            },
            "cache": _cache({r: v for (s, r), v in sorted(cache.items()) if s == svc},
                            get("cache_hit_ratio", svc)),
            "history": {name: h.get(svc, []) for name, h in histories.items()},
        })
    return {"range_seconds": range_s, "step_seconds": step, "services": services}


def _cache(by_result: dict[str, float], hit_ratio: float | None) -> dict[str, Any]:
    return {"hit_ratio": hit_ratio,
            "requests_per_second": finite_or_none(sum(by_result.values())) if by_result else None,
            "by_result": {r: finite_or_none(v) for r, v in by_result.items()}}


def _up(targets: float | None, targets_up: float | None, probe: float | None,
        own: bool) -> tuple[bool | None, str | None]:
    """Up when any scrape target of the service's job is up; without targets, when every health
    probe of it succeeds; without either, this server itself is up (it is answering), others unknown."""
    if targets is not None:
        return bool(targets_up), "scrape"
    if probe is not None:
        return probe >= 1, "probe"
    if own:
        return True, "self"
    return None, None


def business_view(query: QueryEngine, now: float, range_s: float) -> dict[str, Any]:
    """Bookings by status, revenue by service and currency, active users, funnels and satisfaction
    over the range, with per-step histories of bookings, revenue and active users."""
    w, start, end, step = _window(range_s, now)
    read = ViewReader(query, now)
    q = business_queries(w)
    bookings = read.by(q["bookings"], "service", "status")
    by_service: dict[str, dict[str, float | None]] = {}
    for (svc, status), v in sorted(bookings.items()):
        by_service.setdefault(svc, {s: 0.0 for s in BOOKING_STATUSES})[status] = finite_or_none(v)
    totals: dict[str, float | None] = {s: 0.0 if bookings else None for s in BOOKING_STATUSES}  # None: no data
    for (_, status), v in bookings.items():
        totals[status] = finite_or_none((totals.get(status) or 0.0) + v)
    users = read.by(q["users"], "service")
    hist = business_history_queries(step)
    return {
        "range_seconds": range_s,
        "step_seconds": step,
        "bookings": {**totals, "by_service": by_service,
                     "history": read.history(hist["bookings"], "status", start, end, step)},
        "revenue": {"by_service": [{"service": svc, "currency": cur, "amount": finite_or_none(v)}
                                   for (svc, cur), v in sorted(read.by(q["revenue"], "service", "currency").items())],
                    "history": read.history(hist["revenue"], "currency", start, end, step)},
        "active_users": {"total": finite_or_none(sum(users.values())) if users else None,
                         "by_service": {svc: finite_or_none(v) for (svc,), v in sorted(users.items())},
                         "history": read.history(hist["active_users"], "", start, end, step).get("", [])},
        "funnels": _funnels(read.by(q["funnel"], "funnel", "step")),
        "satisfaction": _satisfaction(read, q),
    }


def _funnels(counts: dict[tuple[str, ...], float]) -> list[dict[str, Any]]:
    """Each funnel's steps from the widest to the narrowest (a funnel narrows; ties by name), with
    each step's share of the first and of the previous step."""
    funnels: dict[str, list[tuple[str, float]]] = {}
    for (funnel, step), v in counts.items():
        funnels.setdefault(funnel, []).append((step, v))
    out = []
    for funnel, steps in sorted(funnels.items()):
        steps.sort(key=lambda s: (-s[1], s[0]))
        first = steps[0][1]
        rows, previous = [], first
        for step, v in steps:
            rows.append({"step": step, "count": finite_or_none(v), "of_first": _ratio(v, first),
                         "of_previous": _ratio(v, previous)})
            previous = v
        out.append({"funnel": funnel, "steps": rows})
    return out


def _ratio(part: float, whole: float) -> float | None:
    return finite_or_none(part / whole) if whole else None


def _satisfaction(read: ViewReader, q: dict[str, str]) -> dict[str, Any]:
    """Average score and how many responses fell in each bucket (the histogram's cumulative buckets
    turned into per-bucket counts, by upper bound)."""
    total = read.by(q["satisfaction_sum"]).get(())
    count = read.by(q["satisfaction_count"]).get(())
    cumulative = sorted(((_le(le), v) for (le,), v in read.by(q["satisfaction_buckets"], "le").items()),
                        key=lambda b: b[0])
    distribution, below = [], 0.0
    for le, v in cumulative:
        distribution.append({"le": le if math.isfinite(le) else "+Inf", "count": finite_or_none(max(0.0, v - below))})
        below = max(below, v)
    return {"average": _ratio(total, count) if total is not None and count is not None else None,
            "count": finite_or_none(count), "distribution": distribution}


def _le(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf

