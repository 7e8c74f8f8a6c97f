"""Prometheus's ``model.Duration`` as promtool 2.42 reads and prints it (``1h30m``, ``2d``, ``0s``).

Test files give times this way and promtool echoes them back in failures, so both directions
must match the Go implementation, not the product's own settings syntax."""

from __future__ import annotations

import re

_UNITS_MS = (("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000),
             ("m", 60_000), ("s", 1000), ("ms", 1))
_PATTERN = re.compile("^" + "".join(rf"(?:(\d+){unit})?" for unit, _ in _UNITS_MS) + "$")
_MAX_MS = (2**63 - 1) // 1_000_000  # a Go time.Duration is int64 nanoseconds


class DurationError(ValueError):
    """Text that is not a Prometheus duration."""


def parse_duration(text: str) -> int:
    """Milliseconds in a Prometheus duration such as ``1h30m``; units in decreasing order, ``0`` allowed."""
    if text == "":
        raise DurationError("empty duration string")
    if text == "0":
        return 0
    match = _PATTERN.match(text)
    if match is None:
        raise DurationError(f"not a valid duration string: {text!r}")
    total = sum(int(count) * mult for count, (_, mult) in zip(match.groups(), _UNITS_MS, strict=True) if count)
    if total > _MAX_MS:
        raise DurationError(f"duration out of range: {text!r}")
    return total


def format_duration(ms: int) -> str:
    """``model.Duration.String()``: years and weeks only when exact, e.g. ``90d`` rather than ``12w6d``."""
    if ms == 0:
        return "0s"
    out = []
    for unit, mult in _UNITS_MS:
        if unit in ("y", "w") and ms % mult:
            continue
        count, ms = divmod(ms, mult)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


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
