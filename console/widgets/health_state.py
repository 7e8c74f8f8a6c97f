"""How a health check's state, latency and uptime read in a cell: the same in the table, the details,
the dependency view and the "check now" answer."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text

from console import format as fmt

STATES = ("down", "degraded", "unknown", "up")
"""Worst first: the table's order."""
SYMBOL = {"up": "●", "degraded": "◐", "down": "✖", "unknown": "?"}
"""Each state has its own shape, so it reads the same without colour (NO_COLOR)."""
STATE_STYLE = {"up": "green", "degraded": "yellow", "down": "bold red", "unknown": "dim"}


def state_of(service: dict[str, Any] | None) -> str:
    state = str((service or {}).get("state") or "unknown")
    return state if state in SYMBOL else "unknown"


def state_label(state: str) -> Text:
    """``✖ down`` in the state's colour."""
    return Text(f"{SYMBOL.get(state, '?')} {state}", style=STATE_STYLE.get(state, ""))


def latency_text(ms: Any) -> str:
    """Milliseconds as the API gives them: ``0.4ms``, ``12ms``, ``1.5s``."""
    if not isinstance(ms, (int, float)) or not math.isfinite(ms):
        return fmt.DASH
    return f"{ms:.1f}ms" if ms < 10 else f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.1f}s"


def uptime_text(percent: Any) -> str:
    """Two decimals where they matter (99.95% is not 100%), one below 99%."""
    if not isinstance(percent, (int, float)) or not math.isfinite(percent):
        return fmt.DASH
    return "100%" if percent >= 100 else f"{percent:.2f}%" if percent >= 99 else f"{percent:.1f}%"
