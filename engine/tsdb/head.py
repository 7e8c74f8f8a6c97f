"""The in-memory head: recent samples per series in compact arrays."""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right

from engine.tsdb.types import Labels, is_stale, metric_name


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition_prefix(labels: Labels) -> str:
    """``name{a="b",...}`` as written in the text formats, computed once per series."""
    name = ""
    parts = []
    for k, v in labels:
        if k == "__name__":
            name = v
        else:
            parts.append(f'{k}="{_escape_label_value(v)}"')
    return f"{name}{{{','.join(parts)}}}" if parts else name


class MemSeries:
    """One series in the head. Timestamps are int ms, strictly increasing."""

    __slots__ = ("ref", "labels", "name", "ts", "vals", "prefix")

    def __init__(self, ref: int, labels: Labels) -> None:
        self.ref = ref
        self.labels = labels
        self.name = metric_name(labels)
        self.ts = array("q")
        self.vals = array("d")
        self.prefix = exposition_prefix(labels)

    def last(self) -> tuple[int, float] | None:
        if not self.ts:
            return None
        return self.ts[-1], self.vals[-1]

    def first_ts(self) -> int | None:
        return self.ts[0] if self.ts else None

    def range(self, mint: int, maxt: int) -> tuple[array, array]:
        """Samples with mint < t <= maxt (Prometheus's left-open range)."""
        lo = bisect_right(self.ts, mint)
        hi = bisect_right(self.ts, maxt)
        return self.ts[lo:hi], self.vals[lo:hi]

    def at(self, t: int, lookback: int) -> tuple[int, float] | None:
        """Latest sample in (t - lookback, t], or None if absent or stale."""
        i = bisect_right(self.ts, t) - 1
        if i < 0:
            return None
        st = self.ts[i]
        if st <= t - lookback:
            return None
        v = self.vals[i]
        if v != v and is_stale(v):
            return None
        return st, v

    def trim_before(self, t: int) -> None:
        """Drop samples older than t (they are persisted)."""
        i = bisect_left(self.ts, t)
        if i:
            del self.ts[:i]
            del self.vals[:i]
