"""From stored samples to per-step values: lookback for instant selectors, windows for range ones.

Every step of a query is handled at once. For each distinct timestamp sequence we walk the steps
with two moving indexes to find, per step, the samples inside the step's window; series scraped
together share their timestamps, so that walk usually happens once for thousands of series.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable

from engine.promql.errors import TOO_MANY_SAMPLES, execution
from engine.promql.rows import Row
from engine.tsdb.store import SeriesData
from engine.tsdb.types import STALE_NAN, Labels

STALE_BYTES = struct.pack("=d", STALE_NAN)


def stale_positions(vals: array) -> list[int]:
    """Indexes of stale markers, found by a byte search so the common no-marker case is cheap."""
    raw = vals.tobytes()
    found = []
    i = raw.find(STALE_BYTES)
    while i != -1:
        if i % 8 == 0:
            found.append(i // 8)
            i = raw.find(STALE_BYTES, i + 8)
        else:
            i = raw.find(STALE_BYTES, i + 1)
    return found


class Windows:
    """Per step, the sample index range ``[lo, hi)`` that falls in the step's window."""

    __slots__ = ("lo", "hi", "memo")

    def __init__(self, lo: list[int], hi: list[int]) -> None:
        self.lo = lo
        self.hi = hi
        self.memo: dict[str, object] = {}


def compute_windows(ts: list[int], starts: list[int], ends: list[int]) -> Windows:
    """Windows ``(start, end]`` for ascending starts and ends, with two forward-only indexes."""
    size = len(ts)
    lo: list[int] = []
    hi: list[int] = []
    i = j = 0
    for start, end in zip(starts, ends, strict=True):
        while i < size and ts[i] <= start:
            i += 1
        if j < i:
            j = i
        while j < size and ts[j] <= end:
            j += 1
        lo.append(i)
        hi.append(j)
    return Windows(lo, hi)


class WindowCache:
    """Windows of one selector evaluation, shared by every series with the same timestamps."""

    __slots__ = ("starts", "ends", "_cache")

    def __init__(self, starts: list[int], ends: list[int]) -> None:
        self.starts = starts
        self.ends = ends
        self._cache: dict[bytes, Windows] = {}

    def get(self, ts: array) -> Windows:
        key = ts.tobytes()
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = compute_windows(ts.tolist(), self.starts, self.ends)
        return found


def instant_rows(data: Iterable[SeriesData], ends: list[int], lookback: int, timestamps: bool = False,
                 budget: int | None = None) -> list[Row]:
    """Each step takes the latest sample in ``(end - lookback, end]`` (``end``: the step's time less
    the offset, or the ``@`` time), unless that sample is a stale marker. With ``timestamps`` the
    value is the sample's time in seconds. Past ``budget`` samples it stops with the too-many-samples
    error, as Prometheus does while filling a matrix, not after building all of it."""
    rows: list[Row] = []
    if len(ends) == 1:  # the data was selected for exactly this window: take the last sample
        for d in data:
            v = d.vals[-1]
            if v != v and stale_positions(d.vals[-1:]):
                continue
            rows.append((d.labels, [d.ts[-1] / 1000 if timestamps else v]))
        return rows
    cache = WindowCache([e - lookback for e in ends], ends)
    size = len(ends)
    for d in data:
        w = cache.get(d.ts)
        source = [t / 1000 for t in d.ts] if timestamps else d.vals.tolist()
        stale = stale_positions(d.vals)
        if stale:
            for k in stale:
                source[k] = None
        out = [source[h - 1] if h > lo else None for lo, h in zip(w.lo, w.hi, strict=True)]
        missing = out.count(None)
        if missing != size:
            rows.append((d.labels, out))
            if budget is not None:
                budget -= size - missing
                if budget < 0:
                    raise execution(TOO_MANY_SAMPLES)
    return rows


def drop_stale(ts: array, vals: array) -> tuple[array, array]:
    """Samples for range windows: stale markers never belong to a range."""
    stale = stale_positions(vals)
    if not stale:
        return ts, vals
    dropped = set(stale)
    keep = [k for k in range(len(ts)) if k not in dropped]
    return array("q", [ts[k] for k in keep]), array("d", [vals[k] for k in keep])


def range_samples(data: Iterable[SeriesData]) -> list[tuple[Labels, array, array]]:
    """Each series' samples without stale markers; series left empty are omitted."""
    out = []
    for d in data:
        ts, vals = drop_stale(d.ts, d.vals)
        if ts:
            out.append((d.labels, ts, vals))
    return out
