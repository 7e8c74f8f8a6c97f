"""Request parameters of the Prometheus HTTP API, read and worded the way Prometheus reads them.

Clients (Grafana, promtool, client libraries) send times, durations and selectors in Prometheus's
own formats and show its error texts to users, so both the grammar and the messages follow
Prometheus's ``web/api/v1`` (``parseTime``, ``parseDuration``, ``parseMatchersParam``).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from aiohttp import web
from multidict import MultiDict

from engine.compat.durations import DurationError
from engine.compat.durations import parse_duration as parse_prometheus_duration
from engine.compat.strconv import NumError, parse_float, quote
from server.bodies import reading_body

BAD_DATA = "bad_data"

# Prometheus's default start and end (its MinTime and MaxTime), in ms, and how it formats them.
MIN_TIME_MS = -9_223_309_901_257_974_000
MAX_TIME_MS = 9_223_309_901_257_974_999
_BOUNDARY_TEXTS = {"-292273086-05-16T16:47:06Z": MIN_TIME_MS, "292277025-08-18T07:12:54.999999999Z": MAX_TIME_MS}

_MAX_NS = 2**63 - 1
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))", re.ASCII)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PromApiError(Exception):
    """An error answered in Prometheus's envelope; ``error_type`` decides the HTTP status."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def invalid_parameter(name: str, problem: str) -> PromApiError:
    return PromApiError(BAD_DATA, f"invalid parameter {quote(name)}: {problem}")


async def form(request: web.Request) -> MultiDict[str]:
    """Form-body values first, then the URL's: Go's ``Request.Form``, where the body wins."""
    values: MultiDict[str] = MultiDict()
    if request.method == "POST":
        try:
            async with reading_body(request):
                body = await request.post()
        except ValueError as exc:
            raise PromApiError(BAD_DATA, f"error parsing form values: {exc}") from None
        values.extend((k, v) for k, v in body.items() if isinstance(v, str))
    values.extend(request.query)
    return values


def parse_time(text: str) -> int:
    """Unix seconds (ms precision, rounded) or RFC 3339 to ms; ValueError in Prometheus's words.

    Unlike Prometheus, NaN, infinities and times past its MinTime/MaxTime are refused: Prometheus
    turns them into an arbitrary overflowed time."""
    seconds = _go_float(text)
    if seconds is not None:
        if math.isfinite(seconds):
            whole = math.trunc(seconds)
            ms = whole * 1000 + int(_round_half_away((seconds - whole) * 1000))
            if MIN_TIME_MS <= ms <= MAX_TIME_MS:
                return ms
    else:
        ms = _rfc3339_ms(text)
        if ms is not None:
            return ms
    if text in _BOUNDARY_TEXTS:
        return _BOUNDARY_TEXTS[text]
    raise ValueError(f"cannot parse {quote(text)} to a valid timestamp")


def _round_half_away(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


def _rfc3339_ms(text: str) -> int | None:
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, sign, off_h, off_m = m.group(7, 8, 9, 10)
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    offset = timedelta()
    if sign:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
    seconds = (local - offset - _EPOCH) // timedelta(seconds=1)
    return seconds * 1000 + int((fraction or "0").ljust(9, "0")[:3])


def parse_duration(text: str) -> int:
    """Seconds as a float or a Prometheus duration ("1h30m") to Go nanoseconds; ValueError."""
    seconds = _go_float(text)
    if seconds is not None:
        if seconds != seconds:
            return -(2**63)  # what Go's conversion of NaN gives on amd64: a negative duration
        ns = seconds * 1e9
        if not -(2**63) <= ns <= _MAX_NS:
            raise ValueError(f"cannot parse {quote(text)} to a valid duration. It overflows int64")
        return int(ns)
    try:
        return parse_prometheus_duration(text) * 1_000_000
    except DurationError:
        raise ValueError(f"cannot parse {quote(text)} to a valid duration") from None


def _go_float(text: str) -> float | None:
    """``strconv.ParseFloat``'s value where its error is nil, as Prometheus's parsers test it."""
    try:
        return parse_float(text)
    except NumError:
        return None


def time_param(values: MultiDict[str], name: str, default: int) -> int:
    """An optional time parameter, worded like Prometheus's ``parseTimeParam``."""
    text = values.get(name, "")
    if text == "":
        return default
    try:
        return parse_time(text)
    except ValueError as exc:
        raise invalid_parameter(name, f"Invalid time value for '{name}': {exc}") from None


def required_time(values: MultiDict[str], name: str) -> int:
    try:
        return parse_time(values.get(name, ""))
    except ValueError as exc:
        raise invalid_parameter(name, str(exc)) from None


def duration_param(values: MultiDict[str], name: str) -> int:
    try:
        return parse_duration(values.get(name, ""))
    except ValueError as exc:
        raise invalid_parameter(name, str(exc)) from None


def timeout_param(values: MultiDict[str]) -> float | None:
    """The optional per-query ``timeout`` in seconds (may be zero or negative: already expired)."""
    if values.get("timeout", "") == "":
        return None
    return duration_param(values, "timeout") / 1e9


def limit_param(values: MultiDict[str]) -> int | None:
    """``limit`` as Go's ``strconv.Atoi`` reads it; None (no limit) when absent or negative."""
    text = values.get("limit", "")
    if text == "":
        return None
    if not _INTEGER.fullmatch(text) or not -(2**63) <= int(text) <= _MAX_NS:
        raise PromApiError(BAD_DATA, "limit must be a number")
    return int(text) if int(text) >= 0 else None


def label_name(name: str) -> str:
    if not _LABEL_NAME.fullmatch(name):
        raise PromApiError(BAD_DATA, f"invalid label name: {quote(name)}")
    return name


