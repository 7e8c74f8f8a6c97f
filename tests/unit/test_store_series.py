"""Which series exist in a time range (/series, /labels, /label/.../values): the store's lookups over
head and disk, including while another thread appends, flushes and trims the head."""

from __future__ import annotations

import threading
import time

import pytest

from engine.promql.deadline import Deadline
from engine.promql.errors import QueryError
from engine.tsdb.matchers import Matcher
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import make_labels

MIN = 60_000
T0 = 1_800_000_000_000 // (30 * MIN) * (30 * MIN)


def name_is(name: str) -> list[list[Matcher]]:
    return [[Matcher.make("__name__", "=", name)]]


def jobs(found) -> list[str]:
    return [dict(labels)["job"] for labels in found]


@pytest.fixture
def store(tmp_path):
    """Three series over two hours at one sample a minute, most of it flushed to chunks and cut from
    the head: ``early`` only in the first 10 minutes, ``always`` throughout, ``late`` in the last 10."""
    s = Store(SQLiteBackend(tmp_path), head_retention_ms=15 * MIN)
    s.open()
    refs = {job: s.ref(make_labels("up", {"job": job, "team": f"t-{job}"})) for job in ("early", "always", "late")}
    for k in range(120):
        t = T0 + k * MIN
        s.append(refs["always"], t, 1.0)
        if k < 10:
            s.append(refs["early"], t, 1.0)
        if k >= 110:
            s.append(refs["late"], t, 1.0)
    s.flush(T0 + 120 * MIN)
    assert not s.series(refs["early"]).ts and s.series(refs["always"]).ts[0] > T0 + 60 * MIN  # on disk only
    yield s
    s.backend.close()


def test_series_in_a_window_come_from_disk_and_head_alike(store):
    assert jobs(store.series_in_range(name_is("up"), (T0, T0 + 5 * MIN))) == ["always", "early"]
    assert jobs(store.series_in_range(name_is("up"), (T0 + 60 * MIN, T0 + 70 * MIN))) == ["always"]
    assert jobs(store.series_in_range(name_is("up"), (T0 + 115 * MIN, T0 + 200 * MIN))) == ["always", "late"]
    assert jobs(store.series_in_range(name_is("up"), (T0 + 9 * MIN, T0 + 9 * MIN))) == ["always", "early"]  # closed
    assert store.series_in_range(name_is("up"), (T0 + 300 * MIN, T0 + 400 * MIN)) == []
    assert jobs(store.series_in_range(name_is("up"))) == ["always", "early", "late"]
    assert store.series_in_range(name_is("down"), (T0, T0 + 200 * MIN)) == []


def test_any_selector_may_match_and_no_selector_means_every_series(store):
    either = [[Matcher.make("job", "=", "early")], [Matcher.make("job", "=", "late")]]
    assert jobs(store.series_in_range(either, (T0, T0 + 200 * MIN))) == ["early", "late"]
    assert jobs(store.series_in_range(None, (T0 + 115 * MIN, T0 + 120 * MIN))) == ["always", "late"]


def test_label_names_and_values_follow_the_same_series(store):
    assert store.label_names() == ["__name__", "job", "team"]
    assert store.label_values("job") == ["always", "early", "late"]
    assert store.label_values("team", None, (T0, T0 + 5 * MIN)) == ["t-always", "t-early"]
    assert store.label_values("job", name_is("up"), (T0 + 60 * MIN, T0 + 61 * MIN)) == ["always"]
    assert store.label_names(name_is("down")) == []
    assert store.label_values("nope") == []


def test_the_same_answers_after_a_restart(store, tmp_path):
    store.close(T0 + 120 * MIN)
    again = Store(SQLiteBackend(tmp_path), head_retention_ms=15 * MIN)
    again.open()
    try:
        assert jobs(again.series_in_range(name_is("up"), (T0, T0 + 5 * MIN))) == ["always", "early"]
        assert jobs(again.series_in_range(name_is("up"), (T0 + 115 * MIN, T0 + 120 * MIN))) == ["always", "late"]
    finally:
        again.backend.close()
    store.backend.open()  # the fixture closes it


def test_a_lookup_racing_with_appends_flushes_and_head_trims_stays_right(tmp_path):
    """The owner thread appends and flushes, which writes chunks and cuts the head under the reader;
    every answer of the reader must still name each series that has a sample in the window."""
    store = Store(SQLiteBackend(tmp_path), head_retention_ms=0, window_ms=MIN, close_grace_ms=0)
    store.open()
    refs = [store.ref(make_labels("m", {"i": str(i)})) for i in range(40)]
    everyone = sorted(str(i) for i in range(40))
    for ref in refs:
        store.append(ref, T0, 1.0)
    window = (T0, T0 + 5_000)
    started, done = threading.Event(), threading.Event()
    answers: list[tuple[list[str], list[str]]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                found = [dict(labels)["i"] for labels in store.series_in_range(name_is("m"), window)]
                answers.append((sorted(found), store.label_values("i", name_is("m"), window)))
                started.set()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert started.wait(30)
        for k in range(1, 301):
            t = T0 + k * 10_000
            for ref in refs:
                store.append(ref, t, float(k))
            store.ref(make_labels("m", {"i": f"new-{k}"}))  # new series (no samples) while the reader runs
            if k % 6 == 0:
                store.flush(t)
    finally:
        done.set()
        thread.join(30)
    assert errors == []
    assert store.series(refs[0]).ts[0] > window[1]  # the window's samples did move to disk
    assert answers and all(a == (everyone, everyone) for a in answers), answers[:3]
    assert sorted(dict(s)["i"] for s in store.series_in_range(name_is("m"), window)) == everyone
    store.backend.close()


def test_series_and_label_lookups_stop_at_their_deadline(tmp_path):
    """/api/v1/series, /labels and /label/…/values run on the query pool with the request's limit."""
    store = Store(SQLiteBackend(tmp_path))
    store.open()
    store.ref(make_labels("up", {"job": "api"}))
    passed = Deadline(time.monotonic() - 1)
    for lookup in (lambda: store.series_in_range(None, (0, MIN), passed),
                   lambda: store.label_names(None, (0, MIN), passed),
                   lambda: store.label_values("job", None, (0, MIN), passed)):
        with pytest.raises(QueryError) as info:
            lookup()
        assert info.value.error_type == "timeout"
    closing = threading.Event()
    closing.set()  # the engine shuts down: lookups stop too
    with pytest.raises(QueryError) as info:
        store.series_in_range(None, (0, MIN), Deadline(time.monotonic() + 60, closing))
    assert info.value.error_type == "canceled"
    store.backend.close()
