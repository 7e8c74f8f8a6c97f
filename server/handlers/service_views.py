"""GET /api/metrics/application and /api/metrics/business: the platform's figures over ``?range=``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aiohttp import web

from engine.compat.durations import format_seconds
from engine.engine import Engine
from engine.promql.errors import QueryError
from engine.service_views import DEFAULT_APPLICATION_RANGE_S, DEFAULT_BUSINESS_RANGE_S
from server.errors import query_failed
from server.keys import ENGINE
from server.params import duration_param

routes = web.RouteTableDef()


async def _view(request: web.Request, name: str, default_s: float,
                view: Callable[[Engine, float], dict[str, Any]]) -> web.Response:
    engine: Engine = request.app[ENGINE]
    range_s = duration_param(request, "range", format_seconds(default_s), maximum=engine.settings.metrics_ttl)
    try:  # PromQL on the query pool, like every request's queries
        body = await engine.run_query(functools.partial(view, engine, range_s))
    except QueryError as exc:
        raise query_failed(exc, name) from None
    return web.json_response(body)


@routes.get("/api/metrics/application")
async def application(request: web.Request) -> web.Response:
    return await _view(request, "application", DEFAULT_APPLICATION_RANGE_S, Engine.application)


@routes.get("/api/metrics/business")
async def business(request: web.Request) -> web.Response:
    return await _view(request, "business", DEFAULT_BUSINESS_RANGE_S, Engine.business)
