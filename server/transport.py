"""What aiohttp answers before any middleware runs (a request its HTTP parser rejects, a handler
failure that escapes the middlewares) in our JSON error shape, with a request id and a one-line log.

aiohttp has no hook for these answers (aio-libs/aiohttp#3287): its ``RequestHandler.handle_error``
writes plain text. We subclass it, and make the server and runner build our subclass; aiohttp is
pinned, and tests/integration/test_http_guards.py sends such requests on a real socket.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestPayloadError

from server.errors import code_for, error_response, log_unhandled
from server.requestids import HEADER, request_id
from server.secheaders import STATIC_HEADERS

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 128 * 1024
"""The longest request line the parser reads: room for long Prometheus GET queries
(``QUERY_MAX_LENGTH`` characters, URL-encoded); our own API stops at 8 KiB (server/guards.py)."""
KEEPALIVE_TIMEOUT_S = 75.0
"""An idle keep-alive connection is closed after this (aiohttp's default is an hour); longer than
the 60 s reverse proxies keep theirs, so a proxy never sends on a connection we just closed."""


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
    """aiohttp's connection handler, answering transport-level errors like the rest of our API, and
    closing a connection whose request line and headers take longer than ``read_timeout`` to arrive
    (slowloris: a client trickling a header byte by byte would hold the connection for ever; aiohttp
    has no such deadline). The clock starts when the connection opens, and again at the first byte
    of each next request on a kept-alive connection."""

    def __init__(self, manager: web.Server, *, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.read_timeout = read_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is None and self._waiter is not None and not self._messages:
            self._arm_head_deadline()  # the first bytes of the next request
        super().data_received(data)
        if self._messages and self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._head_deadline = self._loop.call_later(self.read_timeout, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self._messages and not self._request_in_progress:
            log.debug("closed a connection whose request headers did not arrive in time",
                      extra={"fields": {"read_timeout": self.read_timeout}})
            self.force_close()
            if self.transport is not None:
                self.transport.close()

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp drains what is left of a body after the answer; a body it could not decode raises
        its RequestPayloadError again there, after our 400 was sent (server/bodies.py): not a bug."""
        if isinstance(kw.get("exc_info"), RequestPayloadError):
            log.debug("dropped the rest of a request body that could not be decoded: %s", kw["exc_info"])
            return
        super().log_exception(*args, **kw)

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
        response = error_response(status, code, text, details, {HEADER: details["requestId"], **STATIC_HEADERS})
        response.force_close()
        return response


class _Server(web.Server):
    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout

    def __call__(self) -> web.RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, read_timeout=self.read_timeout, **self._kwargs)


class JsonErrorAppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections use ``JsonErrorRequestHandler``, read request lines up
    to ``MAX_REQUEST_LINE`` and close after ``read_timeout`` without a complete request head."""

    def __init__(self, app: web.Application, *, read_timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(app, max_line_size=MAX_REQUEST_LINE, keepalive_timeout=KEEPALIVE_TIMEOUT_S, **kwargs)
        self.read_timeout = read_timeout

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _Server(server.request_handler, request_factory=server.request_factory,
                       handler_cancellation=server.handler_cancellation, loop=server._loop,
                       read_timeout=self.read_timeout, **server._kwargs)
