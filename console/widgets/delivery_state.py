"""How a notification channel's health and a delivery's status read: the same on the Notifications
screen and in an alert's details."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from console import format as fmt

HEALTH_SYMBOL = {"ok": "●", "retrying": "◐", "failing": "✖"}
"""Each health and status has its own shape, so it reads the same without colour (NO_COLOR)."""
HEALTH_STYLE = {"ok": "green", "retrying": "yellow", "failing": "bold red"}
STATUS_SYMBOL = {"sent": "✔", "pending": "…", "failed": "✖"}
STATUS_STYLE = {"sent": "green", "pending": "yellow", "failed": "bold red"}


def labelled(value: str, symbols: dict[str, str], styles: dict[str, str]) -> Text:
    """``✖ failing`` in its colour."""
    return Text(f"{symbols.get(value, '?')} {value}", style=styles.get(value, ""), no_wrap=True)


def status_label(status: str) -> Text:
    return labelled(status, STATUS_SYMBOL, STATUS_STYLE)


def clock_time(value: object, now: float) -> str:
    """An API time as UTC ``HH:MM:SS`` today, ``MM-DD HH:MM`` on another day; ``?`` for one we cannot
    read (a server of another version, a proxy's page), which must not break the screen showing it."""
    from console.screens.alert_dialogs import parse_time  # console.screens imports this module
    if not value:
        return fmt.DASH
    seconds = parse_time(value)
    if seconds is None:
        return "?"
    try:
        when = datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):  # readable, but past year 9999 in UTC
        return "?"
    return when.strftime("%H:%M:%S" if when.date() == datetime.fromtimestamp(now, UTC).date() else "%m-%d %H:%M")


def one_line(value: Any, limit: int = 300) -> str:
    """Receiver text for a cell or a line: whitespace folded, bounded."""
    return " ".join(str(value or "").split())[:limit]


def deliveries_text(entries: list[dict[str, Any]], now: float) -> Text:
    """Where an alert was sent and when, one line per delivery, oldest first."""
    text = Text("Notifications\n", style="bold")
    if not entries:
        text.append("  not sent anywhere (yet)\n")
    for entry in sorted(entries, key=lambda e: int(e.get("id") or 0)):
        text.append(f"  {clock_time(entry.get('sentAt') or entry.get('lastAttemptAt') or entry.get('createdAt'), now)}"
                    f"  {entry.get('channel')}  ")
        text.append_text(status_label(str(entry.get("status", ""))))
        attempts = entry.get("attempts") or 0
        text.append(f"  {entry.get('alertStatus')}  {attempts} attempt{'' if attempts == 1 else 's'}")
        if entry.get("lastError"):
            text.append(f"  {one_line(entry['lastError'], 120)}", style="red")
        text.append("\n")
    return text
