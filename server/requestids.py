"""One id per request, sent back in ``X-Request-Id`` and written in every log line about the request,
so that a user's error report and the server's log meet."""

from __future__ import annotations

import os

from aiohttp import web

HEADER = "X-Request-Id"
_KEY = web.RequestKey("request_id", str)


def new_request_id() -> str:
    return os.urandom(8).hex()


def request_id(request: web.BaseRequest) -> str:
    """This request's id, made on first use."""
    rid = request.get(_KEY)
    if rid is None:
        rid = request[_KEY] = new_request_id()
    return rid


async def send_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every routed response carries the id, WebSocket handshakes included."""
    response.headers[HEADER] = request_id(request)
