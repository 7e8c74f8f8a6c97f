"""What aiohttp answers before any middleware runs (a request its HTTP parser rejects, a handler
failure that escapes the middlewares) in our JSON error shape, with a request id and a one-line log.

aiohttp has no hook for these answers (aio-libs/aiohttp#3287): its ``RequestHandler.handle_error``
writes plain text. We subclass it, and make the server and runner build our subclass; aiohttp is
pinned, and tests/integration/test_http_guards.py sends such requests on a real socket.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong

from server.errors import code_for, error_response, log_unhandled
from server.requestids import HEADER, request_id

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 128 * 1024
"""The longest request line the parser reads: room for long Prometheus GET queries
(``QUERY_MAX_LENGTH`` characters, URL-encoded); our own API stops at 8 KiB (server/guards.py)."""


def _describe(status: int, exc: BaseException | None, max_line_size: int) -> tuple[int, str, str]:
    """Status, code and message for what the parser rejected or a handler let escape."""
    if isinstance(exc, BadHttpMethod):
        return 501, "not_implemented", "unknown HTTP method"
    if isinstance(exc, LineTooLong):
        if exc.args[1] == max_line_size:
            return 414, "uri_too_long", f"the request line is longer than {max_line_size} bytes"
        return 431, "request_header_fields_too_large", "a request header is too long"
    if isinstance(exc, HttpProcessingError):
        first_line = (exc.message or "").strip().splitlines()[:1]
        return status, code_for(status), f"malformed HTTP request: {first_line[0][:200] if first_line else ''}"
    if status == 504:
        return 504, "timeout", "the request handler timed out"
    return status, code_for(status) if status != 500 else "internal_error", "internal server error"


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering transport-level errors like the rest of our API."""

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """One JSON error (the connection then closes, as aiohttp does); a 500 logs one line."""
        status, code, text = _describe(status, exc, self.max_line_size)
        details: dict[str, Any] = {"requestId": request_id(request)}
        if status == 500 and exc is not None:
            log_unhandled(request, exc)
        else:
            log.debug("refused a request the HTTP parser could not accept: %s", text,
                      extra={"fields": {"request_id": details["requestId"], "status": status}})
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; no error response can follow")
        response = error_response(status, code, text, details, {HEADER: details["requestId"]})
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorAppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections use ``JsonErrorRequestHandler`` and read request lines up
    to ``MAX_REQUEST_LINE``."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, max_line_size=MAX_REQUEST_LINE, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _Server(server.request_handler, request_factory=server.request_factory,
                       handler_cancellation=server.handler_cancellation, loop=server._loop, **server._kwargs)
