"""Short, fixed-width renderings of numbers for panels and tables (an ops console is read at a glance)."""

from __future__ import annotations

DASH = "–"
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: float | None) -> str:
    """Bytes in binary units with three significant digits: ``512 B``, ``1.50 GiB``, ``120 GiB``."""
    if n is None:
        return DASH
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1000 or unit == _UNITS[-1]:
            break
        value /= 1024
    if unit == "B":
        return f"{value:.0f} B"
    return f"{value:.2f} {unit}" if abs(value) < 10 else f"{value:.1f} {unit}" if abs(value) < 100 \
        else f"{value:.0f} {unit}"


def rate(n: float | None) -> str:
    """Bytes per second, as ``size`` plus ``/s``."""
    return DASH if n is None else f"{size(n)}/s"


def count_rate(n: float | None) -> str:
    """Events per second (packets, operations), one decimal below 100."""
    if n is None:
        return DASH
    return f"{n:.1f}/s" if n < 100 else f"{n:,.0f}/s"


def percent(p: float | None) -> str:
    return DASH if p is None else f"{p:.1f}%"


def number(x: float | None, digits: int = 2) -> str:
    return DASH if x is None else f"{x:.{digits}f}"


def age(seconds: float | None) -> str:
    """How long ago, coarse enough that it changes at most once a second: ``4s``, ``3m05s``, ``2h10m``."""
    if seconds is None:
        return DASH
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"



def uptime(seconds: float) -> str:
    """How long a host has been up, to the minute (it is redrawn with every update): ``42m``,
    ``5h07m``, ``12d03h``."""
    m = max(0, int(seconds)) // 60
    if m < 60:
        return f"{m}m"
    if m < 1440:
        return f"{m // 60}h{m % 60:02d}m"
    return f"{m // 1440}d{m % 1440 // 60:02d}h"


def seconds(x: float | None) -> str:
    """A latency: ``0.4ms``, ``138ms``, ``1.25s``, ``12.0s``."""
    if x is None:
        return DASH
    if x < 0.01:
        return f"{x * 1000:.1f}ms"
    if x < 1:
        return f"{x * 1000:.0f}ms"
    return f"{x:.2f}s" if x < 10 else f"{x:.1f}s"


def ratio(x: float | None) -> str:
    """A share of a whole (0..1) as a percentage."""
    return DASH if x is None else percent(100 * x)


def amount(x: float | None) -> str:
    """A sum of money: thousands separated, decimals only when small."""
    if x is None:
        return DASH
    return f"{x:,.2f}" if abs(x) < 100 else f"{x:,.0f}"


def count(x: float | None) -> str:
    """How many (bookings, users, answers): a whole number, thousands separated. Counts over a
    period come from ``increase``, which extrapolates to the period's edges, hence not whole."""
    return DASH if x is None else f"{x:,.0f}"
