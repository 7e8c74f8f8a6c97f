"""Functions Prometheus 3 evaluates behind promql-experimental-functions (limitk, limit_ratio,
sort_by_label, double_exponential_smoothing, ts_of_*_over_time): promtool 2.42 has none of
them, so values are worked out by hand from Prometheus's definitions."""

from __future__ import annotations

import math

import pytest
from test_promql_support import engine_factory, instant

from engine.promql import QueryError
from engine.promql.aggregations import sample_offset
from engine.tsdb.types import make_labels

SERIES = {
    'v{i="x10", g="a"}': "1 2 3",
    'v{i="x9", g="a"}': "4 _ 6",
    'v{i="x100", g="b"}': "7 8 9",
    'v{i="X1", g="b"}': "2 3 4",
}


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def _order(engine, expr: str, t: float) -> list[str]:
    return [s.labels["i"] for s in engine.instant(expr, t).value]


def test_sort_by_label_orders_digit_runs_as_numbers(make_engine):
    e = make_engine(SERIES)
    assert _order(e, 'sort_by_label(v, "i")', 0) == ["X1", "x9", "x10", "x100"]
    assert _order(e, 'sort_by_label_desc(v, "i")', 0) == ["x100", "x10", "x9", "X1"]
    # Ties on the first label fall to the next, then to the whole label set.
    assert _order(e, 'sort_by_label(v, "g", "i")', 0) == ["x9", "x10", "X1", "x100"]
    assert _order(e, 'sort_by_label(v, "absent")', 0) == ["x10", "x9", "X1", "x100"]


def test_limitk_takes_the_first_k_present_series_of_each_group_at_each_step(make_engine):
    e = make_engine(SERIES)
    assert len(instant(e, "limitk by (g) (1, v)", 0)) == 2
    assert len(instant(e, "limitk(10, v)", 0)) == 4
    assert instant(e, "limitk(0, v)", 0) == {}
    # At 60 s x9 has no sample: group a still gives one series, x10.
    assert instant(e, 'limitk by (g) (1, v{g="a"})', 60) == {'v{g="a", i="x10"}': 2}
    with pytest.raises(QueryError, match="Parameter value is NaN"):
        e.instant("limitk(NaN, v)", 0)


def test_limit_ratio_splits_by_the_label_set_hash(make_engine):
    e = make_engine(SERIES)
    # Prometheus's labels.Hash is xxhash64 over name 0xff value 0xff ...: a known value.
    assert sample_offset(make_labels("a", {})) == pytest.approx(
        13845105278993910651 / 2**64, rel=1e-15)
    offsets = {s.labels["i"]: sample_offset(make_labels("v", {"g": s.labels["g"], "i": s.labels["i"]}))
               for s in e.instant("v", 0).value}
    low = {k for k, o in offsets.items() if o < 0.5}
    assert {s.labels["i"] for s in e.instant("limit_ratio(0.5, v)", 0).value} == low
    assert {s.labels["i"] for s in e.instant("limit_ratio(-0.5, v)", 0).value} == set(offsets) - low
    assert len(instant(e, "limit_ratio(1, v)", 0)) == 4 and instant(e, "limit_ratio(0, v)", 0) == {}
    with pytest.raises(QueryError, match="Ratio value is NaN"):
        e.instant("limit_ratio(NaN, nothing)", 0)


def test_double_exponential_smoothing(make_engine):
    e = make_engine({"s": "1 3 4 8"})
    # s1=1, b=2; i=1: 0.5*3 + 0.5*(1+2) = 3; i=2: b = 0.5*(3-1) + 0.5*2 = 2, 0.5*4 + 0.5*(3+2) = 4.5;
    # i=3: b = 0.5*(4.5-3) + 0.5*2 = 1.75, 0.5*8 + 0.5*(4.5+1.75) = 7.125.
    assert instant(e, "double_exponential_smoothing(s[4m], 0.5, 0.5)", 180) == {"{}": 7.125}
    with pytest.raises(QueryError, match="invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"):
        e.instant("double_exponential_smoothing(s[4m], 1, 0.5)", 180)
    assert instant(e, "double_exponential_smoothing(s[30s], 0.5, 0.5)", 180) == {}


def test_timestamps_of_extremes(make_engine):
    e = make_engine({"m": "3 1 3 1 2"})
    assert instant(e, "ts_of_max_over_time(m[5m])", 240) == {"{}": 120}  # the latest of the ties
    assert instant(e, "ts_of_min_over_time(m[5m])", 240) == {"{}": 180}
    assert instant(e, "ts_of_first_over_time(m[150s])", 240) == {"{}": 120}
    assert instant(e, "ts_of_last_over_time(m[150s])", 250) == {"{}": 240}


def test_start_end_range_and_step_are_the_querys_own(make_engine):
    e = make_engine({"m": "1 2 3 4"})
    ranged = e.range("start() + end() * 1000 + step() * 1000000 + range() * 1e9", 10, 100, 30)
    assert [v for _, v in ranged.value[0].points] == [10 + 100_000 + 30_000_000 + 90e9] * 4
    assert e.instant("range() + step()", 50).value[1] == 0
    # Inside a subquery too, not the subquery's own steps.
    assert instant(e, "max_over_time(vector(end())[5m:1m])", 170) == {"{}": 170}


def test_histogram_fraction_of_classic_buckets(make_engine):
    # Prometheus evaluates histogram_fraction by default; promtool 2.42 predates it.
    e = make_engine({'h_bucket{le="1"}': "2", 'h_bucket{le="2"}': "6", 'h_bucket{le="4"}': "8",
                     'h_bucket{le="+Inf"}': "10"})
    assert instant(e, "histogram_fraction(0, 2, h_bucket)", 0) == {"{}": 0.6}
    # Half of (1, 2]: 2 observations; a quarter of (2, 4]: 0.5.
    assert instant(e, "histogram_fraction(1.5, 2.5, h_bucket)", 0) == {"{}": 0.25}
    # The first bucket starts at 0 (its bound is positive); the +Inf bucket adds nothing past 4.
    assert instant(e, "histogram_fraction(-1, 0.5, h_bucket)", 0) == {"{}": 0.1}
    assert instant(e, "histogram_fraction(3, 100, h_bucket)", 0) == {"{}": 0.1}
    assert instant(e, "histogram_fraction(4, Inf, h_bucket)", 0) == {"{}": 0.2}
    assert instant(e, "histogram_fraction(2, 1, h_bucket)", 0) == {"{}": 0}


def test_histogram_quantiles_labels_each_quantile(make_engine):
    e = make_engine({'h_bucket{le="1", s="a"}': "2", 'h_bucket{le="2", s="a"}': "6",
                     'h_bucket{le="+Inf", s="a"}': "6"})
    assert instant(e, 'histogram_quantiles(h_bucket, "q", 0, 0.5, 1)', 0) == {
        '{q="0.0", s="a"}': 0, '{q="0.5", s="a"}': 1.25, '{q="1.0", s="a"}': 2}
    assert instant(e, 'histogram_quantiles(h_bucket, "s", 0.5)', 0) == {'{s="0.5"}': 1.25}
    with pytest.raises(QueryError, match="same labelset"):
        e.instant('histogram_quantiles(h_bucket{s="a"} or label_replace(h_bucket, "s", "b", "", ""), "s", 0.5)', 0)


def test_min_of_and_max_of_are_go_math_min_and_max(make_engine):
    e = make_engine({})
    assert e.instant("min_of(3, -5)", 0).value[1] == -5 and e.instant("max_of(3, -5)", 0).value[1] == 3
    assert math.isnan(e.instant("min_of(NaN, 3)", 0).value[1])
    assert math.copysign(1, e.instant("max_of(-0, 0)", 0).value[1]) == 1
