"""Selectors: matchers, lookback, staleness, offsets, range windows, and memory vs disk reads."""

from __future__ import annotations

import pytest
from test_promql_support import engine_factory, fill, instant

from engine.promql import QueryEngine, QueryError
from engine.tsdb.matchers import Matcher
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store

JOBS = {
    'up{job="api"}': "1 2 3",
    'up{job="api-gw"}': "4 5 6",
    'up{job="db"}': "7 8 9",
    'other{job="api"}': "10 11 12",
}


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def test_matchers_of_all_four_kinds_with_anchored_regexes(make_engine):
    e = make_engine(JOBS)
    assert instant(e, 'up{job="api"}', 120) == {'up{job="api"}': 3}
    assert set(instant(e, 'up{job!="api"}', 120)) == {'up{job="api-gw"}', 'up{job="db"}'}
    assert instant(e, 'up{job=~"api"}', 120) == {'up{job="api"}': 3}  # anchored: not api-gw
    assert set(instant(e, 'up{job=~"api.*"}', 120)) == {'up{job="api"}', 'up{job="api-gw"}'}
    assert instant(e, 'up{job!~"api.*"}', 120) == {'up{job="db"}': 9}
    assert set(instant(e, '{__name__=~"up|other", job="api"}', 120)) == {'up{job="api"}', 'other{job="api"}'}
    assert instant(e, 'up{job=~"[[:alpha:]]+"}', 120) == {'up{job="api"}': 3, 'up{job="db"}': 9}


def test_a_regex_dot_matches_a_newline_as_in_prometheus_3(make_engine):
    e = make_engine({'log{msg="a\\nb"}': "1"})
    assert instant(e, 'log{msg=~"a.b"}', 0) == {'log{msg="a\nb"}': 1}


def test_a_selector_needs_a_matcher_that_rejects_the_empty_string(make_engine):
    e = make_engine(JOBS)
    for expr in ('{job=~".*"}', '{job=""}', "{}"):
        with pytest.raises(QueryError) as err:
            e.instant(expr, 0)
        assert err.value.error_type == "bad_data"
        assert "vector selector must contain at least one non-empty matcher" in err.value.message
    assert len(instant(e, '{job=~".+"}', 120)) == 4


def test_lookback_is_five_minutes_and_left_open(make_engine):
    e = make_engine({'up{job="api"}': "1 2 3"})  # samples at 0, 60, 120 s
    assert instant(e, "up", 120) == {'up{job="api"}': 3}
    assert instant(e, "up", 419.999) == {'up{job="api"}': 3}
    assert instant(e, "up", 420) == {}  # 120 s is exactly 5 minutes back: outside (t-5m, t]
    assert instant(e, "up", 59.999) == {'up{job="api"}': 1}
    assert instant(e, "up", -0.001) == {}


def test_lookback_is_configurable(make_engine):
    e = make_engine({'up{job="api"}': "1 2 3"}, lookback_ms=30_000)
    assert instant(e, "up", 149) == {'up{job="api"}': 3}
    assert instant(e, "up", 150) == {}


def test_a_stale_marker_ends_the_series_until_the_next_sample(make_engine):
    e = make_engine({'up{job="api"}': "1 2 stale 4"})
    assert instant(e, "up", 119) == {'up{job="api"}': 2}
    assert instant(e, "up", 120) == {}
    assert instant(e, "up", 179) == {}
    assert instant(e, "up", 180) == {'up{job="api"}': 4}
    # Range windows never contain stale markers.
    assert instant(e, "count_over_time(up[5m])", 180) == {'{job="api"}': 3}
    assert instant(e, "count_over_time(up[30s])", 130) == {}


def test_stale_markers_in_a_range_query(make_engine):
    e = make_engine({'up{job="api"}': "1 2 stale 4"})
    result = e.range("up", 0, 240, 30)
    assert [(s.labels, s.points) for s in result.value] == [
        ({"__name__": "up", "job": "api"}, [(0, 1), (30, 1), (60, 2), (90, 2), (180, 4), (210, 4), (240, 4)])]


def test_offsets_shift_the_evaluation_time_both_ways(make_engine):
    e = make_engine({'up{job="api"}': "1 2 3 4 5"})
    assert instant(e, "up offset 2m", 240) == {'up{job="api"}': 3}
    assert instant(e, "up offset -2m", 60) == {'up{job="api"}': 4}
    assert instant(e, "up offset 1m30s", 240) == {'up{job="api"}': 3}
    assert instant(e, "sum_over_time(up[2m] offset 1m)", 240) == {'{job="api"}': 3 + 4}
    assert instant(e, "sum_over_time(up[2m] offset -1m)", 120) == {'{job="api"}': 3 + 4}
    # timestamp() reports the sample's own time, not the shifted evaluation time.
    assert instant(e, "timestamp(up offset 2m)", 250) == {'{job="api"}': 120}


def test_a_range_vector_is_left_open_and_keeps_sample_times(make_engine):
    e = make_engine({'up{job="api"}': "1 2 3 stale 5"})
    result = e.instant("up[3m]", 240)
    assert result.result_type == "matrix"
    assert [(s.labels, s.points) for s in result.value] == [
        ({"__name__": "up", "job": "api"}, [(120, 3), (240, 5)])]  # 60 s is the excluded edge
    assert e.instant("up[3m] offset 1m", 240).value[0].points == [(60, 2), (120, 3)]  # (0, 180]
    assert e.instant("nothing[5m]", 240).value == []


def test_series_without_samples_in_the_window_are_omitted(make_engine):
    e = make_engine({'a{i="1"}': "1 _ _ _ _ _ _ _ _ _ 1", 'a{i="2"}': "1x10"})
    assert set(instant(e, "a", 400)) == {'a{i="2"}'}
    assert set(instant(e, "a", 600)) == {'a{i="1"}', 'a{i="2"}'}


def test_samples_read_back_from_disk_give_the_same_answers(tmp_path):
    series = {'req{job="api"}': "0+10x30", 'req{job="db"}': "5 3 8 stale 1 20 30 40 50 60 70"}
    queries = ["req", "rate(req[5m])", "sum(increase(req[10m]))", "req offset 3m", "count_over_time(req[30m])"]
    memory = Store(SQLiteBackend(tmp_path / "memory"))
    memory.open()
    fill(memory, series)
    disk = Store(SQLiteBackend(tmp_path / "disk"), head_retention_ms=0, window_ms=5 * 60_000)
    disk.open()
    fill(disk, series)
    disk.flush(3 * 3600_000)
    refs = disk.select_refs([Matcher.make("__name__", "=", "req")])
    assert refs and all(len(disk.series(ref).ts) == 0 for ref in refs)  # only on disk now
    try:
        for t in (300, 630, 1800):
            for q in queries:
                assert instant(QueryEngine(disk), q, t) == instant(QueryEngine(memory), q, t), (q, t)
    finally:
        memory.backend.close()
        disk.backend.close()
