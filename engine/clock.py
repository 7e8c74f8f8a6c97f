"""Injected clocks: engine code asks a Clock for "now" so tests can run on virtual time."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time as Unix seconds."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock that only moves when told to, for deterministic tests and fixtures."""

    def __init__(self, start: float) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def set(self, t: float) -> None:
        self._t = float(t)

    def advance(self, seconds: float) -> None:
        self._t += seconds


def to_ms(seconds: float) -> int:
    """Unix seconds to the store's integer milliseconds."""
    return int(round(seconds * 1000))
