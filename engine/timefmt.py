"""Time formats of the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(unix_seconds: float) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-11-29T05:00:00.000Z``."""
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
