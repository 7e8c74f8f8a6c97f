"""/metrics exposition and the JSON metric views."""

from __future__ import annotations

from aiohttp import web

from engine.engine import Engine
from server.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, render, wants_openmetrics
from server.keys import ENGINE

routes = web.RouteTableDef()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    now = engine.now_ms()
    engine.ingest_self(now)
    openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
    body = render(engine.store.live(now), engine.store.all_metadata(), openmetrics)
    response = web.Response(body=body, headers={
        "Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression()
    return response


@routes.get("/api/metrics/system")
async def system(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    return web.json_response(engine.system())


@routes.get("/api/metrics/summary")
async def summary(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].summary())
