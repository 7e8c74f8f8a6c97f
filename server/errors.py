"""One JSON error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
          413: "payload_too_large", 415: "unsupported_media_type", 422: "unprocessable", 503: "unavailable"}


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
        return error_response(exc.status, _CODES.get(exc.status, "http_error"), message, details, headers)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal server error", None)
