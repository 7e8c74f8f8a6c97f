"""Reading a JSON request body, bounded in size and nesting depth, for every handler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from server.errors import ApiError

MAX_BODY_BYTES = 1 << 20
"""Also the application's ``client_max_size``: no request body is read past it."""
READ_TIMEOUT = web.AppKey("read_timeout", float)
"""READ_TIMEOUT: how long a client may take to send a body (server/app.py sets it)."""
MAX_JSON_DEPTH = 32
"""Far above any body our API takes (a rule is 3 levels deep), far below json's recursion limit."""

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN_CLOSE = bytes.maketrans(b"[]{}", b"()()")


def too_large(limit: int = MAX_BODY_BYTES) -> ApiError:
    return ApiError(413, "payload_too_large", f"the request body is larger than {limit} bytes", {"limit": limit})


def nesting_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays and objects nest deeper than limit, found before json.loads recurses into them,
    in passes over bytes at C speed: escapes and strings out, brackets only, then the innermost pairs
    removed once per level (at most limit passes; a 1 MiB body costs about what parsing it does)."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(_OPEN_CLOSE, _NOT_BRACKETS)
    if brackets.count(b"(") <= limit:
        return False
    if b"(" * (limit + 1) in brackets:
        return True
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"()", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    return b"()" in brackets or brackets.count(b"(") > limit


class BodyError(ApiError):
    """A JSON text that cannot be accepted: the message says why, fit for an API error or a WS error."""


def _int_or_float(digits: str) -> int | float:
    """Integers past int64 become floats (inf when past float range), so validators that compare or
    convert numbers never meet an integer too large for a float (OverflowError)."""
    return int(digits) if len(digits.lstrip("-")) <= 18 else float(digits)


def parse_json(raw: bytes) -> Any:
    """JSON from UTF-8 bytes, refused before parsing when it nests deeper than MAX_JSON_DEPTH:
    one parser for request bodies and WebSocket messages. Raises ``BodyError`` (an ApiError 400)."""
    if nesting_exceeds(raw):
        raise BodyError(400, "invalid_json", f"JSON nests arrays and objects deeper than {MAX_JSON_DEPTH} levels",
                        {"limit": MAX_JSON_DEPTH})
    try:
        return json.loads(raw.decode("utf-8"), parse_int=_int_or_float)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BodyError(400, "invalid_json", f"not valid JSON: {exc}") from None


@asynccontextmanager
async def reading_body(request: web.Request) -> AsyncIterator[None]:
    """Around every read of a request body: 408 when the body does not arrive within READ_TIMEOUT (a
    client trickling it cannot hold a connection and a handler for ever); 400 when aiohttp cannot
    decode it (a ``Content-Encoding: gzip`` or ``deflate`` body that is not: its RequestPayloadError)."""
    seconds = request.app.get(READ_TIMEOUT)
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise ApiError(408, "request_timeout", f"the request body did not arrive within {seconds:g} s",
                       {"readTimeoutSeconds": seconds}) from None
    except RequestPayloadError as exc:
        raise undecodable(request, exc) from None


def undecodable(request: web.Request, exc: RequestPayloadError) -> ApiError:
    """The 400 for a body aiohttp's parser could not decode, in the words of the parser's error."""
    reason = getattr(exc.__cause__, "message", None) or str(exc)
    first_line = (reason.strip().splitlines() or [""])[0][:200]
    return ApiError(400, "bad_request", f"the request body could not be read: {first_line}",
                    {"contentEncoding": request.headers.get("Content-Encoding")})


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, at most ``limit`` bytes (413 past it), within READ_TIMEOUT (408). A route may
    allow more than the application's ``client_max_size`` (its ``RoutePolicy.max_body_bytes``), so
    the stream is read here."""
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    async with reading_body(request):
        return await _read_body(request, limit)


async def _read_body(request: web.Request, limit: int) -> bytes:
    if limit <= MAX_BODY_BYTES:
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise too_large(limit) from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


PARSED_BODY = web.RequestKey("parsed_body", dict)
"""``request[PARSED_BODY]``: the JSON body once read, so the validation middleware and the handler
parse it once between them."""


async def json_body(request: web.Request, required: bool = True, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object: 400 when absent (if required), malformed or too deep; 413 when too large."""
    parsed = request.get(PARSED_BODY)
    if parsed is not None:
        return parsed
    if not request.can_read_body:
        if required:
            raise ApiError(400, "invalid_body", "a JSON object body is required")
        return {}
    parsed = request[PARSED_BODY] = json_object(await read_body(request, limit), request.charset)
    return parsed


def check_charset(charset: str | None) -> None:
    """415 unless a JSON body's declared charset is UTF-8 (or none)."""
    charset = (charset or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", f"JSON bodies are UTF-8, not {charset}",
                       {"charset": charset})


def json_object(raw: bytes, charset: str | None) -> dict[str, Any]:
    """A body already read as a JSON object (see ``json_body``)."""
    check_charset(charset)
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "body must be a JSON object")
    return body
