"""The time-series store: index, lookback, staleness, persistence and its failure modes. The
persistence tests run on every backend (``storage``: SQLite, and MongoDB when MONGODB_URI is set)."""

from __future__ import annotations

import math
import os
import sqlite3

import pytest

from engine.promql import QueryEngine
from engine.tsdb.backend import StoreError
from engine.tsdb.matchers import Matcher, MatcherError
from engine.tsdb.sqlite import DB_FILE, SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import STALE_NAN, Family, is_stale, make_labels
from tests.backends import Storage

MIN = 60_000


def open_store(path, **kw) -> Store:
    store = Store(SQLiteBackend(path), **kw)
    store.open()
    return store


def open_on(storage: Storage, **kw) -> Store:
    """A store on a new backend over the test's storage (SQLite, or MongoDB when MONGODB_URI is set)."""
    store = Store(storage.backend(), **kw)
    store.open()
    return store


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path)
    yield s
    s.backend.close()


def m(name, op, value):
    return Matcher.make(name, op, value)


def names(store, *matchers):
    refs = store.select_refs(matchers)
    return sorted(dict(store.series(r).labels).get("job", "") for r in refs)


def test_all_four_matcher_kinds_with_anchored_regexes(store):
    for job in ("api", "api-gateway", "db", "cache"):
        store.ref(make_labels("up", {"job": job}))
    store.ref(make_labels("up", {}))
    assert names(store, m("job", "=", "api")) == ["api"]
    assert names(store, m("__name__", "=", "up"), m("job", "!=", "api")) == ["", "api-gateway", "cache", "db"]
    assert names(store, m("job", "=~", "api")) == ["api"]  # anchored: not "api-gateway"
    assert names(store, m("job", "=~", "api.*")) == ["api", "api-gateway"]
    assert names(store, m("__name__", "=", "up"), m("job", "!~", "a.*|c.*")) == ["", "db"]
    # A matcher that accepts "" also selects series lacking the label, as in Prometheus.
    assert names(store, m("__name__", "=", "up"), m("job", "=", "")) == [""]
    assert names(store, m("__name__", "=", "up"), m("job", "=~", "db|")) == ["", "db"]
    assert names(store, m("job", "!=", "")) == ["api", "api-gateway", "cache", "db"]


def test_invalid_matchers_are_rejected():
    with pytest.raises(MatcherError, match="invalid regular expression"):
        Matcher.make("job", "=~", "(")
    with pytest.raises(MatcherError, match="unknown matcher operator"):
        Matcher.make("job", "<>", "x")


def at(store, name, t_ms):
    """What an instant lookup of a series finds at t: its value, or None."""
    found = QueryEngine(store).instant(name, t_ms / 1000).value
    return found[0].value if found else None


def test_lookback_window_is_left_open_and_stale_markers_end_a_series(store):
    ref = store.ref(make_labels("temp", {}))
    assert store.append(ref, 10_000, 1.0)
    assert at(store, "temp", 10_000) == 1.0
    assert at(store, "temp", 10_000 + 5 * MIN - 1) == 1.0
    assert at(store, "temp", 10_000 + 5 * MIN) is None  # (t-5m, t] excludes the sample at t-5m
    assert at(store, "temp", 9_999) is None
    assert store.append(ref, 20_000, STALE_NAN)
    assert at(store, "temp", 20_000) is None
    assert store.append(ref, 30_000, math.nan)  # a plain NaN is a value
    v = at(store, "temp", 30_000)
    assert v is not None and math.isnan(v) and not is_stale(v)


def test_range_is_left_open_and_out_of_order_samples_are_rejected(store):
    ref = store.ref(make_labels("c_total", {}))
    for t in (1000, 2000, 3000, 4000):
        assert store.append(ref, t, t / 1000)
    assert not store.append(ref, 3500, 9.0)
    assert not store.append(ref, 4000, 9.0)
    assert store.rejected_samples == 2
    ts, vals = store.samples(ref, 1000, 3000)
    assert list(ts) == [2000, 3000] and list(vals) == [2.0, 3.0]


def test_ingest_writes_stale_markers_for_series_a_source_stopped_producing(store):
    fam = Family("node_network_up", "gauge", "up")
    fam.add(1, {"device": "eth0"})
    fam.add(1, {"device": "eth1"})
    store.ingest("system", [fam], 1000)
    fam2 = Family("node_network_up", "gauge", "up")
    fam2.add(1, {"device": "eth0"})
    store.ingest("system", [fam2], 2000)
    eth1 = store.ref(make_labels("node_network_up", {"device": "eth1"}))
    ts, vals = store.samples(eth1, 0, 5000)
    assert list(ts) == [1000, 2000] and is_stale(vals[-1])
    assert at(store, 'node_network_up{device="eth1"}', 2500) is None
    assert store.metadata("node_network_up").help == "up"


def fill(store, series=3, samples=1000, step=5000, start=0):
    refs = [store.ref(make_labels("node_x_total", {"i": str(i)})) for i in range(series)]
    for k in range(samples):
        for i, ref in enumerate(refs):
            store.append(ref, start + k * step, float(k * (i + 1)))
    return refs


def test_history_is_continuous_across_restart_and_head_trim(storage):
    store = open_on(storage, head_retention_ms=10 * MIN)
    refs = fill(store)
    end = 999 * 5000
    store.flush(end)  # closes every window ending before end - grace
    assert store.persisted_upto > 0
    # persisted samples older than the head retention left memory; unpersisted ones stay
    assert store.series(refs[0]).ts[0] == store.persisted_upto == 60 * MIN
    ts, vals = store.samples(refs[1], -1, end)
    assert list(ts) == [k * 5000 for k in range(1000)]
    assert list(vals) == [float(k * 2) for k in range(1000)]
    store.close(end)

    again = open_on(storage)
    ref = again.ref(make_labels("node_x_total", {"i": "2"}))
    assert ref == refs[2]
    ts, vals = again.samples(ref, -1, end)
    assert len(ts) == 1000 and vals[-1] == 999 * 3.0
    assert at(again, 'node_x_total{i="2"}', end) == 999 * 3.0
    data = again.select([m("__name__", "=", "node_x_total")], end - 20 * MIN, end)
    assert len(data) == 3 and all(len(d.ts) == 240 for d in data)
    again.backend.close()


def test_unflushed_head_is_recovered_from_the_wal_without_close(storage):
    store = open_on(storage)
    ref = store.ref(make_labels("g", {"a": "b"}))
    store.append(ref, 1000, 1.5)
    store.flush(2000)
    store.append(ref, 3000, 2.5)  # never flushed: lost, as a SIGKILL would lose it
    # no close(): the process "dies" here
    again = open_on(storage)
    r2 = again.ref(make_labels("g", {"a": "b"}))
    ts, vals = again.samples(r2, 0, 10_000)
    assert list(ts) == [1000] and list(vals) == [1.5]


def test_retention_purges_old_chunks_and_forgets_empty_series(storage):
    store = open_on(storage, ttl_ms=200 * MIN, head_retention_ms=MIN)
    old = store.ref(make_labels("old", {}))
    for k in range(10):
        store.append(old, k * 5000, 1.0)
    new = store.ref(make_labels("new", {}))
    store.append(new, 300 * MIN, 1.0)
    store.flush(400 * MIN)
    assert store.samples(new, 0, 400 * MIN)[0].tolist() == [300 * MIN]
    assert [dict(store.series(r).labels)["__name__"] for r in store.select_refs([m("__name__", "=~", ".+")])] \
        == ["new"]
    store.backend.close()


def test_a_file_that_is_not_a_database_stops_with_a_clear_error(tmp_path):
    (tmp_path / DB_FILE).write_bytes(b"this is not sqlite at all, just some text" * 100)
    with pytest.raises(StoreError, match="not a valid metrics database"):
        open_store(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; see the read-only mount test instead")
def test_an_unwritable_data_dir_stops_with_a_clear_error(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable"):
            open_store(tmp_path / "sub")
    finally:
        tmp_path.chmod(0o700)


def test_a_data_dir_that_is_a_file_stops_with_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot be created"):
        open_store(tmp_path / "file" / "data")


def test_a_foreign_sqlite_database_is_rejected(tmp_path):
    conn = sqlite3.connect(tmp_path / DB_FILE)
    conn.execute("CREATE TABLE series (id TEXT)")
    conn.execute("INSERT INTO series VALUES ('x')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a valid metrics database"):
        open_store(tmp_path)


def test_failed_flushes_keep_samples_but_only_for_the_head_retention(storage):
    """A full disk must not grow memory without bound: beyond HEAD_RETENTION the oldest unwritten go."""
    store = Store(storage.backend(), head_retention_ms=10_000)
    store.open()
    ref = store.ref(make_labels("node_x", {}))
    for t in range(0, 20_000, 1000):
        store.append(ref, t, float(t))
    batch = store.prepare_flush(5_000)
    store.complete_flush(batch, 5_000, ok=False)  # within the retention: everything kept for the retry
    assert (store.pending_samples, store.dropped_samples) == (20, 0)
    batch = store.prepare_flush(20_000)
    store.complete_flush(batch, 20_000, ok=False)
    assert (store.pending_samples, store.dropped_samples) == (10, 10)
    store.flush(20_000)
    store.backend.close()
    again = Store(storage.backend())
    again.open()
    ts, _ = again.samples(again.ref(make_labels("node_x", {})), -1, 30_000)
    assert list(ts) == list(range(10_000, 20_000, 1000))
    again.backend.close()


def test_a_full_disk_gives_up_unwritten_samples_at_most_once_a_minute_in_or_out_of_order(storage):
    """Each failed flush would otherwise rescan the whole backlog on the event loop; samples
    appended out of time order across series (remote write) are kept or dropped by their time."""
    store = Store(storage.backend(), head_retention_ms=10 * MIN)
    store.open()
    a, b = store.ref(make_labels("a", {})), store.ref(make_labels("b", {}))
    for t in range(0, 20 * MIN, MIN):
        store.append(a, t, float(t))
    store.append(b, 0, 0.0)  # older than what came before it in the backlog
    store.append(b, 15 * MIN, 1.0)

    def fail(now):
        store.complete_flush(store.prepare_flush(now, close_windows=False), now, ok=False)

    fail(20 * MIN)  # gives up a's first ten minutes and b's first sample
    assert (store.pending_samples, store.dropped_samples) == (11, 11)
    fail(20 * MIN + 30_000)  # the minute 10 sample is past the retention now, but it is too soon
    assert (store.pending_samples, store.dropped_samples) == (11, 11)
    fail(21 * MIN)
    assert (store.pending_samples, store.dropped_samples) == (10, 12)
    store.flush(21 * MIN)
    ts, _ = store.samples(b, -1, 30 * MIN)
    assert list(ts) == [15 * MIN]
    store.backend.close()


def test_a_few_chunks_decoded_one_by_one_give_what_the_numpy_batch_gives():
    """Below SMALL_DECODE chunks the store decodes each on its own (numpy is not loaded for them):
    per series, the samples in (mint, upto] either way, on chunk edges and with nothing kept."""
    from array import array

    from engine.tsdb.chunks import encode_chunk
    from engine.tsdb.store import SMALL_DECODE, _decode_into

    rows, truth = [], {}
    for ref in (3, 7, 9):
        truth[ref] = []
        for c in range(4):
            ts = [(c * 12 + k) * 5000 + ref for k in range(12)]
            vals = [float(ref * 1000 + t % 977) / 7 for t in ts]
            rows.append((ref, encode_chunk(ts, vals)))
            truth[ref] += list(zip(ts, vals, strict=True))
    assert len(rows) >= SMALL_DECODE
    for mint in (-1, 12 * 5000 + 7, 30 * 5000):
        upto = {3: 47 * 5000 + 3, 7: 12 * 5000 + 7, 9: 0}
        batch: dict[int, tuple[array, array]] = {}
        _decode_into(batch, rows, mint, upto)
        one_by_one: dict[int, tuple[array, array]] = {}
        for ref in (3, 7, 9):
            _decode_into(one_by_one, [r for r in rows if r[0] == ref], mint, upto)
        expected = {ref: [(t, v) for t, v in samples if mint < t <= upto[ref]] for ref, samples in truth.items()}
        for merged in (batch, one_by_one):
            got = {ref: list(zip(ts, vals, strict=True)) for ref, (ts, vals) in merged.items()}
            assert got == {ref: s for ref, s in expected.items() if s}
