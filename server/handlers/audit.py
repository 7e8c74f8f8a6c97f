"""GET /api/audit (admin): the audit log; GET /api/auth/me: who the caller is."""

from __future__ import annotations

from aiohttp import web

from engine.audit import FILTERS, RESULTS
from server.auth import AUTHENTICATOR, principal_of
from server.errors import bad_parameter
from server.keys import ENGINE
from server.params import int_param, since_param

routes = web.RouteTableDef()


@routes.get("/api/audit")
async def audit(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    filters = {}
    for name in FILTERS:
        value = request.query.get(name)
        if value is None:
            continue
        if name == "result" and value not in RESULTS:
            raise bad_parameter(name, value, f"expected one of {', '.join(RESULTS)}")
        filters[name] = value.encode("utf-8", "replace").decode("utf-8")
    since = since_param(request.query.get("since"), engine.clock.now())
    limit = int_param(request, "limit", 100, 1, 1000)
    return web.json_response({"entries": engine.audit_entries(filters, since, limit)})


@routes.get("/api/auth/me")
async def me(request: web.Request) -> web.Response:
    """The caller's subject, role and kind, and whether this server checks credentials at all."""
    principal = principal_of(request)
    assert principal is not None  # the route is not public
    return web.json_response({**principal.to_json(), "authEnabled": request.app[AUTHENTICATOR].enabled})
