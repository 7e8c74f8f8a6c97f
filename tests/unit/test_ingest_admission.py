"""Admission: the checks and limits every ingested sample passes, and what it writes into the store."""

from __future__ import annotations

import math

import pytest

from engine.ingest.admission import MAX_LABELS, MAX_VALUE_LENGTH, Admission, SeriesLimits
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import STALE_NAN, Family, is_stale, make_labels


@pytest.fixture
def store(tmp_path):
    s = Store(SQLiteBackend(tmp_path))
    s.open()
    yield s
    s.backend.close()


def fam(name, type_="gauge", *samples):
    f = Family(name, type_, "")
    for labels, value in samples:
        f.add(value, labels)
    return f


def reasons(outcome):
    return [(r.index, r.reason, r.field) for r in outcome.refused]


def last(store, name, **labels):
    s = store.series(store.known_ref(make_labels(name, labels)))
    return s.ts[-1], s.vals[-1]


@pytest.mark.parametrize(("name", "labels", "reason", "field"), [
    ("1bad", {}, "invalid_metric_name", "name"),
    ("__reserved", {}, "reserved_name", "name"),
    ("ok", {"bad-name": "x"}, "invalid_label_name", "labels.bad-name"),
    ("ok", {"__meta": "x"}, "reserved_label_name", "labels.__meta"),
    ("ok", {"a": "\udc80"}, "invalid_label_value", "labels.a"),
    ("ok", {"a": "x" * (MAX_VALUE_LENGTH + 1)}, "label_value_too_long", "labels.a"),
    ("ok", {f"l{i}": "v" for i in range(MAX_LABELS + 1)}, "too_many_labels", "labels"),
])
def test_invalid_names_and_labels_are_refused_and_the_rest_written(store, name, labels, reason, field):
    adm = Admission(store, SeriesLimits(100, 100))
    bad = Family(name, "gauge", "", "", [(name, labels, 2.0)])
    out = adm.admit_families("push", [fam("good", "gauge", ({}, 1.0)), bad], 1000)
    assert out.accepted == 1
    assert reasons(out) == [(1, reason, field)]
    assert last(store, "good") == (1000, 1.0)
    assert adm.ingested["push"] == 1 and adm.rejected[("push", reason)] == 1


def test_type_change_refused(store):
    adm = Admission(store, SeriesLimits(100, 100))
    adm.admit_families("push", [fam("jobs", "gauge", ({}, 1.0))], 1000)
    out = adm.admit_families("push", [fam("jobs", "counter", ({"a": "b"}, 2.0))], 2000)
    assert reasons(out) == [(0, "type_conflict", "type")]
    assert store.known_ref(make_labels("jobs", {"a": "b"})) is None


def test_series_limits_total_and_per_metric(store):
    adm = Admission(store, SeriesLimits(max_series=5, max_series_per_metric=3))
    out = adm.admit_families("push", [fam("a", "gauge", *(({"i": str(i)}, 1.0) for i in range(4)))], 1000)
    assert out.accepted == 3 and reasons(out) == [(0, "metric_series_limit", "labels")]
    out = adm.admit_families("push", [fam("b", "gauge", *(({"i": str(i)}, 1.0) for i in range(3)))], 1000)
    assert out.accepted == 2 and reasons(out) == [(0, "series_limit", "labels")]
    out = adm.admit_families("push", [fam("a", "gauge", ({"i": "0"}, 5.0))], 2000)
    assert out.accepted == 1 and not out.refused  # existing series still take samples at the limit


def test_atomic_writes_nothing_when_one_is_bad(store):
    adm = Admission(store, SeriesLimits(100, 100))
    out = adm.admit_families("push", [fam("good", "gauge", ({}, 1.0)), fam("bad name", "gauge", ({}, 1.0))],
                             1000, atomic=True)
    assert out.accepted == 0 and reasons(out) == [(1, "invalid_metric_name", "name")]
    assert len(store) == 0


def test_exposed_nan_is_a_value_but_a_pushed_increment_must_be_finite(store):
    adm = Admission(store, SeriesLimits(100, 100))
    out = adm.admit_families("scrape", [fam("c_total", "counter", ({}, math.nan))], 1000)
    assert out.accepted == 1 and math.isnan(last(store, "c_total")[1])
    assert adm.check_observation(math.nan, "counter").reason == "invalid_value"
    assert adm.check_observation(-1.0, "counter").reason == "invalid_value"
    assert adm.check_observation(math.inf, "histogram").reason == "invalid_value"
    assert adm.check_observation(-1.0, "histogram") is None


def test_stale_key_marks_series_missing_from_the_next_cycle(store):
    adm = Admission(store, SeriesLimits(100, 100))
    adm.admit_families("scrape", [fam("g", "gauge", ({"i": "1"}, 1.0), ({"i": "2"}, 1.0))], 1000, stale_key="t1")
    adm.admit_families("scrape", [fam("g", "gauge", ({"i": "1"}, 2.0))], 2000, stale_key="t1")
    assert is_stale(last(store, "g", i="2")[1])
    assert last(store, "g", i="1") == (2000, 2.0)


def test_series_retry_of_same_sample_is_not_an_error_but_older_is(store):
    adm = Admission(store, SeriesLimits(100, 100))
    labels = make_labels("up", {"job": "p"})
    assert adm.admit_series("remote_write", [(labels, [1000, 2000], [1.0, STALE_NAN])], 2000).accepted == 2
    out = adm.admit_series("remote_write", [(labels, [2000], [STALE_NAN])], 2000)
    assert out.accepted == 1 and not out.refused
    out = adm.admit_series("remote_write", [(labels, [1500], [1.0])], 2000)
    assert reasons(out) == [(0, "out_of_order", "timestamp")]
    out = adm.admit_series("remote_write", [(make_labels("up", {"__x": "1"}), [3000], [1.0])], 2000)
    assert reasons(out) == [(0, "reserved_label_name", "labels.__x")]


def test_counters_are_exposed_as_families(store):
    adm = Admission(store, SeriesLimits(100, 100))
    adm.admit_families("push", [fam("ok", "gauge", ({}, 1.0)), fam("no good", "gauge", ({}, 1.0))], 1000)
    got = {f.name: f.samples for f in adm.families()}
    assert ("ingested_samples_total", {"source": "push"}, 1.0) in got["ingested_samples_total"]
    labels = {"source": "push", "reason": "invalid_metric_name"}
    assert got["rejected_samples_total"] == [("rejected_samples_total", labels, 1.0)]
