"""The time-series store: one continuous history over the in-memory head and persisted chunks."""

from __future__ import annotations

import logging
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import compress, islice
from operator import le
from typing import TYPE_CHECKING, NamedTuple

from engine.lazyimport import LazyModule
from engine.tsdb.backend import Backend, EncodedChunk, FlushBatch, WalBatch
from engine.tsdb.chunks import decode_chunk, decode_chunks, encode_chunk
from engine.tsdb.head import MemSeries
from engine.tsdb.index import LabelIndex
from engine.tsdb.matchers import Matcher
from engine.tsdb.types import STALE_NAN, Family, Labels, Metadata, is_stale, make_labels

if TYPE_CHECKING:
    from engine.promql.deadline import Deadline

np = LazyModule("numpy")

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
DECODE_BATCH = 1024
"""Chunks decoded together when a query reads from disk: enough to amortise numpy's per-call cost,
few enough that the batch's intermediate arrays stay a few MB."""
SMALL_DECODE = 8
"""Fewer chunks than this are decoded one by one: it costs about what the numpy batch's setup does,
and a server whose queries read only a few chunks (rules just after a restart) never loads numpy."""
DROP_EVERY_MS = MINUTE_MS
"""While writes fail, unwritten samples past the head retention are given up at most this often."""


class SeriesData(NamedTuple):
    """Samples of one series over a queried range (a tuple: queries build thousands of these)."""

    ref: int
    labels: Labels
    ts: array
    vals: array


class Store:
    """Owns every series. Appends and flush preparation run on the owning (event-loop) thread;
    ``write`` runs on a writer thread; queries may run on any thread."""

    def __init__(
        self,
        backend: Backend,
        *,
        head_retention_ms: int = 2 * 3600_000,
        lookback_ms: int = 5 * MINUTE_MS,
        window_ms: int = 30 * MINUTE_MS,
        close_grace_ms: int = MINUTE_MS,
        ttl_ms: int | None = None,
        purge_every_ms: int = 60 * MINUTE_MS,
    ) -> None:
        self.backend = backend
        self.head_retention_ms = head_retention_ms
        self.lookback_ms = lookback_ms
        self.window_ms = window_ms
        self.close_grace_ms = close_grace_ms
        self.ttl_ms = ttl_ms
        self.purge_every_ms = purge_every_ms
        self.index = LabelIndex()
        self.persisted_upto = 0
        self._series: dict[int, MemSeries] = {}
        self._by_labels: dict[Labels, int] = {}
        self._by_name: dict[str, list[MemSeries]] = {}
        self._metadata: dict[str, Metadata] = {}
        self._next_ref = 1
        self._pending = WalBatch()
        self._new_series: list[tuple[int, Labels]] = []
        self._new_metadata: dict[str, Metadata] = {}
        self._sources: dict[str, set[int]] = {}
        self._trim_lock = threading.Lock()
        self._index_lock = threading.Lock()  # series are added on the loop while queries run in threads
        self._last_purge = 0
        self._checked, self._in_order = 0, True  # how much of the unwritten backlog is known in time order
        self._last_drop: int | None = None
        self.feed = False
        """Keep appended samples for ``take_appended`` (remote write) across flushes."""
        self._taken = 0  # how much of ``_pending`` take_appended has handed out
        self._feed_backlog = WalBatch()  # samples not handed out yet that left ``_pending`` in a flush
        self.rejected_samples = 0
        self.dropped_samples = 0
        """Samples given up because writes failed for longer than the head retention (a full disk)."""

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Load series and metadata, then replay samples not yet in chunks into the head."""
        state = self.backend.open()
        self.persisted_upto = state.persisted_upto
        self._metadata = dict(state.metadata)
        for ref, labels in state.series:
            self._add_series(ref, labels)
        series = self._series
        floor = self.persisted_upto
        for batch in self.backend.replay_wal():
            for ref, t, v in zip(batch.refs, batch.ts, batch.vals, strict=True):
                s = series.get(ref)
                if s is None or t < floor or (s.ts and t <= s.ts[-1]):
                    continue
                s.ts.append(t)
                s.vals.append(v)

    def close(self, now_ms: int) -> None:
        """Persist what is pending and close the backend."""
        batch = self.prepare_flush(now_ms, close_windows=False)
        self.write(batch)
        self.complete_flush(batch, now_ms, ok=True)
        self.backend.close()

    # -- series and metadata -----------------------------------------------------------------

    def _add_series(self, ref: int, labels: Labels) -> MemSeries:
        s = MemSeries(ref, labels)
        self._series[ref] = s
        self._by_labels[labels] = ref
        self._by_name.setdefault(s.name, []).append(s)
        self.index.add(ref, labels)
        if ref >= self._next_ref:
            self._next_ref = ref + 1
        return s

    def ref(self, labels: Labels) -> int:
        """The ref of a series, creating it on first sight."""
        ref = self._by_labels.get(labels)
        if ref is None:
            ref = self._next_ref
            with self._index_lock:
                self._add_series(ref, labels)
            self._new_series.append((ref, labels))
        return ref

    def series(self, ref: int) -> MemSeries:
        return self._series[ref]

    def known_ref(self, labels: Labels) -> int | None:
        """The ref of an existing series, None for a series not seen yet (limits count new ones)."""
        return self._by_labels.get(labels)

    def name_count(self, name: str) -> int:
        """How many series carry this metric name (the per-metric series limit)."""
        return len(self._by_name.get(name, ()))

    def __len__(self) -> int:
        return len(self._series)

    def set_metadata(self, name: str, metadata: Metadata) -> None:
        if self._metadata.get(name) != metadata:
            self._metadata[name] = metadata
            self._new_metadata[name] = metadata

    def metadata(self, name: str) -> Metadata | None:
        return self._metadata.get(name)

    def all_metadata(self) -> dict[str, Metadata]:
        return dict(self._metadata)

    # -- appending ---------------------------------------------------------------------------

    def append(self, ref: int, t: int, v: float) -> bool:
        """Append one sample; False (and counted) when out of order or older than persisted data."""
        s = self._series[ref]
        ts = s.ts
        if (ts and t <= ts[-1]) or t < self.persisted_upto:
            self.rejected_samples += 1
            return False
        ts.append(t)
        s.vals.append(v)
        p = self._pending
        p.refs.append(ref)
        p.ts.append(t)
        p.vals.append(v)
        return True

    def ingest(self, source: str, families: Iterable[Family], t: int) -> int:
        """Append one collection cycle from a source; series it stopped producing get a stale marker."""
        seen: set[int] = set()
        accepted = 0
        for fam in families:
            self.set_metadata(fam.name, fam.metadata)
            for name, labels, value in fam.samples:
                ref = self.ref(make_labels(name, labels))
                seen.add(ref)
                accepted += self.append(ref, t, value)
        for ref in self._sources.get(source, set()) - seen:
            self.append(ref, t, STALE_NAN)
        self._sources[source] = seen
        return accepted

    def ingest_refs(self, source: str, refs: list[int], vals: list[float], t: int) -> int:
        """``ingest`` for a caller that already holds the series refs (a scrape target's cache): one
        cycle of appends at t, then stale markers for the source's series missing from it. Samples
        not newer than a series' last are counted as rejected. Returns the samples appended."""
        series = self._series
        rejected: list[int] = []
        if t >= self.persisted_upto:
            for i, ref in enumerate(refs):  # the hot loop of scraping: one append per series, nothing else
                s = series[ref]
                ts = s.ts
                if ts and t <= ts[-1]:
                    rejected.append(i)
                    continue
                ts.append(t)
                s.vals.append(vals[i])
        else:
            rejected = list(range(len(refs)))
        kept_refs, kept_vals = array("q", refs), array("d", vals)
        if rejected:
            gone = set(rejected)
            kept_refs = array("q", (r for i, r in enumerate(refs) if i not in gone))
            kept_vals = array("d", (v for i, v in enumerate(vals) if i not in gone))
        p = self._pending
        p.refs.extend(kept_refs)
        p.ts.extend(array("q", [t]) * len(kept_refs))
        p.vals.extend(kept_vals)
        self.rejected_samples += len(rejected)
        seen = set(refs)
        for ref in self._sources.get(source, set()) - seen:
            self.append(ref, t, STALE_NAN)
        self._sources[source] = seen
        return len(kept_refs)

    # -- reading -----------------------------------------------------------------------------

    def select_refs(self, matchers: Iterable[Matcher]) -> set[int]:
        with self._index_lock:
            return self.index.select(matchers)

    def samples(self, ref: int, mint: int, maxt: int) -> tuple[array, array]:
        """All samples (stale markers included) with mint < t <= maxt, from disk and head."""
        return next(iter(self._read([ref], mint, maxt).values()))

    def select(self, matchers: Iterable[Matcher], mint: int, maxt: int) -> list[SeriesData]:
        """Series matching every matcher with their samples in (mint, maxt]; empty series omitted."""
        refs = self.select_refs(matchers)
        out = []
        for ref, (ts, vals) in self._read(sorted(refs), mint, maxt).items():
            if ts:
                out.append(SeriesData(ref, self._series[ref].labels, ts, vals))
        return out

    def _read(self, refs: list[int], mint: int, maxt: int) -> dict[int, tuple[array, array]]:
        result: dict[int, tuple[array, array]] = {}
        disk_upto: dict[int, int] = {}
        persisted = self.persisted_upto
        series = self._series
        with self._trim_lock:
            for ref in refs:  # hot loop of every query
                s = series[ref]
                ts = s.ts
                if mint < persisted:
                    first = ts[0] if ts else persisted
                    if mint < first:
                        disk_upto[ref] = min(maxt, first - 1)
                lo = bisect_right(ts, mint)
                hi = bisect_right(ts, maxt)
                result[ref] = (ts[lo:hi], s.vals[lo:hi])
        if disk_upto:
            merged: dict[int, tuple[array, array]] = {}
            rows: list[tuple[int, bytes]] = []
            for row in self.backend.read_chunks(disk_upto, mint, max(disk_upto.values())):
                if len(rows) >= DECODE_BATCH and row[0] != rows[-1][0]:
                    _decode_into(merged, rows, mint, disk_upto)
                    rows = []
                rows.append(row)
            _decode_into(merged, rows, mint, disk_upto)
            for ref, (dts, dvals) in merged.items():
                hts, hvals = result[ref]
                dts.extend(hts)
                dvals.extend(hvals)
                result[ref] = (dts, dvals)
        return result

    # -- which series exist: the questions /series, /labels and /label/.../values ask ----------

    def series_in_range(self, selectors: Iterable[Iterable[Matcher]] | None = None,
                        window: tuple[int, int] | None = None, deadline: Deadline | None = None) -> list[Labels]:
        """Label sets of the series matching any selector (every series for None) with a sample in
        the closed ms window (every series the store keeps for None), sorted as Prometheus sorts them.

        Answered without decoding samples: the head settles most series, read under the trim lock so
        a flush cannot cut it meanwhile; only the part of the window older than a series' head is
        looked up on disk, at chunk granularity (a chunk overlapping the window counts, as a block
        does in Prometheus). ``deadline`` (a request's) is checked between selectors and series."""
        check = deadline.check if deadline is not None else _no_check
        refs: set[int] = set()
        for matchers in (((),) if selectors is None else selectors):
            check()
            with self._index_lock:
                refs |= self.index.select(matchers)
        series = self._series
        found: list[Labels] = []
        on_disk: dict[int, Labels] = {}
        lo, hi = (0, 0) if window is None else window
        disk_upto = lo
        with self._trim_lock:
            persisted = self.persisted_upto  # chunks below it are written before the head is cut
            for ref in refs if deadline is None else deadline.paced(refs, 1):
                s = series.get(ref)
                if s is None:  # dropped by a retention purge since the index answered
                    continue
                if window is None:
                    found.append(s.labels)
                    continue
                ts = s.ts
                i = bisect_left(ts, lo)
                if i < len(ts) and ts[i] <= hi:
                    found.append(s.labels)
                    continue
                first = ts[0] if ts else persisted
                if lo < first and lo < persisted:
                    on_disk[ref] = s.labels
                    disk_upto = max(disk_upto, min(hi, first - 1))
        if on_disk:
            check()
            hits = {ref for ref, _ in self.backend.read_chunks(list(on_disk), lo - 1, disk_upto)}
            found.extend(on_disk[ref] for ref in hits)
        return sorted(found)

    def label_names(self, selectors: Iterable[Iterable[Matcher]] | None = None,
                    window: tuple[int, int] | None = None, deadline: Deadline | None = None) -> list[str]:
        """Label names of the series ``series_in_range`` finds, sorted."""
        if selectors is None and window is None:
            with self._index_lock:
                return self.index.label_names()
        found = self.series_in_range(selectors, window, deadline)
        return sorted({name for labels in found for name, _ in labels})

    def label_values(self, name: str, selectors: Iterable[Iterable[Matcher]] | None = None,
                     window: tuple[int, int] | None = None, deadline: Deadline | None = None) -> list[str]:
        """Values of one label over the series ``series_in_range`` finds, sorted."""
        if selectors is None and window is None:
            with self._index_lock:
                return self.index.label_values(name)
        found = self.series_in_range(selectors, window, deadline)
        return sorted({v for labels in found for n, v in labels if n == name})

    def ping(self) -> None:
        """Raise if storage cannot answer a trivial read (readiness)."""
        self.backend.ping()

    def live(self, now_ms: int) -> Iterator[tuple[str, list[tuple[MemSeries, float]]]]:
        """Per metric name, the series whose latest sample is fresh (within lookback) and not stale.

        Grouped by name because the exposition formats are; this is the /metrics hot path."""
        horizon = now_ms - self.lookback_ms
        for name, group in list(self._by_name.items()):
            fresh = [(s, s.vals[-1]) for s in group if s.ts and s.ts[-1] > horizon]
            if any(v != v for _, v in fresh):
                fresh = [(s, v) for s, v in fresh if v == v or not is_stale(v)]
            if fresh:
                yield name, fresh

    # -- persistence -------------------------------------------------------------------------

    def take_appended(self) -> WalBatch:
        """Every sample appended since the previous call, in append order, each handed out once
        whatever the flushes do meanwhile (owner thread; ``feed`` must be on)."""
        self._hand_over()
        out, self._feed_backlog = self._feed_backlog, WalBatch()
        return out

    def give_back(self, batch: WalBatch) -> None:
        """Put back what ``take_appended`` returned and its taker could not keep (next call returns it first)."""
        batch.extend(self._feed_backlog)
        self._feed_backlog = batch

    @contextmanager
    def relayed(self) -> Iterator[None]:
        """Appends made inside are another replica's work (its scrape or check, relayed): stored here
        but not handed to ``take_appended``, so remote write sends each sample from the replica
        that did the work only, not once per replica (owner thread, no await inside)."""
        self._hand_over()
        try:
            yield
        finally:
            self._taken = len(self._pending)

    def _hand_over(self) -> None:
        """Move the part of ``_pending`` not yet taken into the feed backlog."""
        p = self._pending
        if self.feed and self._taken < len(p):
            i = self._taken
            self._feed_backlog.extend(WalBatch(p.refs[i:], p.ts[i:], p.vals[i:]))
        self._taken = len(p)

    def prepare_flush(self, now_ms: int, close_windows: bool = True) -> FlushBatch:
        """Take what must be persisted (cheap, owner thread); ``write`` does the slow part."""
        self._hand_over()
        self._taken = 0
        batch = FlushBatch(new_series=self._new_series, metadata=self._new_metadata, wal=self._pending)
        self._new_series, self._new_metadata, self._pending = [], {}, WalBatch()
        closable = (now_ms - self.close_grace_ms) // self.window_ms * self.window_ms
        if close_windows and closable > self.persisted_upto:
            raw = []
            lo_t = self.persisted_upto
            window = self.window_ms
            for s in self._series.values():
                ts = s.ts
                lo = bisect_left(ts, lo_t)
                hi = bisect_left(ts, closable)
                while lo < hi:
                    w_end = (ts[lo] // window + 1) * window
                    cut = min(hi, bisect_left(ts, w_end, lo, hi))
                    raw.append((s.ref, ts[lo:cut], s.vals[lo:cut]))
                    lo = cut
            batch.raw_chunks = raw
            batch.persisted_upto = closable
        if self.ttl_ms and now_ms - self._last_purge >= self.purge_every_ms:
            batch.purge_before = now_ms - self.ttl_ms
        return batch

    def write(self, batch: FlushBatch) -> None:
        """Encode chunks and write the batch (writer thread; blocking)."""
        if batch.raw_chunks:
            batch.chunks = [EncodedChunk(ref, ts[0], ts[-1], encode_chunk(ts, vals))
                            for ref, ts, vals in batch.raw_chunks]
            batch.raw_chunks = []
        self.backend.write(batch)

    def complete_flush(self, batch: FlushBatch, now_ms: int, ok: bool) -> None:
        """After a write: trim the head on success, or keep everything for the next attempt."""
        if not ok:
            self._hand_over()
            batch.wal.extend(self._pending)  # the failed batch is no longer the writer's: grow it in place
            self._pending = batch.wal
            self._taken = len(batch.wal)
            self._new_series = batch.new_series + self._new_series
            self._new_metadata = {**batch.metadata, **self._new_metadata}
            self._drop_unpersisted_before(now_ms - self.head_retention_ms, now_ms)
            return
        self._checked, self._in_order, self._last_drop = 0, True, None
        if batch.persisted_upto is not None:
            self.persisted_upto = batch.persisted_upto
            cut = min(self.persisted_upto, now_ms - self.head_retention_ms)
            with self._trim_lock:
                for s in self._series.values():
                    if s.ts and s.ts[0] < cut:
                        s.trim_before(cut)
        if batch.purge_before is not None:
            self._last_purge = now_ms
            self._drop_orphans()

    @property
    def pending_samples(self) -> int:
        """Samples in memory only, waiting for the next successful flush."""
        return len(self._pending)

    def _drop_unpersisted_before(self, cut: int, now_ms: int) -> None:
        """Bound memory while writes keep failing: the head keeps HEAD_RETENTION, unwritten or not.

        Counted in ``dropped_samples``; samples within the retention stay and are written later.
        Runs on the loop after each failed flush, so it costs C-speed passes, not a Python loop per
        sample (a bisection while the backlog is in time order), and drops at most once a minute."""
        pending = self._pending
        ts = pending.ts
        if not len(ts) or (self._last_drop is not None and now_ms - self._last_drop < DROP_EVERY_MS):
            return
        if self._pending_in_order():
            i = bisect_left(ts, cut)
            if not i:
                return
            kept = WalBatch(pending.refs[i:], ts[i:], pending.vals[i:])
            self._checked = len(kept)
        else:
            if min(ts) >= cut:
                return
            keep = list(map(cut.__le__, ts))
            kept = WalBatch(array("q", compress(pending.refs, keep)), array("q", compress(ts, keep)),
                            array("d", compress(pending.vals, keep)))
        self._last_drop = now_ms
        self.dropped_samples += len(pending) - len(kept)
        self._pending = kept
        self._taken = len(kept)
        with self._trim_lock:
            for s in self._series.values():
                if s.ts and s.ts[0] < cut:
                    s.trim_before(cut)

    def _pending_in_order(self) -> bool:
        """Whether the unwritten backlog's timestamps never go back. A failed flush puts its batch
        back in front of what came since, so the backlog only grows at its end until a write
        succeeds: each sample is checked once, at C speed."""
        ts = self._pending.ts
        if self._in_order and len(ts) > self._checked:
            tail = ts[max(0, self._checked - 1):]
            self._in_order = all(map(le, tail, islice(tail, 1, None)))
            self._checked = len(ts)
        return self._in_order

    def flush(self, now_ms: int) -> None:
        """Prepare, write and complete in the calling thread (tests, benchmarks, shutdown)."""
        batch = self.prepare_flush(now_ms)
        self.write(batch)
        self.complete_flush(batch, now_ms, ok=True)

    def _drop_orphans(self) -> None:
        """Forget series with nothing left in memory or on disk after a retention purge."""
        empty = [ref for ref, s in self._series.items() if not s.ts]
        orphans = self.backend.orphan_series(empty)
        if not orphans:
            return
        self.backend.delete_series(orphans)
        for ref in orphans:
            s = self._series.pop(ref)
            self._by_labels.pop(s.labels, None)
            same_name = self._by_name[s.name]
            same_name.remove(s)
            if not same_name:
                del self._by_name[s.name]
            with self._index_lock:
                self.index.remove(ref, s.labels)
            for refs in self._sources.values():
                refs.discard(ref)


def _decode_into(merged: dict[int, tuple[array, array]], rows: list[tuple[int, bytes]], mint: int,
                 upto: dict[int, int]) -> None:
    """Decode chunks (ref, blob), ordered by ref then time, and add each ref's samples in
    (mint, upto[ref]] to ``merged``; the rows of one ref are never split across calls."""
    if not rows:
        return
    if len(rows) < SMALL_DECODE:
        for ref, blob in rows:
            ts, vals = decode_chunk(blob)
            lo, hi = bisect_right(ts, mint), bisect_right(ts, upto[ref])
            if lo < hi:
                acc = merged.setdefault(ref, (array("q"), array("d")))
                acc[0].extend(ts[lo:hi])
                acc[1].extend(vals[lo:hi])
        return
    ts, vals, offsets = decode_chunks([blob for _, blob in rows])
    refs = [ref for ref, _ in rows]
    counts = np.diff(offsets)
    limits = np.repeat(np.array([upto[ref] for ref in refs], dtype=np.int64), counts)
    keep = (ts > mint) & (ts <= limits)
    kept = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(np.add.reduceat(keep, offsets[:-1], dtype=np.int64), out=kept[1:])
    ts, vals = ts[keep], vals[keep]
    bounds = kept.tolist()
    first = 0
    for i in range(1, len(refs) + 1):
        if i < len(refs) and refs[i] == refs[first]:
            continue
        lo, hi = bounds[first], bounds[i]
        if lo < hi:
            acc = merged.setdefault(refs[first], (array("q"), array("d")))
            acc[0].frombytes(ts[lo:hi].tobytes())
            acc[1].frombytes(vals[lo:hi].tobytes())
        first = i


def _no_check() -> None:
    """A lookup without a deadline (the engine's own callers)."""
