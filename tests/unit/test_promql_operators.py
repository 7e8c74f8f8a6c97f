"""Binary operators: arithmetic, comparisons, set operators, vector matching and its errors."""

from __future__ import annotations

import math

import pytest
from test_promql_support import engine_factory, instant, same, scalar

from engine.promql import QueryError

DATA = {
    'req{job="api", instance="1", method="get"}': "100",
    'req{job="api", instance="2", method="get"}': "200",
    'req{job="api", instance="1", method="post"}': "30",
    'up{job="api", instance="1"}': "1",
    'up{job="api", instance="2"}': "0",
    'info{job="api", version="v1"}': "1",
    'limit{job="api"}': "150",
}


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def error_of(engine, expr: str) -> QueryError:
    with pytest.raises(QueryError) as err:
        engine.instant(expr, 0)
    return err.value


def test_scalar_arithmetic_follows_go(make_engine):
    e = make_engine({})
    assert scalar(e, "1 + 2 * 3 ^ 2 ^ 2", 0) == 163  # ^ is right-associative
    assert scalar(e, "-1 ^ 2", 0) == -1
    assert scalar(e, "7 % 3", 0) == 1 and scalar(e, "-7 % 3", 0) == -1  # Go's math.Mod keeps the sign
    assert scalar(e, "1 / 0", 0) == math.inf and scalar(e, "-1 / 0", 0) == -math.inf
    assert math.isnan(scalar(e, "0 / 0", 0)) and math.isnan(scalar(e, "1 % 0", 0))
    assert scalar(e, "2 ^ -1", 0) == 0.5 and scalar(e, "0 ^ -1", 0) == math.inf
    assert same(scalar(e, "-0 * 1", 0), -0.0)
    assert scalar(e, "1 atan2 1", 0) == math.pi / 4
    assert scalar(e, "2 > bool 1", 0) == 1 and scalar(e, "2 < bool 1", 0) == 0
    assert scalar(e, "NaN == bool NaN", 0) == 0


def test_vector_scalar_arithmetic_drops_the_name(make_engine):
    e = make_engine(DATA)
    assert instant(e, 'req{method="post"} * 2', 0) == {'{instance="1", job="api", method="post"}': 60}
    assert instant(e, '1000 / req{method="post"}', 0) == {'{instance="1", job="api", method="post"}': 1000 / 30}
    assert instant(e, '2 ^ up', 0) == {'{instance="1", job="api"}': 2, '{instance="2", job="api"}': 1}
    assert instant(e, "-up", 0) == {'{instance="1", job="api"}': -1, '{instance="2", job="api"}': -0.0}


def test_comparisons_filter_and_keep_the_name_unless_bool(make_engine):
    e = make_engine(DATA)
    assert instant(e, "req > 100", 0) == {'req{instance="2", job="api", method="get"}': 200}
    assert instant(e, "100 < req", 0) == {'req{instance="2", job="api", method="get"}': 200}  # the vector's value
    assert instant(e, "req >= bool 100", 0) == {'{instance="1", job="api", method="get"}': 1,
                                               '{instance="2", job="api", method="get"}': 1,
                                               '{instance="1", job="api", method="post"}': 0}
    assert instant(e, "up == 0", 0) == {'up{instance="2", job="api"}': 0}
    assert instant(e, "up != bool up", 0) == {'{instance="1", job="api"}': 0, '{instance="2", job="api"}': 0}


def test_one_to_one_matching(make_engine):
    e = make_engine(DATA)
    assert instant(e, 'req{method="get"} / ignoring(method) up', 0) == {
        '{instance="1", job="api"}': 100, '{instance="2", job="api"}': math.inf}
    assert instant(e, 'req{method="get"} * on(instance) up', 0) == {'{instance="1"}': 100, '{instance="2"}': 0}
    assert instant(e, 'req{method="get"} > on(instance) up', 0) == {'{instance="1"}': 100, '{instance="2"}': 200}
    assert instant(e, 'req{method="get"} > ignoring(method) up', 0) == {
        'req{instance="1", job="api"}': 100, 'req{instance="2", job="api"}': 200}
    assert instant(e, "req + up", 0) == {}  # different label sets: no match
    assert instant(e, 'req{method="get"} - ignoring(method) req{method="post"}', 0) == {'{instance="1", job="api"}': 70}


def test_many_to_one_with_group_left_and_extra_labels(make_engine):
    e = make_engine(DATA)
    assert instant(e, "req * on(job, instance) group_left up", 0) == {
        '{instance="1", job="api", method="get"}': 100, '{instance="2", job="api", method="get"}': 0,
        '{instance="1", job="api", method="post"}': 30}
    assert instant(e, "req * on(job) group_left(version) info", 0) == {
        '{instance="1", job="api", method="get", version="v1"}': 100,
        '{instance="2", job="api", method="get", version="v1"}': 200,
        '{instance="1", job="api", method="post", version="v1"}': 30}
    # Comparisons keep the left-hand value and (without bool) the many side's name.
    assert instant(e, "req > on(job) group_left limit", 0) == {'req{instance="2", job="api", method="get"}': 200}


def test_one_to_many_with_group_right(make_engine):
    e = make_engine(DATA)
    assert instant(e, "limit - on(job) group_right req", 0) == {
        '{instance="1", job="api", method="get"}': 50, '{instance="2", job="api", method="get"}': -50,
        '{instance="1", job="api", method="post"}': 120}
    # The value of a comparison is still the left-hand side's.
    assert instant(e, "limit > on(job) group_right req", 0) == {
        'req{instance="1", job="api", method="get"}': 150, 'req{instance="1", job="api", method="post"}': 150}


def test_set_operators(make_engine):
    e = make_engine(DATA)
    assert set(instant(e, "req and on(instance) up == 1", 0)) == {
        'req{instance="1", job="api", method="get"}', 'req{instance="1", job="api", method="post"}'}
    assert set(instant(e, "req unless on(instance) up == 1", 0)) == {'req{instance="2", job="api", method="get"}'}
    assert instant(e, 'up or req{method="post"}', 0) == {
        'up{instance="1", job="api"}': 1, 'up{instance="2", job="api"}': 0,
        'req{instance="1", job="api", method="post"}': 30}
    assert instant(e, 'up or on(instance) req', 0) == {
        'up{instance="1", job="api"}': 1, 'up{instance="2", job="api"}': 0}
    assert instant(e, "up and nothing", 0) == {}
    assert len(instant(e, "nothing or up", 0)) == 2
    assert len(instant(e, "up unless nothing", 0)) == 2


def test_set_operators_over_a_range(make_engine):
    e = make_engine({'a{i="1"}': "1 1 1 1", 'b{i="1"}': "_ _ 2 2"}, lookback_ms=30_000)
    result = e.range("a unless b", 0, 180, 60)
    assert result.value[0].points == [(0, 1), (60, 1)]
    result = e.range("b or a", 0, 180, 60)
    assert {s.labels["__name__"]: s.points for s in result.value} == {"a": [(0, 1), (60, 1)], "b": [(120, 2), (180, 2)]}


def test_matching_errors_say_what_prometheus_says(make_engine):
    e = make_engine({**DATA, 'limit{job="api", tier="x"}': "5"})
    err = error_of(e, "req + on(job) limit")  # the two series in label order, as Prometheus 3 has them
    assert err.error_type == "execution"
    assert err.message == (
        'found duplicate series for the match group {job="api"} on the right hand-side of the operation: '
        '[{__name__="limit", job="api"}, {__name__="limit", job="api", tier="x"}];many-to-many matching not '
        "allowed: matching labels must be unique on one side")
    assert "on the left hand-side" in error_of(e, "req - on(job) group_right limit").message
    assert error_of(e, 'req + on(job) limit{tier=""}').message == (
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
    assert error_of(e, 'req{method="get"} + on(job) group_left(instance) up{instance="1"}').message == (
        "multiple matches for labels: grouping labels must ensure unique matches")


def test_dropping_the_name_can_make_labels_collide(make_engine):
    e = make_engine({'foo{i="1"}': "1", 'bar{i="1"}': "2"})
    for expr in ('{__name__=~"foo|bar"} * 2', '-{__name__=~"foo|bar"}', 'abs({__name__=~"foo|bar"})',
                 'count_over_time({__name__=~"foo|bar"}[5m])'):
        assert error_of(e, expr).message == "vector cannot contain metrics with the same labelset", expr
    assert len(instant(e, '{__name__=~"foo|bar"} > 0', 0)) == 2  # a filter keeps the names


def test_collisions_over_a_range_merge_when_times_do_not_overlap(make_engine):
    e = make_engine({'foo{i="1"}': "1 1 _ _", 'bar{i="1"}': "_ _ 2 2"}, lookback_ms=30_000)
    result = e.range('{__name__=~"foo|bar"} * 10', 0, 180, 60)
    assert [(s.labels, s.points) for s in result.value] == [({"i": "1"}, [(0, 10), (60, 10), (120, 20), (180, 20)])]
