"""The dashboard front page's figures, chart data, and the Grafana dashboard files."""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from engine.engine import Engine
from engine.promql.errors import QueryError
from engine.promql.evaluator import MAX_POINTS
from server.errors import ApiError, bad_parameter, query_failed
from server.keys import ENGINE
from server.params import duration_param

routes = web.RouteTableDef()


@routes.get("/api/dashboard/charts/{type}")
async def chart(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    chart_type = request.match_info["type"]  # one of CHART_TYPES: the path's schema is checked first
    range_s = duration_param(request, "range", "1h", maximum=engine.settings.metrics_ttl)
    step_s = duration_param(request, "step", "15s", maximum=engine.settings.metrics_ttl)  # no point is older
    if range_s / step_s > MAX_POINTS:
        raise bad_parameter("step", request.query.get("step", "15s"),
                            f"too small for range: at most {MAX_POINTS} points per series")
    # PromQL range queries: on the query pool, like every request's queries
    try:
        body = await engine.run_query(functools.partial(engine.chart, chart_type, range_s, step_s))
    except QueryError as exc:
        raise query_failed(exc, f"chart {chart_type}") from None
    return web.json_response(body)


@routes.get("/api/dashboard/summary")
async def summary(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    return web.json_response(await _figures(engine.dashboard_summary()))


@routes.get("/api/dashboard/realtime")
async def realtime(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    return web.json_response(await _figures(engine.dashboard_realtime()))


async def _figures(job: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A front-page view; its queries over their limits are a 422, past their deadline a 503."""
    try:
        return await job
    except QueryError as exc:
        raise query_failed(exc) from None


@routes.get("/api/dashboards")
async def dashboards(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    return web.json_response({"dashboards": await engine.dashboards()})


@routes.get("/api/dashboards/{uid}")
async def dashboard(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    uid = request.match_info["uid"]
    doc = await engine.dashboard(uid)
    if doc is None:
        raise ApiError(404, "not_found", f"uid: no dashboard {uid[:64]!r}", {"parameter": "uid"})
    return web.json_response(doc)
