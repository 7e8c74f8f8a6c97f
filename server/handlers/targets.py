"""Scrape targets: Prometheus's GET /api/v1/targets, and our /api/targets (list, add, delete).

``POST /api/targets`` takes an entry as engine/scrape/entries.py describes it (``job`` and ``url``,
or ``job`` and ``targets``, plus optional labels, interval, timeout, limits and auth) and answers 201
with the entry and its ``id``; ``DELETE /api/targets/{id}`` removes it. Entries survive restarts.
"""

from __future__ import annotations

from aiohttp import web

from engine.engine import Engine
from engine.scrape.entries import EntryError
from server.bodies import json_body
from server.errors import ApiError
from server.keys import ENGINE

routes = web.RouteTableDef()


def _engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


@routes.get("/api/v1/targets")
async def prometheus_targets(request: web.Request) -> web.Response:
    state = request.query.get("state") or "any"  # a choice, checked against the operation's schema
    return web.json_response({"status": "success", "data": _engine(request).prometheus_targets(state)})


@routes.get("/api/targets")
async def list_targets(request: web.Request) -> web.Response:
    return web.json_response(_engine(request).scrape_targets())


@routes.post("/api/targets")
async def add_target(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        entry = await _engine(request).add_scrape_target(body)
    except EntryError as exc:
        status = 403 if exc.code == "target_not_allowed" else 409 if exc.code == "too_many_targets" else 400
        raise ApiError(status, exc.code, str(exc), {"field": exc.field}) from None
    return web.json_response({"entry": entry}, status=201)


@routes.delete("/api/targets/{id}")
async def delete_target(request: web.Request) -> web.Response:
    entry_id = request.match_info["id"]
    try:
        entry = await _engine(request).delete_scrape_target(entry_id)
    except KeyError:
        raise ApiError(404, "not_found", f"no target entry with id {entry_id!r}") from None
    return web.json_response({"entry": entry})
