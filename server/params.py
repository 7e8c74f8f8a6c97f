"""Query-parameter parsing that fails with a 400 naming the parameter."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from engine.compat.durations import format_seconds
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
        raise bad_parameter(name, raw, f"must be at most {format_seconds(maximum)} ({maximum:g} seconds)")
    return seconds


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (ASCII digits only: ``str.isdigit`` also takes "²")."""
    raw = request.query.get(name, str(default))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(high))) or not low <= int(raw) <= high:
        raise bad_parameter(name, raw, f"expected an integer from {low} to {high}")
    return int(raw)


def choice_param(request: web.Request, name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = request.query.get(name, default)
    if raw not in allowed:
        raise bad_parameter(name, raw, f"expected one of {', '.join(allowed)}")
    return raw


def since_param(raw: str | None, now: float) -> float | None:
    """A ``since`` query parameter: a duration back from now (``1h``) or an RFC 3339 time; None if absent."""
    if raw is None:
        return None
    try:
        return now - parse_duration(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise bad_parameter("since", raw, "expected an RFC 3339 time or a duration such as 1h") from None
