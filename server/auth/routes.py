"""The role every route needs: the one table (mirrored in README, "Security"), checked at start-up.

A route pattern (aiohttp's canonical form) maps each method to one of:

- a role of ``principal.ROLES`` (viewer, ingest, operator, admin): the caller must hold a role that
  grants it (``principal.GRANTS``);
- ``AUTHENTICATED``: any valid token or API key, whatever its role;
- ``SCRAPE``: open to all, unless METRICS_AUTH is true, then viewer (/metrics, /livez, /readyz);
- ``PUBLIC``: open to all.

HEAD follows GET. A route missing from the table needs admin (safe, and logged at start-up), and
tests/integration/test_auth_roles.py fails on it (``route_role_problems``), so a new endpoint cannot
ship without a declared role.
"""

from __future__ import annotations

from aiohttp import web

from server.auth.principal import ROLES

PUBLIC = "public"
SCRAPE = "scrape"
AUTHENTICATED = "authenticated"

_READ = {"GET": "viewer"}
_PROMETHEUS_READ = {"GET": "viewer", "POST": "viewer"}  # form POSTs from Grafana and promtool read only

ROUTE_ROLES: dict[str, dict[str, str]] = {
    "/livez": {"GET": SCRAPE},
    "/readyz": {"GET": SCRAPE},
    "/metrics": {"GET": SCRAPE},
    "/api/auth/me": {"GET": AUTHENTICATED},
    "/api-docs": {"GET": PUBLIC},  # the API's description, as published; no data
    "/api-docs/openapi.json": {"GET": PUBLIC},
    "/api-docs/assets/{asset}": {"GET": PUBLIC},
    "/ws": _READ,
    "/socket.io/": {"GET": PUBLIC, "POST": PUBLIC},  # Engine.IO transport; its connect handler needs viewer
    # Prometheus-compatible API
    "/api/v1/query": _PROMETHEUS_READ,
    "/api/v1/query_range": _PROMETHEUS_READ,
    "/api/v1/series": _PROMETHEUS_READ,
    "/api/v1/labels": _PROMETHEUS_READ,
    "/api/v1/label/{name}/values": _PROMETHEUS_READ,
    "/api/v1/metadata": _PROMETHEUS_READ,
    "/api/v1/status/buildinfo": _PROMETHEUS_READ,
    "/api/v1/rules": _READ,
    "/api/v1/alerts": _READ,
    "/api/v1/targets": _READ,
    # ingestion
    "/api/metrics/custom": {"POST": "ingest"},
    "/api/metrics/business": {"GET": "viewer", "POST": "ingest"},
    "/api/metrics/batch": {"POST": "ingest"},
    "/metrics/{grouping}": {"PUT": "ingest", "POST": "ingest", "DELETE": "ingest"},
    "/api/v1/write": {"POST": "ingest"},
    # views
    "/api/metrics/system": _READ,
    "/api/metrics/summary": _READ,
    "/api/metrics/processes": _READ,
    "/api/metrics/application": _READ,
    "/api/dashboard/charts/{type}": _READ,
    "/api/dashboard/summary": _READ,
    "/api/dashboard/realtime": _READ,
    "/api/dashboards": _READ,
    "/api/dashboards/{uid}": _READ,
    # alerts, silences, rules
    "/api/alerts": _READ,
    "/api/alerts/{id}": _READ,
    "/api/alerts/{id}/acknowledge": {"POST": "operator"},
    "/api/alerts/{id}/resolve": {"POST": "operator"},
    "/api/alerts/silences": {"GET": "viewer", "POST": "operator"},
    "/api/alerts/silences/{id}": {"PUT": "operator", "DELETE": "operator"},
    "/api/alerts/rules": {"GET": "viewer", "POST": "admin"},
    "/api/alerts/rules/reload": {"POST": "admin"},
    "/api/alerts/rules/{id}": {"GET": "viewer", "PUT": "admin", "DELETE": "admin"},
    # health checks
    "/api/health": _READ,
    "/api/health/services": {"GET": "viewer", "POST": "admin"},
    "/api/health/services/{name}": {"GET": "viewer", "PUT": "admin", "DELETE": "admin"},
    "/api/health/check": {"POST": "operator"},
    # notifications
    "/api/notifications": _READ,
    "/api/notifications/{id}": _READ,
    "/api/notifications/routing": _READ,
    "/api/notifications/channels": {"GET": "viewer", "POST": "admin"},
    "/api/notifications/channels/{name}": {"GET": "viewer", "PUT": "admin", "DELETE": "admin"},
    "/api/notifications/channels/{name}/test": {"POST": "operator"},
    # scrape targets
    "/api/targets": {"GET": "viewer", "POST": "admin"},
    "/api/targets/{id}": {"DELETE": "admin"},
    # audit log
    "/api/audit": {"GET": "admin"},
    # replicas
    "/api/cluster": _READ,
}

_KNOWN = frozenset({PUBLIC, SCRAPE, AUTHENTICATED, *ROLES})


def route_role(path: str, method: str) -> str | None:
    """The role a route pattern needs for a method; None when the table does not declare it."""
    methods = ROUTE_ROLES.get(path)
    if methods is None:
        return None
    return methods.get("GET" if method == "HEAD" else method)


def route_role_problems(app: web.Application) -> list[str]:
    """Routes the app serves without a declared role, and declarations naming no route or no known role."""
    problems = set()
    served = set()
    for route in app.router.routes():
        if route.resource is None or route.method in ("HEAD", "OPTIONS"):
            continue
        served.add((route.resource.canonical, route.method))
        if route_role(route.resource.canonical, route.method) is None:
            problems.add(f"no role declared for {route.method} {route.resource.canonical}")
    for path, methods in ROUTE_ROLES.items():
        for method, role in methods.items():
            if role not in _KNOWN:
                problems.add(f"{method} {path}: unknown role {role!r}")
            elif (path, method) not in served and (path, "*") not in served:
                problems.add(f"ROUTE_ROLES names {method} {path}, which is not served")
    return sorted(problems)
