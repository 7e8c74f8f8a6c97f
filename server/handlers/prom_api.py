"""Prometheus's HTTP API under /api/v1: same parameters, envelope, error types and status codes.

So that Grafana's Prometheus data source, promtool and client libraries work against this server.
These routes answer in Prometheus's envelope ``{"status", "data" | "errorType", "error"}`` rather
than ours. Queries, series lookups and the encoding of large answers run in worker threads:
the event loop only parses parameters.
"""

from __future__ import annotations

import functools
import json
import logging
import platform
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDict

from engine import __version__
from engine.engine import Engine, Selectors
from engine.promql import QueryError, QueryResult
from engine.tsdb.matchers import Matcher
from server import promparams as p
from server.errors import ApiError, client_gone, log_unhandled
from server.keys import ENGINE
from server.promparams import BAD_DATA, PromApiError

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

MAX_POINTS = 11_000
ZERO_STEP = "zero or negative query resolution step widths are not accepted. Try a positive integer"
_STATUS = {BAD_DATA: 400, "execution": 422, "timeout": 503, "canceled": 503, "not_found": 404, "internal": 500}
_UNKNOWN_TYPES = {"untyped": "unknown"}  # Prometheus's name for a family without a TYPE

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _success(data: Any) -> bytes:
    return _json({"status": "success", "data": data})


def _success_result(result: QueryResult) -> bytes:
    """``_success(result.to_prometheus())`` byte for byte, with the result's fast encoding. One join:
    ``a + data + b`` copies a range answer of megabytes twice, which cost ~15 ms of an 8.6 MB one."""
    return b"".join((b'{"status":"success","data":', result.to_json(), b"}"))


def _error(error_type: str, message: str, status: int | None = None) -> web.Response:
    body = {"status": "error", "errorType": error_type, "error": message}
    return _respond(_json(body), status or _STATUS.get(error_type, 500))


def _respond(body: bytes, status: int = 200) -> web.Response:
    response = web.Response(body=body, status=status, content_type="application/json")
    response.enable_compression()  # only when the client's Accept-Encoding allows it
    return response


def _endpoint(path: str) -> Callable[[Handler], Handler]:
    """Register a handler on GET and form POST, answering its errors in Prometheus's envelope."""

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except PromApiError as exc:
                return _error(exc.error_type, exc.message)
            except ApiError as exc:  # a form body that could not be read (400 undecodable, 408 too slow)
                return _error(BAD_DATA, exc.message, exc.status)
            except web.HTTPException:
                raise
            except Exception as exc:  # a bug: still answer in the envelope Prometheus clients can read
                if client_gone(request, exc):
                    raise  # nobody to answer: error_middleware logs and counts it as such
                log_unhandled(request, exc, log)
                return _error("internal", "internal server error")

        routes.get(path)(wrapped)
        routes.post(path)(wrapped)
        return wrapped

    return register


async def _in_thread(engine: Engine, job: Callable[[], bytes], timeout: float | None = None) -> bytes:
    """Run a job on the engine's query pool; the query engine's errors become the API's, with their type."""
    try:
        return await engine.run_query(job, timeout)
    except TimeoutError:
        raise PromApiError("timeout", "query timed out in query execution") from None
    except QueryError as exc:
        raise PromApiError(exc.error_type, exc.message) from None


# -- queries ------------------------------------------------------------------------------------


def _time_limit(engine: Engine, values: MultiDict[str]) -> tuple[float, float]:
    """Prometheus's limit on a query: its ``timeout`` parameter, at most QUERY_TIMEOUT; as seconds
    from now and as the ``time.monotonic()`` deadline that the evaluation stops at."""
    timeout = p.timeout_param(values)
    seconds = engine.settings.query_timeout if timeout is None else min(timeout, engine.settings.query_timeout)
    return seconds, time.monotonic() + seconds


def _instant(engine: Engine, expr: str, t_ms: int, deadline: float) -> bytes:
    try:
        engine.check_query(expr)
    except QueryError as exc:
        raise PromApiError(exc.error_type, f'invalid parameter "query": {exc.message}') from None
    return _success_result(engine.instant_query(expr, t_ms / 1000, deadline))


def _range(engine: Engine, expr: str, start_ms: int, end_ms: int, step_ms: int, deadline: float) -> bytes:
    result = engine.range_query(expr, start_ms / 1000, end_ms / 1000, step_ms / 1000, deadline)
    return _success_result(result)


@_endpoint("/api/v1/query")
async def query(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    values = await p.form(request)
    t = p.time_param(values, "time", engine.now_ms())
    timeout, deadline = _time_limit(engine, values)
    job = functools.partial(_instant, engine, values.get("query", ""), t, deadline)
    return _respond(await _in_thread(engine, job, timeout))


@_endpoint("/api/v1/query_range")
async def query_range(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    values = await p.form(request)
    start = p.required_time(values, "start")
    end = p.required_time(values, "end")
    if end < start:
        raise p.invalid_parameter("end", "end timestamp must not be before start time")
    step_ns = p.duration_param(values, "step")
    if step_ns <= 0:
        raise p.invalid_parameter("step", ZERO_STEP)
    if (end - start) * 1_000_000 // step_ns > MAX_POINTS:
        raise PromApiError(BAD_DATA, "exceeded maximum resolution of 11,000 points per timeseries. "
                                     "Try decreasing the query resolution (?step=XX)")
    if step_ns < 1_000_000:  # Prometheus fails ("integer divide by zero") on a step under 1 ms
        raise p.invalid_parameter("step", ZERO_STEP)
    timeout, deadline = _time_limit(engine, values)
    job = functools.partial(_range, engine, values.get("query", ""), start, end, step_ns // 1_000_000, deadline)
    return _respond(await _in_thread(engine, job, timeout))


# -- series, labels, metadata -------------------------------------------------------------------


def _window(values: MultiDict[str]) -> tuple[int, int] | None:
    """The closed [start, end] in ms, or None when the request sets neither (all of history)."""
    if values.get("start", "") == "" and values.get("end", "") == "":
        return None
    return p.time_param(values, "start", p.MIN_TIME_MS), p.time_param(values, "end", p.MAX_TIME_MS)


@_endpoint("/api/v1/series")
async def series(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    values = await p.form(request)
    texts = values.getall("match[]", [])
    if not texts:
        raise PromApiError(BAD_DATA, "no match[] parameter provided")
    window = _window(values)
    timeout, deadline = _time_limit(engine, values)

    def job() -> bytes:
        try:
            selectors = _selectors(engine, texts)
        except QueryError as exc:
            raise p.invalid_parameter("match[]", exc.message) from None
        return _success([dict(labels) for labels in engine.series(selectors, window, deadline)])

    return _respond(await _in_thread(engine, job, timeout))


def _selectors(engine: Engine, texts: list[str]) -> list[tuple[Matcher, ...]]:
    """The matchers of each ``match[]`` (parsed on the query thread: a long one costs time); each
    must be a plain series selector: ``(up)`` and ``up offset 5m`` are refused, as Prometheus does."""
    return [engine.series_selector(text) for text in texts]


Lookup = Callable[[Selectors | None, tuple[int, int] | None, float | None], list[str]]


async def _label_lookup(request: web.Request, lookup: Lookup) -> web.Response:
    """Labels and label values share their parameters: optional start, end and match[]."""
    engine: Engine = request.app[ENGINE]
    values = await p.form(request)
    window = _window(values)
    texts = values.getall("match[]", [])
    if not texts and window is None:  # straight from the index: cheap enough for the loop
        return _respond(_success(lookup(None, None, None)))
    timeout, deadline = _time_limit(engine, values)

    def job() -> bytes:
        try:
            selectors = _selectors(engine, texts) if texts else None
        except QueryError as exc:
            raise PromApiError(BAD_DATA, exc.message) from None
        return _success(lookup(selectors, window, deadline))

    return _respond(await _in_thread(engine, job, timeout))


@_endpoint("/api/v1/labels")
async def labels(request: web.Request) -> web.Response:
    return await _label_lookup(request, request.app[ENGINE].label_names)


@_endpoint("/api/v1/label/{name}/values")
async def values_of_label(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    name = p.label_name(request.match_info["name"])
    return await _label_lookup(request, functools.partial(engine.label_values, name))


@_endpoint("/api/v1/metadata")
async def metadata(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    values = await p.form(request)
    limit = p.limit_param(values)
    metric = values.get("metric", "")
    found = engine.metadata()
    names = sorted(found) if metric == "" else [metric] if metric in found else []
    data = {}
    for name in names[:limit]:
        m = found[name]
        data[name] = [{"type": _UNKNOWN_TYPES.get(m.type, m.type), "help": m.help, "unit": m.unit}]
    return _respond(_success(data))


@_endpoint("/api/v1/status/buildinfo")
async def buildinfo(request: web.Request) -> web.Response:
    """Our own build: Grafana reads it to learn what it talks to."""
    return _respond(_success({
        "version": __version__, "revision": "unknown", "branch": "unknown", "buildUser": "unknown",
        "buildDate": "unknown", "goVersion": f"python{platform.python_version()}",
    }))
