"""Time formats of the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(unix_seconds: float) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-11-29T05:00:00.000Z``."""
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


# RFC 3339 and Alertmanager's JSON times have four-digit years, and so has Python's datetime.
EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp()


def in_rfc3339_range(unix_seconds: float) -> bool:
    """Whether :func:`rfc3339` can write this time (years 0001 to 9999); False for NaN and infinities."""
    return EARLIEST <= unix_seconds <= LATEST
