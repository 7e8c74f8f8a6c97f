"""Notifications: channels (CRUD, test), the delivery log, the routing tree (README, Notifications)."""

from __future__ import annotations

from aiohttp import web

from engine.engine import Engine
from engine.notify.notifier import ChannelError
from server.bodies import json_body
from server.errors import ApiError
from server.keys import ENGINE
from server.params import since_param

routes = web.RouteTableDef()


def _engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


def _error(exc: ChannelError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, None if exc.field is None else {"field": exc.field})


@routes.get("/api/notifications/channels")
async def list_channels(request: web.Request) -> web.Response:
    return web.json_response({"channels": _engine(request).notification_channels()})


@routes.post("/api/notifications/channels")
async def create_channel(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        channel = await _engine(request).create_notification_channel(body)
    except ChannelError as exc:
        raise _error(exc) from None
    return web.json_response({"channel": channel}, status=201)


@routes.get("/api/notifications/channels/{name}")
async def get_channel(request: web.Request) -> web.Response:
    try:
        return web.json_response({"channel": _engine(request).notification_channel(request.match_info["name"])})
    except ChannelError as exc:
        raise _error(exc) from None


@routes.put("/api/notifications/channels/{name}")
async def update_channel(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        channel = await _engine(request).update_notification_channel(request.match_info["name"], body)
    except ChannelError as exc:
        raise _error(exc) from None
    return web.json_response({"channel": channel})


@routes.delete("/api/notifications/channels/{name}")
async def delete_channel(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        await _engine(request).delete_notification_channel(name)
    except ChannelError as exc:
        raise _error(exc) from None
    return web.json_response({"deleted": name})


@routes.post("/api/notifications/channels/{name}/test")
async def test_channel(request: web.Request) -> web.Response:
    try:
        return web.json_response(await _engine(request).test_notification_channel(request.match_info["name"]))
    except ChannelError as exc:
        raise _error(exc) from None


@routes.get("/api/notifications/routing")
async def routing(request: web.Request) -> web.Response:
    return web.json_response(_engine(request).notification_routing())


@routes.get("/api/notifications")
async def deliveries(request: web.Request) -> web.Response:
    engine = _engine(request)
    q = request.query
    # status (a choice) and limit (1..1000) were checked against the operation's schema
    since = since_param(q.get("since"), engine.clock.now())
    entries = await engine.notifications(channel=q.get("channel"), status=q.get("status"), alert=q.get("alert"),
                                         since=since, limit=int(q.get("limit", "100")))
    return web.json_response({"notifications": entries})


@routes.get(r"/api/notifications/{id:\d{1,18}}")
async def delivery(request: web.Request) -> web.Response:
    entry = await _engine(request).notification(int(request.match_info["id"]))
    if entry is None:
        raise ApiError(404, "not_found", f"no notification with id {request.match_info['id']}")
    return web.json_response({"notification": entry})

