"""Subqueries and the @ modifier. Values confirmed with promtool 2.42 (``promtool test rules``;
its windows are closed, so no sample or subquery step sits on a window's start here)."""

from __future__ import annotations

import io
import textwrap

import pytest
from test_promql_support import engine_factory, instant

from engine.promql import QueryError
from engine.unittest import run_files

SERIES = {
    'g{a="x"}': "1 5 2 8 3 9 4 7 6 0 2",  # at 0, 60, ... 600 s
    'c{a="x"}': "0 10 25 30 50 80 85 100 130 140 160",
}


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


@pytest.mark.parametrize(("expr", "t", "expected"), [
    ("max_over_time(rate(c[150s])[5m:1m])", 630, {'{a="x"}': 0.375}),
    ("min_over_time(rate(c[150s])[5m:1m])", 630, {'{a="x"}': 1 / 6}),
    # No step: the evaluation interval (1m here, as promtool's evaluation_interval).
    ("sum_over_time(g[5m:])", 630, {'{a="x"}': 19}),
    ("sum_over_time(g[5m:30s])", 615, {'{a="x"}': 45}),
    ("sum_over_time(g[3m:1m] offset 2m)", 630, {'{a="x"}': 17}),
    ("count_over_time(g[10m:90s])", 630, {'{a="x"}': 7}),
    ("g @ 300", 630, {'g{a="x"}': 9}),
    ("sum_over_time(g[3m:1m] @ 500)", 100, {'{a="x"}': 17}),
    ("rate(c[150s] @ 400 offset 1m)", 0, {'{a="x"}': 0.5}),
    ("g @ start() offset 2m", 630, {'g{a="x"}': 6}),
    ("avg_over_time(deriv(g[150s])[4m:1m] @ end())", 510, {'{a="x"}': 0.004166666666666667}),
])
def test_values_confirmed_by_promtool(make_engine, expr, t, expected):
    e = make_engine(SERIES)
    assert instant(e, expr, t) == pytest.approx(expected, rel=1e-12)


def test_a_subquery_alone_is_a_matrix_at_multiples_of_its_step(make_engine):
    e = make_engine(SERIES)
    result = e.instant("g[5m:1m]", 630)
    assert result.result_type == "matrix"
    (series,) = result.value
    assert series.labels == {"__name__": "g", "a": "x"}
    assert series.points == [(360, 4), (420, 7), (480, 6), (540, 0), (600, 2)]
    # The window is left-open (Prometheus 3): a step on its start is not in it.
    assert [t for t, _ in e.instant("g[5m:1m]", 600).value[0].points] == [360, 420, 480, 540, 600]


def test_the_default_step_is_the_engines_evaluation_interval(make_engine):
    assert instant(make_engine(SERIES), "count_over_time(g[5m:])", 630) == {'{a="x"}': 5}
    e = make_engine(SERIES, evaluation_interval_ms=30_000)
    assert instant(e, "count_over_time(g[5m:])", 630) == {'{a="x"}': 10}
    # Whatever the range query's own step.
    assert [v for _, v in e.range("count_over_time(g[5m:])", 600, 630, 15).value[0].points] == [10, 10, 10]


def test_a_range_query_gives_at_each_step_what_an_instant_query_gives(make_engine):
    e = make_engine(SERIES)
    exprs = ["max_over_time(rate(c[150s])[5m:1m])", "sum_over_time(g[3m:30s] offset 1m)",
             "sum_over_time(g[3m:1m] @ 500)", "g @ end()", "rate(c[2m] @ start())",
             "rate(c[2m] @ end())"]
    for expr in exprs:
        ranged = e.range(expr, 200, 640, 35)  # steps 200 ... 620; end() is 640
        for t in range(200, 621, 35):
            at_t = {k: v for s in ranged.value for pt, v in s.points if pt == t
                    for k in [",".join(f"{a}={b}" for a, b in sorted(s.labels.items()))]}
            start_end = {"start()": "200", "end()": "640"}
            single = expr
            for name, value in start_end.items():
                single = single.replace(name, value)
            want = {",".join(f"{a}={b}" for a, b in sorted(s.labels.items())): s.value
                    for s in e.instant(single, t).value}
            assert at_t == pytest.approx(want, rel=1e-12), (expr, t)


def test_subquery_samples_count_against_the_limit(make_engine):
    e = make_engine(SERIES, max_samples=1000)
    with pytest.raises(QueryError, match="too many samples"):
        e.instant("count_over_time(g[1y:1s])", 630)
    assert instant(e, "count_over_time(g[10m:1s])", 630) == {'{a="x"}': 600}


def test_rules_test_steps_subqueries_by_the_files_evaluation_interval(tmp_path):
    # promtool 2.42 passes this file (a 30 s step: 10 points in (315 s, 615 s], summing to 45).
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent("""\
        evaluation_interval: 30s
        tests:
          - interval: 1m
            input_series:
              - series: 'g{a="x"}'
                values: '1 5 2 8 3 9 4 7 6 0 2'
            promql_expr_test:
              - expr: sum_over_time(g[5m:])
                eval_time: 615s
                exp_samples:
                  - labels: '{a="x"}'
                    value: 45
        """))
    out, err = io.StringIO(), io.StringIO()
    assert run_files([str(path)], out, err) == 0, out.getvalue() + err.getvalue()
