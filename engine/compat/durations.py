"""Prometheus's ``model.Duration`` (``1h30m``, ``2d``, ``0s``) as promtool 2.42 reads and prints it,
and Go's ``time.Duration.String``.

Rule files, rule unit tests, templates and the HTTP APIs all take durations in this syntax; one
parser keeps them agreeing with each other and with Prometheus, overflow limit included: a
duration is int64 nanoseconds, so the longest one is ``106751d23h47m16s854ms`` (just over 292y)."""

from __future__ import annotations

import math
import re

from engine.compat.strconv import quote

_UNITS_MS = (("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000),
             ("m", 60_000), ("s", 1000), ("ms", 1))
_PATTERN = re.compile("".join(rf"(?:([0-9]+){unit})?" for unit, _ in _UNITS_MS))
MAX_MS = (2**63 - 1) // 1_000_000
"""The longest duration Prometheus can hold, in milliseconds (a Go ``time.Duration`` is int64 ns)."""


class DurationError(ValueError):
    """Text that is not a Prometheus duration, or one too long for it; the message is Prometheus's."""


class DurationRangeError(DurationError):
    """A well-formed duration longer than Prometheus can hold (``293y``)."""

    def __init__(self, message: str = "duration out of range") -> None:
        super().__init__(message)


def parse_duration(text: str) -> int:
    """Milliseconds in a Prometheus duration: units in decreasing order, a bare ``0`` allowed,
    no fractions, signs or spaces (``model.ParseDuration``)."""
    if text == "0":
        return 0
    if text == "":
        raise DurationError("empty duration string")
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise DurationError(f"not a valid duration string: {quote(text)}")
    total = 0
    for count, (_, mult) in zip(match.groups(), _UNITS_MS, strict=True):
        if count:
            digits = count.lstrip("0")  # Go reads any number of leading zeros; Python's int() limits digits
            total += int(digits or "0") * mult if len(digits) <= 20 else MAX_MS + 1
            if total > MAX_MS:
                raise DurationRangeError
    return total


def format_duration(ms: int) -> str:
    """``model.Duration.String()``: years and weeks only when exact, e.g. ``90d`` rather than ``12w6d``."""
    if ms == 0:
        return "0s"
    out = []
    for unit, mult in _UNITS_MS:
        if unit in ("y", "w") and ms % mult:
            continue
        count = _go_div(ms, mult)
        if count > 0:
            out.append(f"{count}{unit}")
            ms -= count * mult
    return "".join(out)


def format_seconds(seconds: float) -> str:
    """Seconds as :func:`format_duration` prints them, to the millisecond a rule file holds."""
    return format_duration(round(seconds * 1000))


def _go_div(a: int, b: int) -> int:
    """Go's integer division, which truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def seconds_to_ms(seconds: float) -> int:
    """Seconds as the whole milliseconds a rule file holds; DurationError past Prometheus's range."""
    product = seconds * 1000  # inf past float range (1e308 s): round() would raise OverflowError
    if not math.isfinite(product):
        raise DurationRangeError
    ms = round(product)
    if abs(ms) > MAX_MS:
        raise DurationRangeError
    return ms


def format_go_duration(ms: int) -> str:
    """Go's ``time.Duration.String()`` for whole milliseconds: ``0s``, ``1m0s``, ``1h0m30s``, ``1.5s``, ``500ms``.

    promtool prints rule evaluation errors with it (``time: 1m0s``), unlike test eval times."""
    if ms == 0:
        return "0s"
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = f"{seconds}.{millis:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    return f"{sign}{minutes}m{text}" if minutes else sign + text
