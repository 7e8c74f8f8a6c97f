"""Ingestion: the JSON push API, Pushgateway-compatible paths and Prometheus remote write."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.engine import Engine
from engine.ingest.admission import Refusal
from engine.ingest.push import PushError, plain_batch
from engine.ingest.remote_write import RemoteWriteError
from server.bodies import check_charset, json_body, json_object, read_body
from server.errors import ApiError
from server.guards import body_limit
from server.keys import ENGINE

routes = web.RouteTableDef()

MAX_BATCH_ITEMS = 10_000
CONFLICTS = frozenset({"type_conflict", "bounds_conflict"})
GROUPING_PATH = "/metrics/{grouping:job(?:@base64)?/.+}"
PROTOBUF = "application/vnd.google.protobuf"


def _refused(refusal: Refusal, extra: dict[str, Any] | None = None) -> ApiError:
    """One refused item as our error: 409 when it contradicts what is stored, 400 otherwise."""
    status = 409 if refusal.reason in CONFLICTS else 400
    return ApiError(status, refusal.reason, f"{refusal.field}: {refusal.message}" if refusal.field else refusal.message,
                    {"field": refusal.field, **(extra or {})})


async def _push_one(request: web.Request, source: str) -> web.Response:
    engine: Engine = request.app[ENGINE]
    body = await json_body(request)
    result = await engine.push_metrics(source, [body])
    if result.rejected:
        raise _refused(result.rejected[0])
    return web.json_response({"accepted": result.accepted})


@routes.post("/api/metrics/custom")
async def push_custom(request: web.Request) -> web.Response:
    """One metric the client-library way: a counter increment, a gauge set, an observation."""
    return await _push_one(request, "push")


@routes.post("/api/metrics/business")
async def push_business(request: web.Request) -> web.Response:
    """One business metric: only the names the Business view reads (a typo would feed nothing)."""
    return await _push_one(request, "business")


@routes.post("/api/metrics/batch")
async def push_batch(request: web.Request) -> web.Response:
    """Up to 10,000 items: those that pass are applied and each refused one is listed by index;
    with ``?atomic=true`` one refusal means none is applied."""
    engine: Engine = request.app[ENGINE]
    atomic = request.query.get("atomic") in ("true", "1")  # a choice, checked against the operation's schema
    raw = await read_body(request, body_limit(request))
    check_charset(request.charset)
    items = plain_batch(raw)  # the common shape, decoded and type-checked at C speed
    if items is None:
        items = json_object(raw, request.charset).get("metrics")
    if not isinstance(items, list):
        raise ApiError(400, "invalid_body", "metrics: a list of items is required", {"field": "metrics"})
    if len(items) > MAX_BATCH_ITEMS:
        raise ApiError(413, "too_many_items", f"metrics: at most {MAX_BATCH_ITEMS} items a request",
                       {"field": "metrics", "limit": MAX_BATCH_ITEMS, "count": len(items)})
    result = await engine.push_metrics("push", items, atomic)
    answer = {"accepted": result.accepted, "rejected": [r.to_json() for r in result.rejected]}
    if result.rejected and not result.accepted:
        what = "one item was refused, so none was applied" if atomic else "every item was refused"
        raise ApiError(400, "batch_refused", f"metrics: {what}", {"field": "metrics", **answer})
    return web.json_response(answer)


async def _push_group(request: web.Request, replace: bool) -> web.Response:
    engine: Engine = request.app[ENGINE]
    body = await read_body(request, body_limit(request))
    try:
        outcome = await engine.push_group(request.match_info["grouping"], body, replace, _is_protobuf(request))
    except PushError as exc:
        raise ApiError(400, "invalid_push", str(exc), {"field": exc.field}) from None
    if outcome.refused:
        first = outcome.refused[0]
        raise ApiError(409 if first.reason in CONFLICTS else 400, first.reason,
                       f"pushed metrics are invalid or inconsistent with existing metrics: {first.message}",
                       {"field": first.field, "refused": [r.to_json() for r in outcome.refused[:100]]})
    return web.Response(status=200)


def _is_protobuf(request: web.Request) -> bool:
    """Pushgateway's choice: delimited MetricFamily messages when the Content-Type says so, else text."""
    media, *params = request.headers.get("Content-Type", "").split(";")
    given = {k.strip().lower(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in params)}
    return (media.strip().lower() == PROTOBUF and given.get("proto") == "io.prometheus.client.MetricFamily"
            and given.get("encoding") == "delimited")


@routes.put(GROUPING_PATH)
async def pushgateway_put(request: web.Request) -> web.Response:
    """Pushgateway PUT: the group becomes exactly what is pushed."""
    return await _push_group(request, replace=True)


@routes.post(GROUPING_PATH)
async def pushgateway_post(request: web.Request) -> web.Response:
    """Pushgateway POST: the pushed families replace those of the same name in the group."""
    return await _push_group(request, replace=False)


@routes.delete(GROUPING_PATH)
async def pushgateway_delete(request: web.Request) -> web.Response:
    """Pushgateway DELETE: the group goes (202 whether or not it existed, as Pushgateway answers)."""
    engine: Engine = request.app[ENGINE]
    try:
        engine.delete_group(request.match_info["grouping"])
    except PushError as exc:
        raise ApiError(400, "invalid_push", str(exc), {"field": exc.field}) from None
    return web.Response(status=202)


@routes.post("/api/v1/write")
async def remote_write(request: web.Request) -> web.Response:
    """Prometheus remote write 1.0: 204 when every sample is stored; 400 (not retried by the sender)
    for a payload that cannot be decoded or samples refused, the others being stored."""
    engine: Engine = request.app[ENGINE]
    body = await read_body(request, body_limit(request))
    try:
        outcome = await engine.remote_write(body)
    except RemoteWriteError as exc:
        raise ApiError(400, "invalid_payload", str(exc), {"field": "body"}) from None
    if outcome.refused:
        refused = sum(r.samples for r in outcome.refused)
        raise ApiError(400, outcome.refused[0].reason,
                       f"{refused} samples refused ({outcome.refused[0].field}: {outcome.refused[0].message}); "
                       f"{outcome.accepted} stored", {"field": outcome.refused[0].field, "accepted": outcome.accepted,
                                                      "refused": [r.to_json() for r in outcome.refused[:100]]})
    return web.Response(status=204)
