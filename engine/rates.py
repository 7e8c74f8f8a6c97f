"""Per-second rates and gauge values on a time grid, from raw samples (for summaries and charts)."""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence

from engine.tsdb.types import is_stale


def _clean(ts: array, vals: array, lo: int, hi: int) -> tuple[list[int], list[float]]:
    out_t, out_v = [], []
    for i in range(lo, hi):
        v = vals[i]
        if v != v and is_stale(v):
            continue
        out_t.append(ts[i])
        out_v.append(v)
    return out_t, out_v


def counter_rate(ts: Sequence[int], vals: Sequence[float]) -> float | None:
    """Average per-second increase of a counter over its samples, counting resets as restarts."""
    if len(ts) < 2 or ts[-1] == ts[0]:
        return None
    increase = 0.0
    prev = vals[0]
    for v in vals[1:]:
        increase += v - prev if v >= prev else v
        prev = v
    return increase / ((ts[-1] - ts[0]) / 1000.0)


def rate_on_grid(ts: array, vals: array, grid: Sequence[int], window_ms: int) -> list[float | None]:
    """Counter rate over (t - window, t] for each grid point t."""
    out: list[float | None] = []
    for t in grid:
        hi = bisect_right(ts, t)
        lo = bisect_right(ts, t - window_ms, 0, hi)
        out.append(counter_rate(*_clean(ts, vals, lo, hi)))
    return out


def gauge_on_grid(ts: array, vals: array, grid: Sequence[int], lookback_ms: int) -> list[float | None]:
    """Latest gauge value in (t - lookback, t] for each grid point t (None if absent or stale)."""
    out: list[float | None] = []
    for t in grid:
        i = bisect_right(ts, t) - 1
        if i < 0 or ts[i] <= t - lookback_ms:
            out.append(None)
            continue
        v = vals[i]
        out.append(None if v != v and is_stale(v) else v)
    return out


def last_rate(ts: array, vals: array, now_ms: int, lookback_ms: int) -> float | None:
    """Rate between the last two samples within lookback (what a live panel shows, like irate)."""
    hi = bisect_right(ts, now_ms)
    lo = max(bisect_right(ts, now_ms - lookback_ms, 0, hi), hi - 2)
    return counter_rate(*_clean(ts, vals, lo, hi))
