"""Health checks: the seed's /api/health paths (shapes in README, "Health checks")."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from engine.engine import Engine
from engine.health.model import CheckError
from engine.health.service import CheckConflict, CheckNotFound
from server.bodies import json_body
from server.errors import ApiError
from server.keys import ENGINE

routes = web.RouteTableDef()


def _engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


def _not_found(exc: CheckNotFound) -> ApiError:
    return ApiError(404, "not_found", f"no health check named {exc.name!r}", {"name": exc.name})


def _invalid(exc: CheckError) -> ApiError:
    return ApiError(400, "invalid_check", str(exc), {"field": exc.field})


def _conflict(exc: CheckConflict) -> ApiError:
    return ApiError(409, exc.code, str(exc))


@routes.get("/api/health")
async def overview(request: web.Request) -> web.Response:
    return web.json_response(_engine(request).health_overview())


@routes.get("/api/health/services")
async def list_services(request: web.Request) -> web.Response:
    """A thousand checks make a megabyte of JSON: encoded off the loop."""
    services = await _engine(request).health_services()
    text = await asyncio.get_running_loop().run_in_executor(None, json.dumps, {"services": services})
    return web.Response(text=text, content_type="application/json")


@routes.get("/api/health/services/{name}")
async def get_service(request: web.Request) -> web.Response:
    try:
        service = await _engine(request).health_service(request.match_info["name"])
    except CheckNotFound as exc:
        raise _not_found(exc) from None
    return web.json_response({"service": service})


@routes.post("/api/health/services")
async def create_service(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        service = await _engine(request).create_health_check(body)
    except CheckError as exc:
        raise _invalid(exc) from None
    except CheckConflict as exc:
        raise _conflict(exc) from None
    return web.json_response({"service": service}, status=201)


@routes.put("/api/health/services/{name}")
async def update_service(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        service = await _engine(request).update_health_check(request.match_info["name"], body)
    except CheckNotFound as exc:
        raise _not_found(exc) from None
    except CheckError as exc:
        raise _invalid(exc) from None
    except CheckConflict as exc:
        raise _conflict(exc) from None
    return web.json_response({"service": service})


@routes.delete("/api/health/services/{name}")
async def delete_service(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        await _engine(request).delete_health_check(name)
    except CheckNotFound as exc:
        raise _not_found(exc) from None
    except CheckConflict as exc:
        raise _conflict(exc) from None
    return web.json_response({"deleted": name})


@routes.post("/api/health/check")
async def check_now(request: web.Request) -> web.Response:
    body: dict[str, Any] = await json_body(request, required=False)
    name = body.get("name", request.query.get("name"))
    if name is not None and not isinstance(name, str):
        raise ApiError(400, "invalid_body", "name: must be a check name", {"field": "name"})
    try:
        results = await _engine(request).run_health_checks(name)
    except CheckNotFound as exc:
        raise _not_found(exc) from None
    return web.json_response({"services": results})
