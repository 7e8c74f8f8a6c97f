"""/metrics exposition and the JSON metric views."""

from __future__ import annotations

import asyncio
import gzip

from aiohttp import web

from engine.collectors.processes import SORTS
from engine.engine import Engine
from server.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, render, wants_openmetrics
from server.keys import ENGINE
from server.params import choice_param, int_param

routes = web.RouteTableDef()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    now = engine.now_ms()
    openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
    body = render(engine.exposition_series(now), engine.metadata(), openmetrics)
    headers = {"Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE}
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        # Level 1: a quarter of the default level's CPU for ~5 % more bytes; big bodies off the loop.
        if len(body) > GZIP_OFFLOAD_BYTES:
            body = await asyncio.get_running_loop().run_in_executor(None, _gzip, body)
        else:
            body = _gzip(body)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


GZIP_OFFLOAD_BYTES = 1 << 20


def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=1, mtime=0)


@routes.get("/api/metrics/system")
async def system(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    return web.json_response(engine.system())


@routes.get("/api/metrics/summary")
async def summary(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].summary())


MAX_PROCESSES_LIMIT = 500


@routes.get("/api/metrics/processes")
async def processes(request: web.Request) -> web.Response:
    """The host's top processes, read now: ``sort`` cpu (default) or memory, ``limit`` 1..500 (50)."""
    sort = choice_param(request, "sort", "cpu", SORTS)
    limit = int_param(request, "limit", 50, 1, MAX_PROCESSES_LIMIT)
    return web.json_response(await request.app[ENGINE].top_processes(sort, limit))
