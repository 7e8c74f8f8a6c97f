"""Liveness and readiness in the application/health+json format."""

from __future__ import annotations

import json

from aiohttp import web

from engine.engine import Engine
from server.keys import ENGINE

routes = web.RouteTableDef()
HEALTH_JSON = "application/health+json"


def _health(status: str, checks: dict | None = None, code: int = 200) -> web.Response:
    body: dict = {"status": status}
    if checks is not None:
        body["checks"] = checks
    return web.Response(status=code, text=json.dumps(body), content_type=HEALTH_JSON)


@routes.get("/livez")
async def livez(request: web.Request) -> web.Response:
    return _health("pass")


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    checks: dict[str, list[dict]] = {}
    try:
        await engine.ping_storage()
        checks["store:responsive"] = [{"status": "pass", "observedValue": engine.series_count(),
                                       "observedUnit": "series"}]
    except Exception as exc:  # the check reports any storage failure as "fail"
        checks["store:responsive"] = [{"status": "fail", "output": str(exc)}]
    problem = engine.write_problem()
    checks["store:writable"] = [{"status": "fail", "output": problem} if problem else {"status": "pass"}]
    age = None if engine.last_collection is None else engine.clock.now() - engine.last_collection
    stale = age is None or age > 3 * engine.settings.collection_interval + 5
    checks["collector:age"] = [{"status": "warn" if stale else "pass", "observedValue": age,
                                "observedUnit": "s"}]
    failed = any(c["status"] == "fail" for cs in checks.values() for c in cs)
    warned = any(c["status"] == "warn" for cs in checks.values() for c in cs)
    status = "fail" if failed else ("warn" if warned else "pass")
    return _health(status, checks, 503 if failed else 200)
