"""One JSON error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from engine.cluster.alertstore import AlertStateUnavailable
from engine.cluster.shared import SharedStateUnavailable
from engine.datadir import StorageFullError
from engine.logs import log_failure
from engine.promql.errors import TIMEOUT, QueryError
from engine.tsdb.mongo import MongoUnavailable
from server.requestids import request_id

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
          413: "payload_too_large", 414: "uri_too_long", 415: "unsupported_media_type", 422: "unprocessable",
          431: "request_header_fields_too_large", 501: "not_implemented", 503: "unavailable",
          507: "insufficient_storage"}


class ApiError(Exception):
    """Raised by handlers for a client error; the middleware turns it into the JSON envelope."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def bad_parameter(name: str, value: str, problem: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {problem}", {"parameter": name, "value": value})


def query_failed(exc: QueryError, what: str = "") -> ApiError:
    """A view's PromQL that could not be answered: 422 over QUERY_MAX_SAMPLES (or any other query
    error), 503 past QUERY_TIMEOUT; ``what`` (the chart or view) leads the message."""
    status = 503 if exc.error_type == TIMEOUT else 422
    return ApiError(status, f"query_{exc.error_type}", f"{what}: {exc.message}" if what else exc.message)


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        details: dict[str, Any] = {"path": request.path, "method": request.method}
        headers = {}
        if isinstance(exc, web.HTTPMethodNotAllowed):
            details["allowed"] = sorted(exc.allowed_methods)
            headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        message = exc.reason if exc.status != 404 else f"no route for {request.method} {request.path}"
        return error_response(exc.status, code_for(exc.status), message, details, headers)
    except Exception as exc:
        status = status_for(exc, request)
        if status == CLIENT_GONE:
            log.debug("the client of %s %s went away before the answer: %s", request.method, request.path,
                      type(exc).__name__, extra={"fields": {"request_id": request_id(request), "status": status}})
            return error_response(status, "client_closed_request", "the client closed the connection")
        if status == 500:
            rid = log_unhandled(request, exc)
            return error_response(500, "internal_error", "internal server error", {"requestId": rid})
        return error_response(status, code_for(status), str(exc), {"path": request.path, "method": request.method})


_MAPPED: tuple[tuple[tuple[type[Exception], ...], int], ...] = (
    ((StorageFullError,), 507),  # nothing was changed; the client may retry once there is room
    ((AlertStateUnavailable, SharedStateUnavailable), 503),  # Redis is down: nothing changed, retry
    ((MongoUnavailable,), 503),  # MONGODB_URI's server is down or refused: the client may retry
)


CLIENT_GONE = 499
"""nginx's status for a request whose client went away before the answer (mid-upload, say): not a
server error; no answer reaches anyone, the request metrics and the audit log record this status."""


def status_for(exc: BaseException, request: web.BaseRequest | None = None) -> int:
    """The status ``error_middleware`` answers ``request`` that raised ``exc`` with (500 for a bug): the
    audit log records the same one."""
    if isinstance(exc, (ApiError, web.HTTPException)):
        return exc.status
    if request is not None and client_gone(request, exc):
        return CLIENT_GONE
    return next((status for kinds, status in _MAPPED if isinstance(exc, kinds)), 500)


def client_gone(request: web.BaseRequest, exc: BaseException) -> bool:
    """True when ``exc`` is the loss of the client's own connection (aiohttp's "Connection lost" while
    the body was read), not a failure of ours such as a lost connection to Redis or a receiver."""
    if not isinstance(exc, ConnectionError):
        return False
    transport = request.transport
    return transport is None or transport.is_closing()


def log_unhandled(request: web.BaseRequest, exc: BaseException, logger: logging.Logger = log) -> str:
    """One error line for a bug met while answering a request; returns the request id it names."""
    rid = request_id(request)
    log_failure(logger, f"unhandled error in {request.method} {request.path}", exc, request_id=rid)
    return rid


def code_for(status: int) -> str:
    """Our error code for an HTTP status that has no more specific one."""
    return _CODES.get(status, "http_error")
