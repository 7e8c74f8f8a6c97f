"""Query-parameter parsing that fails with a 400 naming the parameter."""

from __future__ import annotations

from aiohttp import web

from engine.settings import parse_duration
from server.errors import bad_parameter


def duration_param(request: web.Request, name: str, default: str, *, maximum: float | None = None) -> float:
    """A Prometheus-style duration ("15s", "1h", or plain seconds) from the query string."""
    raw = request.query.get(name, default)
    try:
        seconds = parse_duration(raw)
    except ValueError:
        raise bad_parameter(name, raw, f"{raw!r} is not a duration such as 15s, 5m or 1h") from None
    if seconds <= 0:
        raise bad_parameter(name, raw, "must be greater than zero")
    if maximum is not None and seconds > maximum:
        raise bad_parameter(name, raw, f"must be at most {maximum:g} seconds")
    return seconds
