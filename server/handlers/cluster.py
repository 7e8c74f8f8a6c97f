"""GET /api/cluster: this replica, the leader and the live replicas (engine/cluster/)."""

from __future__ import annotations

from aiohttp import web

from engine.cluster.replicas import ClusterUnavailable
from server.errors import ApiError
from server.keys import ENGINE

routes = web.RouteTableDef()


@routes.get("/api/cluster")
async def cluster(request: web.Request) -> web.Response:
    try:
        return web.json_response(await request.app[ENGINE].cluster_view())
    except ClusterUnavailable as exc:
        raise ApiError(503, "unavailable", str(exc)) from None
