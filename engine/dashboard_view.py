"""The dashboard front page's figures (``GET /api/dashboard/summary`` and ``/realtime``), read with
PromQL from the documented metric names, like the Services and Business views (engine/service_views.py).

Blocking: run on the query pool (``Engine.run_query``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.compat.durations import format_seconds
from engine.service_views import BOOKING_STATUSES, ViewReader, finite_or_none, share_expr
from engine.timefmt import rfc3339

if TYPE_CHECKING:
    from engine.promql import QueryEngine

SUMMARY_WINDOW_S = 300.0
"""Request rate and error ratio over 5 m: the default rules' window (HighErrorRate)."""
REALTIME_WINDOW_S = 60.0
"""The live figures: a minute, enough for two scrapes at Prometheus's default interval."""
DAY_S = 86400.0


def summary_queries(window: str, today: str) -> dict[str, str]:
    """The summary's expressions; ``window`` for rates, ``today`` the time since midnight UTC."""
    requests = f"sum(rate(http_requests_total[{window}]))"
    return {
        "requests": requests,
        "error_ratio": share_expr(f'sum(rate(http_requests_total{{status=~"5.."}}[{window}]))', requests),
        "alerts": 'count by (severity) (ALERTS{alertstate="firing"})',
        "targets": "count by (job) (up)",
        "targets_up": "sum by (job) (up)",
        "bookings": f"sum by (status) (increase(bookings_total[{today}]))",
        "revenue": f"sum by (currency) (increase(revenue_total[{today}]))",
    }


def realtime_queries(window: str) -> dict[str, str]:
    """The live figures' expressions over ``window``."""
    requests = f"sum(rate(http_requests_total[{window}]))"
    return {
        "requests": requests,
        "error_ratio": share_expr(f'sum(rate(http_requests_total{{status=~"5.."}}[{window}]))', requests),
        "p95": f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[{window}])))",
        "bookings": f'sum(rate(bookings_total{{status="created"}}[{window}])) * 60',
        "active_users": "sum(active_users)",
    }


def _one(read: ViewReader, expr: str) -> float | None:
    values = read.by(expr)
    return finite_or_none(values.get(())) if values else None


def _services(checks: dict[str, str], targets: dict[tuple[str, ...], float],
              targets_up: dict[tuple[str, ...], float]) -> dict[str, Any]:
    """Services by state: a health check's state, and a scrape job (same name) is down when none of
    its targets is up; down wins, then degraded, then up."""
    states: dict[str, str] = dict(checks)
    for (job,), total in targets.items():
        scrape = "up" if targets_up.get((job,), 0) > 0 else "down" if total > 0 else "unknown"
        check = states.get(job)
        states[job] = scrape if check in (None, "unknown") or scrape == "down" else check
    counts = {state: sum(1 for s in states.values() if s == state) for state in ("up", "degraded", "down", "unknown")}
    return {"total": len(states), **counts, "down_names": sorted(n for n, s in states.items() if s == "down")}


def summary_view(query: QueryEngine, now: float, checks: dict[str, str]) -> dict[str, Any]:
    """Services up/down, firing alerts by severity, request rate and error ratio over the last 5 m,
    and bookings and revenue since midnight UTC. ``checks``: each health check's state."""
    midnight = now // DAY_S * DAY_S
    since = max(1.0, now - midnight)
    q = summary_queries(format_seconds(SUMMARY_WINDOW_S), format_seconds(since))
    read = ViewReader(query, now)
    alerts = {sev: int(n) for (sev,), n in read.by(q["alerts"], "severity").items()}
    bookings = {status: finite_or_none(n) for (status,), n in read.by(q["bookings"], "status").items()}
    return {
        "services": _services(checks, read.by(q["targets"], "job"), read.by(q["targets_up"], "job")),
        "alerts": {"firing": sum(alerts.values()), "by_severity": alerts},
        "requests": {"window_seconds": SUMMARY_WINDOW_S, "per_second": _one(read, q["requests"]),
                     "error_ratio": _one(read, q["error_ratio"])},
        "today": {"since": rfc3339(midnight),
                  "bookings": {status: bookings.get(status, 0.0) for status in BOOKING_STATUSES},
                  "revenue": {currency: finite_or_none(v)
                              for (currency,), v in read.by(q["revenue"], "currency").items()}},
    }


def realtime_view(query: QueryEngine, now: float) -> dict[str, Any]:
    """Request rate, error ratio, p95 latency, bookings a minute and active users, over the last minute."""
    q = realtime_queries(format_seconds(REALTIME_WINDOW_S))
    read = ViewReader(query, now)
    return {"window_seconds": REALTIME_WINDOW_S,
            "requests_per_second": _one(read, q["requests"]), "error_ratio": _one(read, q["error_ratio"]),
            "p95_seconds": _one(read, q["p95"]), "bookings_per_minute": _one(read, q["bookings"]),
            "active_users": _one(read, q["active_users"])}
