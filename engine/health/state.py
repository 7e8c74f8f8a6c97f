"""A check's state: up, degraded, down or unknown, changed only after ``retries`` consecutive results."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from engine.health.checkers.base import Result
from engine.timefmt import rfc3339

RANK = {"up": 0, "unknown": 1, "degraded": 2, "down": 3}
"""Worse is higher: the overall status is the worst state."""
LATENCY_POINTS = 60


@dataclass
class CheckState:
    """What the checker knows about one check between runs (in memory; changes go to the history)."""

    own: str = "unknown"
    """The state from the check's own results."""
    since: float | None = None
    last_check: float | None = None
    last_result: Result | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    consecutive_failures: int = 0
    candidate: str | None = None
    candidate_count: int = 0
    shown: str = "unknown"
    """``own`` after dependencies: up or degraded becomes degraded while a dependency is down."""
    shown_since: float | None = None
    reason: str | None = None
    latencies: deque[tuple[str, float | None]] = field(default_factory=lambda: deque(maxlen=LATENCY_POINTS))
    """The latest results as (RFC 3339 time, milliseconds or None when failed), formatted once here so a
    listing of many checks stays cheap."""

    def observe(self, result: Result, now: float, retries: int) -> bool:
        """Record one result; True when ``own`` changed. From unknown a success counts at once; any
        other change needs ``retries`` consecutive results of the new outcome."""
        self.last_check = now
        self.last_result = result
        self.latencies.append((rfc3339(now), round(result.duration * 1000, 3) if result.ok else None))
        if result.ok:
            self.consecutive_failures = 0
        else:
            self.consecutive_failures += 1
            self.last_error, self.last_error_at = result.error, now
        outcome = result.outcome
        if outcome == self.own:
            self.candidate, self.candidate_count = None, 0
            return False
        if outcome == self.candidate:
            self.candidate_count += 1
        else:
            self.candidate, self.candidate_count = outcome, 1
        if self.candidate_count >= retries or (self.own == "unknown" and outcome != "down"):
            self.own, self.since = outcome, now
            self.candidate, self.candidate_count = None, 0
            return True
        return False


def effective(own: str, down_dependencies: list[str]) -> tuple[str, str | None]:
    """The state shown for a check whose listed dependencies are down, with the reason."""
    if own in ("up", "degraded") and down_dependencies:
        names = ", ".join(down_dependencies[:5])
        one = len(down_dependencies) == 1
        return "degraded", f"dependenc{'y' if one else 'ies'} {names} {'is' if one else 'are'} down"
    return own, None
