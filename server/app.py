"""Builds the aiohttp application around an Engine."""

from __future__ import annotations

import logging

from aiohttp import web

from engine.engine import Engine
from server.audit import audit_middleware
from server.auth import AUTHENTICATOR, Authenticator, route_role_problems
from server.bodies import MAX_BODY_BYTES, READ_TIMEOUT
from server.errors import ApiError, error_middleware
from server.guards import RequestGuards, check_route_policies
from server.handlers import (
    alerts,
    audit,
    cluster,
    dashboard,
    docs,
    health,
    ingest,
    metrics,
    notifications,
    probes,
    prom_api,
    service_views,
    socket_io,
    targets,
    ws,
)
from server.instrumentation import HttpMetrics
from server.keys import ENGINE, HTTP_METRICS
from server.openapi.document import DOCUMENT, encoded
from server.openapi.validation import RequestValidator
from server.ratelimit import RateLimits, check_ingest_routes
from server.requestids import send_request_id
from server.secheaders import SecurityHeaders
from server.tracing import install_tracing

log = logging.getLogger(__name__)


async def _streams_off(request: web.Request) -> web.StreamResponse:
    raise ApiError(404, "not_found", "the live stream is off (WEBSOCKET_ENABLED=false)", {"path": request.path})


def create_app(engine: Engine) -> web.Application:
    http_metrics = HttpMetrics(engine.settings.service_name)
    engine.add_self_source("http", http_metrics.families)
    app = web.Application(middlewares=[http_metrics.middleware, error_middleware], client_max_size=MAX_BODY_BYTES)
    RequestGuards(engine.settings).install(app)
    authenticator = Authenticator(engine.settings)
    app[AUTHENTICATOR] = authenticator
    app.middlewares.extend([audit_middleware, authenticator.middleware])
    SecurityHeaders(tls=engine.settings.tls_cert_file is not None).install(app)
    RateLimits(engine.settings).install(app)
    app.middlewares.append(RequestValidator().middleware)
    app.on_response_prepare.append(send_request_id)
    app[ENGINE] = engine
    app[DOCUMENT] = encoded(authenticator.enabled, engine.settings.metrics_auth)
    app[READ_TIMEOUT] = engine.settings.read_timeout
    install_tracing(app, engine.tracer)
    app[HTTP_METRICS] = http_metrics
    streams = engine.settings.websocket_enabled
    for module in (metrics, dashboard, probes, prom_api, alerts, service_views, health, notifications,
                   targets, ingest, audit, docs, cluster, *((ws, socket_io) if streams else ())):
        app.add_routes(module.routes)
    if streams:
        socket_io.install(app)
    else:
        app.add_routes([web.route(method, path, _streams_off) for path in ("/ws", socket_io.PATH)
                        for method in ("GET", "POST")])
    check_route_policies(app)
    for problem in route_role_problems(app):
        log.warning(problem)
    check_ingest_routes(app)
    app[ws.OPEN_SOCKETS] = set()
    app.on_shutdown.append(ws.close_streams)
    return app
