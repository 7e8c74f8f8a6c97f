"""A store whose disk holds chunks of both format versions (version 1 from releases before the
batch decoder) reads them as one history with the head."""

from __future__ import annotations

import sqlite3

from engine.promql import QueryEngine
from engine.tsdb.chunks import FORMAT_V1, FORMAT_V2, decode_chunk, encode_chunk
from engine.tsdb.sqlite import DB_FILE, SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import make_labels

MIN = 60_000


def open_store(path, **kw) -> Store:
    store = Store(SQLiteBackend(path), **kw)
    store.open()
    return store


def fill(store, series=3, samples=1000, step=5000):
    refs = [store.ref(make_labels("node_x_total", {"i": str(i)})) for i in range(series)]
    for k in range(samples):
        for i, ref in enumerate(refs):
            store.append(ref, k * step, float(k * (i + 1)))
    return refs


def test_chunks_written_in_the_first_format_version_stay_readable_beside_new_ones(tmp_path):
    """Data written by a release before chunk format 2: its chunks are read, merged with chunks
    written now and with the head, and queried as one history."""
    store = open_store(tmp_path, head_retention_ms=10 * MIN)
    refs = fill(store, samples=1000)
    end = 999 * 5000
    store.flush(end)
    store.close(end)
    conn = sqlite3.connect(tmp_path / DB_FILE)
    rows = conn.execute("SELECT rowid, data FROM chunks ORDER BY series_id, min_t").fetchall()
    assert len(rows) == 6 and all(blob[0] == FORMAT_V2 for _, blob in rows)  # two windows of three series
    for rowid, blob in rows[::2]:  # every other chunk back in version 1
        conn.execute("UPDATE chunks SET data=? WHERE rowid=?", (encode_chunk(*decode_chunk(blob), version=FORMAT_V1),
                                                               rowid))
    conn.commit()
    conn.close()
    again = open_store(tmp_path)
    for i, ref in enumerate(refs):
        ts, vals = again.samples(ref, 12_345, end - 1)
        assert list(ts) == [k * 5000 for k in range(3, 999)]
        assert list(vals) == [float(k * (i + 1)) for k in range(3, 999)]
    found = QueryEngine(again).instant('node_x_total{i="1"}', 20 * MIN / 1000).value
    assert [s.value for s in found] == [240 * 2.0]
    again.backend.close()
