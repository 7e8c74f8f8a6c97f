"""The in-memory head: recent samples per series in compact arrays."""

from __future__ import annotations

from array import array
from bisect import bisect_left

from engine.tsdb.types import Labels, metric_name


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

    def trim_before(self, t: int) -> None:
        """Drop samples older than t (they are persisted)."""
        i = bisect_left(self.ts, t)
        if i:
            del self.ts[:i]
            del self.vals[:i]
