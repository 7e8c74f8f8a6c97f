"""Which series exist in a time range: the question /series, /labels and /label/.../values ask.

Answered without decoding samples: the label index picks the series, the in-memory head settles
most of them, and only the part of the range older than a series' head is looked up on disk, at
chunk granularity (a chunk overlapping the range counts, as a block does in Prometheus).
Runs in a worker thread: the head may be trimmed meanwhile, which can only send a series to the
disk check (where the trimmed samples are), never drop one.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable

from engine.tsdb.matchers import Matcher
from engine.tsdb.store import Store
from engine.tsdb.types import Labels


def series_in_range(store: Store, selectors: Iterable[Iterable[Matcher]] | None,
                    window: tuple[int, int] | None) -> list[Labels]:
    """Label sets of the series matching any selector (every series for None) with data in the
    closed ms window (no time condition for None), sorted as Prometheus sorts them."""
    refs: set[int] = set()
    for matchers in (((),) if selectors is None else selectors):
        refs |= store.select_refs(matchers)
    series = []
    for ref in refs:
        try:
            series.append(store.series(ref))
        except KeyError:  # dropped by a retention purge since the index answered
            continue
    if window is None:
        return sorted(s.labels for s in series)
    lo, hi = window
    found: list[Labels] = []
    on_disk: dict[int, Labels] = {}
    disk_upto = lo
    for s in series:
        in_head, first = _head(s.ts, lo, hi)
        if in_head:
            found.append(s.labels)
            continue
        persisted = store.persisted_upto  # read after the head: a trim raises it before cutting
        first = persisted if first is None else first
        if lo < first and lo < persisted:
            on_disk[s.ref] = s.labels
            disk_upto = max(disk_upto, min(hi, first - 1))
    if on_disk:
        hits = {ref for ref, _ in store.backend.read_chunks(list(on_disk), lo - 1, disk_upto)}
        found.extend(on_disk[ref] for ref in hits)
    return sorted(found)


def _head(ts: array, lo: int, hi: int) -> tuple[bool, int | None]:
    """Whether the head has a sample in [lo, hi], and its first timestamp (None when empty)."""
    while True:
        try:
            i = bisect_left(ts, lo)
            if i < len(ts) and ts[i] <= hi:
                return True, None
            return False, (ts[0] if ts else None)
        except IndexError:  # trimmed between two reads: look again
            continue


def label_names(series: Iterable[Labels]) -> list[str]:
    return sorted({name for labels in series for name, _ in labels})


def label_values(series: Iterable[Labels], name: str) -> list[str]:
    return sorted({value for labels in series for n, value in labels if n == name})
