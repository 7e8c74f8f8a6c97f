"""Every step of a range query equals an instant query at that time: the multi-step code paths
(shared windows, moving indexes, per-step matching) agree with the single-step ones."""

from __future__ import annotations

import math

import pytest
from test_promql_support import fill, series_key

from engine.promql import QueryEngine
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store

SERIES = {
    'cnt_total{job="a", i="1"}': "0 5 9 14 2 6 11 15 _ 20 26 30 1 4 8 stale 3 7 12 18 25 33 40 48 55",
    'cnt_total{job="a", i="2"}': "100+7x24",
    'cnt_total{job="b", i="3"}': "_ _ _ _ _ _ 1 3 6 10 15 21 28 36 45 55 66 78 91 105 120 136 153 171 190",
    'g{job="a", i="1"}': "1 -2 3.5 NaN 7 Inf 2 2 2 -Inf 9 1 4 4 4 _ _ 8 5 3 0 -0 6 7 stale",
    'g{job="b", i="3"}': "10 20 30 20 10 0 -10 -20 -30 -20 -10 0 10 20 30 20 10 0 -10 -20 -30 -20 -10 0 10",
    'h_bucket{le="0.5", r="x"}': "0+1x24",
    'h_bucket{le="1", r="x"}': "0+3x24",
    'h_bucket{le="+Inf", r="x"}': "0+4x24",
    'info{job="a", version="v1"}': "1x24",
}
# Scraped 20 s after the others, so windows over different timestamp sequences coexist.
SHIFTED = {'cnt_total{job="c", i="4"}': "0+3x24"}

EXPRESSIONS = [
    "cnt_total", "g offset 2m", "g offset -1m", "timestamp(g)",
    "rate(cnt_total[5m])", "increase(cnt_total[3m])", "irate(cnt_total[4m])", "delta(g[4m])", "idelta(g[3m])",
    "resets(cnt_total[10m])", "changes(g[6m])", "deriv(g[5m])", "predict_linear(cnt_total[5m], 300)",
    "avg_over_time(g[4m])", "sum_over_time(g[4m])", "min_over_time(g[4m])", "max_over_time(g[4m])",
    "count_over_time(g[4m])", "last_over_time(g[2m])", "quantile_over_time(0.7, g[5m])",
    "stddev_over_time(g[5m])", "stdvar_over_time(g[5m])", "present_over_time(g[1m])",
    'absent_over_time(g{job="a"}[2m])', 'absent(g{job="a"})', "rate(cnt_total[5m] offset 3m)",
    "sum by (job) (rate(cnt_total[5m]))", "avg(g)", "max without (i) (g)", "min(g)", "count(cnt_total)",
    "group by (job) (g)", "stddev(g)", "stdvar by (job) (cnt_total)", "quantile(0.25, cnt_total)",
    "topk(2, cnt_total)", "bottomk by (job) (1, cnt_total)", 'count_values("v", g)',
    "histogram_quantile(0.9, rate(h_bucket[5m]))", "histogram_quantile(0.5, h_bucket)",
    "g * on(job, i) group_left cnt_total", "cnt_total / on(job) group_left(version) info",
    "info * on(job) group_right cnt_total", "g > 0", "g >= bool 2", "cnt_total % 7 == bool 1",
    "g and on(job) cnt_total > 50", "g unless on(i) cnt_total > 50", "g or cnt_total", "-g", "abs(g)",
    "clamp(g, -5, 5)", "round(g, 3)", "ln(cnt_total + 1)", "2 ^ g", "sort_desc(cnt_total)",
    'label_replace(g, "x", "$1", "i", "(.*)")', 'label_join(cnt_total, "ji", "-", "job", "i")',
    "scalar(sum(g)) * cnt_total", "vector(time()) - 10", "time() - scalar(count(g))", "day_of_week()",
    "minute(timestamp(cnt_total))", "sum(cnt_total) - sum(g)", "max_over_time(rate(cnt_total[5m])[10m:1m])",
    "min_over_time(g[10m:30s])", "max_over_time(g[10m])", "increase(cnt_total[10m])",
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    store = Store(SQLiteBackend(tmp_path_factory.mktemp("consistency")))
    store.open()
    fill(store, SERIES)
    fill(store, SHIFTED, start_ms=20_000)
    yield QueryEngine(store)
    store.backend.close()


def _same_value(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_range_steps_equal_instant_queries(engine, expr):
    start, end, step = 0, 1560, 45
    by_time: dict[float, dict[str, float]] = {}
    for s in engine.range(expr, start, end, step).value:
        for t, v in s.points:
            by_time.setdefault(t, {})[series_key(s.labels)] = v
    for t in range(start, end + 1, step):
        result = engine.instant(expr, t)
        if result.result_type == "scalar":
            expected = {"{}": result.value[1]}
        else:
            expected = {series_key(s.labels): s.value for s in result.value}
        got = by_time.get(t, {})
        assert got.keys() == expected.keys(), (expr, t)
        assert all(_same_value(got[k], expected[k]) for k in got), (expr, t, got, expected)
