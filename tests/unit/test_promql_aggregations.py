"""Aggregation operators with by/without, NaN and ±Inf, exact float sums, topk ties, count_values."""

from __future__ import annotations

import math

import pytest
from test_promql_support import engine_factory, instant

from engine.promql import QueryError

REQ = {
    'req{job="api", instance="1", method="get"}': "10",
    'req{job="api", instance="2", method="get"}': "20",
    'req{job="api", instance="1", method="post"}': "3",
    'req{job="db", instance="1", method="get"}': "80",
}


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def test_by_and_without_choose_the_output_labels(make_engine):
    e = make_engine(REQ)
    assert instant(e, "sum by (job) (req)", 0) == {'{job="api"}': 33, '{job="db"}': 80}
    assert instant(e, "sum(req) by (job, method)", 0) == {
        '{job="api", method="get"}': 30, '{job="api", method="post"}': 3, '{job="db", method="get"}': 80}
    assert instant(e, "sum without (instance, method) (req)", 0) == {'{job="api"}': 33, '{job="db"}': 80}
    assert instant(e, "sum(req)", 0) == {"{}": 113}
    assert instant(e, "sum by (nope) (req)", 0) == {"{}": 113}
    assert instant(e, "sum by (__name__) (req)", 0) == {"req{}": 113}
    assert instant(e, "max without () (req)", 0)['{instance="1", job="db", method="get"}'] == 80


def test_each_aggregation(make_engine):
    e = make_engine(REQ)
    assert instant(e, "avg by (job) (req)", 0) == {'{job="api"}': 11, '{job="db"}': 80}
    assert instant(e, "min(req)", 0) == {"{}": 3}
    assert instant(e, "max(req)", 0) == {"{}": 80}
    assert instant(e, "count by (method) (req)", 0) == {'{method="get"}': 3, '{method="post"}': 1}
    assert instant(e, "group by (job) (req)", 0) == {'{job="api"}': 1, '{job="db"}': 1}
    assert instant(e, 'stdvar(req{job="api"})', 0) == {"{}": 146 / 3}
    # Welford's running variance, as Prometheus computes it (a two-pass formula ends in ...348).
    assert instant(e, 'stddev(req{method="get"})', 0) == {"{}": 30.912061651652344}
    assert instant(e, "quantile(0.5, req)", 0) == {"{}": 15}
    assert instant(e, "quantile by (job) (0.9, req)", 0) == {'{job="api"}': 18, '{job="db"}': 80}
    assert instant(e, "quantile(1.5, req)", 0) == {"{}": math.inf}
    assert instant(e, "quantile(-0.5, req)", 0) == {"{}": -math.inf}


def test_nan_and_infinities(make_engine):
    e = make_engine({'g{s="1"}': "1", 'g{s="nan"}': "NaN", 'g{s="inf"}': "Inf", 'g{s="-inf"}': "-Inf"})
    assert math.isnan(instant(e, "sum(g)", 0)["{}"])
    assert instant(e, 'sum(g{s=~"1|inf"})', 0) == {"{}": math.inf}
    assert math.isnan(instant(e, 'sum(g{s=~"inf|-inf"})', 0)["{}"])
    assert instant(e, 'avg(g{s=~"1|inf"})', 0) == {"{}": math.inf}
    assert instant(e, "max(g)", 0) == {"{}": math.inf}  # NaN only wins when alone
    assert instant(e, "min(g)", 0) == {"{}": -math.inf}
    assert math.isnan(instant(e, 'max(g{s="nan"})', 0)["{}"])
    assert instant(e, 'max(g{s=~"nan|1"})', 0) == {"{}": 1}
    assert math.isnan(instant(e, 'stddev(g{s=~"1|inf"})', 0)["{}"])
    assert math.isnan(instant(e, 'stdvar(g{s=~"nan|1"})', 0)["{}"])
    assert instant(e, "count(g)", 0) == {"{}": 4}


def test_sums_are_compensated_like_prometheus(make_engine):
    e = make_engine({'x{i="1"}': "0.1", 'x{i="2"}': "0.2", 'x{i="3"}': "0.3", 'y{i="1"}': "1e100",
                     'y{i="2"}': "1", 'y{i="3"}': "-1e100"})
    assert instant(e, "sum(x)", 0) == {"{}": 0.6}  # a naive sum gives 0.6000000000000001
    assert instant(e, "avg(x)", 0) == {"{}": 0.2}
    assert instant(e, "sum(y)", 0) == {"{}": 1}  # Neumaier keeps the 1 that plain addition loses


def test_an_average_that_would_overflow_switches_to_an_incremental_mean(make_engine):
    e = make_engine({'b{i="1"}': "1e308", 'b{i="2"}': "1e308", 'b{i="3"}': "1e308"})
    assert instant(e, "avg(b)", 0) == {"{}": 1e308}
    assert instant(e, "sum(b)", 0) == {"{}": math.inf}


def test_topk_and_bottomk_keep_the_input_labels(make_engine):
    e = make_engine(REQ)
    top = e.instant("topk(2, req)", 0).value
    assert [(s.labels["instance"], s.labels["method"], s.value) for s in top] == [("1", "get", 80), ("2", "get", 20)]
    assert all(s.labels["__name__"] == "req" for s in top)
    assert instant(e, "bottomk by (job) (1, req)", 0) == {
        'req{instance="1", job="api", method="post"}': 3, 'req{instance="1", job="db", method="get"}': 80}
    assert instant(e, "topk(0, req)", 0) == {}
    assert len(instant(e, "topk(100, req)", 0)) == 4
    assert len(instant(e, "topk(2.9, req)", 0)) == 2  # k is truncated


def test_topk_breaks_ties_like_go_s_heap(make_engine):
    e = make_engine({'t{i="1"}': "5", 't{i="2"}': "5", 't{i="3"}': "5", 't{i="4"}': "7", 't{i="5"}': "NaN"})
    assert set(instant(e, "topk(1, t)", 0)) == {'t{i="4"}'}
    # i1 and i2 fill the heap, 7 replaces its root i1, i3 and NaN never beat the smallest.
    assert set(instant(e, "topk(2, t)", 0)) == {'t{i="4"}', 't{i="2"}'}
    assert set(instant(e, "bottomk(2, t)", 0)) == {'t{i="1"}', 't{i="2"}'}
    assert set(instant(e, "bottomk(5, t)", 0)) == {f't{{i="{i}"}}' for i in range(1, 6)}
    assert math.isnan(e.instant("topk(5, t)", 0).value[-1].value)  # NaN sorts last


def test_topk_over_a_range_keeps_each_series_where_it_was_selected(make_engine):
    e = make_engine({'t{i="1"}': "1 5 1", 't{i="2"}': "2 2 2"})
    result = e.range("topk(1, t)", 0, 120, 60)
    assert {s.labels["i"]: s.points for s in result.value} == {"1": [(60, 5)], "2": [(0, 2), (120, 2)]}


def test_topk_parameter_errors(make_engine):
    e = make_engine(REQ)
    for expr, message in (("topk(scalar(nope), req)", "Parameter value is NaN"),
                          ("topk(1e20, req)", "Scalar value 1e+20 overflows int64")):
        with pytest.raises(QueryError) as err:
            e.instant(expr, 0)
        assert (err.value.error_type, err.value.message) == ("execution", message)


def test_count_values(make_engine):
    e = make_engine({'v{i="1"}': "1", 'v{i="2"}': "1", 'v{i="3"}': "2.5", 'v{i="4"}': "1e21", 'v{i="5"}': "NaN"})
    assert instant(e, 'count_values("value", v)', 0) == {
        '{value="1"}': 2, '{value="2.5"}': 1, '{value="1000000000000000000000"}': 1, '{value="NaN"}': 1}
    # The value label replaces a label of the same name, unless without() removes it.
    assert instant(e, 'count_values("i", v)', 0) == {
        '{i="1"}': 2, '{i="2.5"}': 1, '{i="1000000000000000000000"}': 1, '{i="NaN"}': 1}
    assert instant(e, 'count_values without (i) ("i", v)', 0) == {"{}": 5}
    with pytest.raises(QueryError) as err:
        e.instant('count_values("", v)', 0)
    assert err.value.message == 'invalid label name ""'


def test_aggregating_a_range_query(make_engine):
    e = make_engine({'m{i="1"}': "1 2 _ _ _ _ _ _", 'm{i="2"}': "10 20 30 40 50 60 70 80"})
    result = e.range("sum(m)", 0, 420, 60)
    # m{i="1"} is looked back for five minutes after its last sample (60 s), up to 359 s.
    assert result.value[0].points == [(0, 11), (60, 22), (120, 32), (180, 42), (240, 52), (300, 62),
                                      (360, 70), (420, 80)]
