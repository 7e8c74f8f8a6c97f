"""The latest live state the console shows, as received from the server's `system` topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_INTERVAL_S = 5.0


@dataclass
class LiveData:
    system: dict[str, Any] | None = None
    ts: float | None = None
    """Server time of the last update."""
    received_at: float | None = None
    """Console clock time the last update arrived: the "age" in the top bar counts from here."""
    interval: float = DEFAULT_INTERVAL_S
    """Seconds between the server's updates, as observed; "stale" means several of them missed."""

    _last_update_ts: float | None = None

    def update(self, kind: str, ts: float, system: dict[str, Any], now: float) -> None:
        """Take a message; only update-to-update gaps count as the interval (a snapshot comes any time)."""
        if kind == "update":
            if self._last_update_ts is not None and ts > self._last_update_ts:
                self.interval = min(3600.0, ts - self._last_update_ts)
            self._last_update_ts = ts
        self.system, self.ts, self.received_at = system, ts, now

    def age(self, now: float) -> float | None:
        return None if self.received_at is None else max(0.0, now - self.received_at)

    def is_late(self, now: float) -> bool:
        """No update for three intervals: the server is up but its collection is stuck or slow."""
        age = self.age(now)
        return age is not None and age > 3 * self.interval + 1
