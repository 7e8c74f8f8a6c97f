"""PROMETHEUS_ENABLED: /metrics alone on PROMETHEUS_PORT, for scrapers kept off the API port (the
same exposition and the same METRICS_AUTH rule as the API port's /metrics)."""

from __future__ import annotations

from aiohttp import web

from server.auth import AUTHENTICATOR
from server.errors import error_middleware
from server.handlers import metrics
from server.keys import ENGINE


def metrics_app(api: web.Application) -> web.Application:
    """An application serving only GET /metrics from the API application's engine."""
    authenticator = api[AUTHENTICATOR]
    app = web.Application(middlewares=[error_middleware, authenticator.middleware])
    app[AUTHENTICATOR] = authenticator
    app[ENGINE] = api[ENGINE]
    app.router.add_get("/metrics", metrics.metrics)
    return app
