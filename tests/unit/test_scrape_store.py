"""Store.ingest_refs, the scrape loop's way into the store: one cycle of appends by ref."""

from __future__ import annotations

import math

import pytest

from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import is_stale, make_labels


@pytest.fixture
def store(tmp_path):
    s = Store(SQLiteBackend(tmp_path))
    s.open()
    yield s
    s.backend.close()


def test_cycle_appends_rejects_repeats_and_marks_missing_series_stale(store):
    a, b, c = (store.ref(make_labels("m", {"i": i})) for i in "abc")
    assert store.ingest_refs("target", [a, b, c], [1.0, 2.0, 3.0], 1000) == 3
    assert store.ingest_refs("target", [a, a, b], [4.0, 5.0, 6.0], 2000) == 2  # a twice: the second is refused
    assert store.rejected_samples == 1
    assert list(store.series(a).vals) == [1.0, 4.0]
    assert is_stale(store.series(c).vals[-1]) and store.series(c).ts[-1] == 2000
    assert store.pending_samples == 3 + 2 + 1  # what is written at the next flush, stale marker included
    assert store.ingest_refs("target", [], [], 3000) == 0  # a target gone: all of it goes stale
    assert all(is_stale(store.series(r).vals[-1]) for r in (a, b))
    assert not math.isnan(store.series(b).vals[-2])
    assert store.ingest_refs("other", [b], [7.0], 2500) == 0  # older than stored: refused, not appended
    assert store.series(b).ts[-1] == 3000
