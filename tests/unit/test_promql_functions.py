"""Functions: rate & co with extrapolation and counter resets, *_over_time, histograms, math,
labels, dates and ordering, with Prometheus 3's answers."""

from __future__ import annotations

import math

import pytest
from test_promql_support import engine_factory, instant, same, scalar

from engine.promql import QueryError

COUNTERS = {
    'c{s="steady"}': "0+10x10",  # 0, 10, ... 100 at 0, 60, ... 600 s
    'c{s="reset"}': "100 110 120 5 15 25 35 3 13 23",
    'c{s="late"}': "_ _ _ _ _ _ 1 2 3 4",  # a counter that appears at 6m
    'c{s="one"}': "_ _ _ _ _ _ _ _ _ 7",
}


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def test_increase_extrapolates_to_the_window_edges(make_engine):
    e = make_engine(COUNTERS)
    # (0, 300]: samples 60..300; 60 s to the start is within 1.1 average intervals: extrapolate.
    assert instant(e, 'increase(c{s="steady"}[5m])', 300) == {'{s="steady"}': 50}
    assert instant(e, 'rate(c{s="steady"}[5m])', 300) == {'{s="steady"}': 50 / 300}
    # (30, 330]: 30 s to each edge, both extrapolated.
    assert instant(e, 'increase(c{s="steady"}[5m])', 330) == {'{s="steady"}': 50}


def test_counter_resets_add_the_value_before_the_reset(make_engine):
    e = make_engine(COUNTERS)
    # (270, 570]: 25 35 | 3 13 23 -> 23 - 25 + 35 = 33, extrapolated by (240+30+30)/240.
    assert instant(e, 'increase(c{s="reset"}[5m])', 570) == {'{s="reset"}': 41.25}
    assert instant(e, 'rate(c{s="reset"}[5m])', 570) == {'{s="reset"}': 0.1375}
    assert instant(e, 'resets(c{s="reset"}[10m])', 570) == {'{s="reset"}': 2}
    assert instant(e, 'irate(c{s="reset"}[5m])', 450) == {'{s="reset"}': 3 / 60}  # 35 -> 3: a reset
    assert instant(e, 'idelta(c{s="reset"}[5m])', 450) == {'{s="reset"}': -32}
    # delta() is for gauges: no reset handling.
    assert instant(e, 'delta(c{s="reset"}[5m])', 570) == {'{s="reset"}': -2 * 1.25}


def test_extrapolation_stops_half_an_interval_out_and_at_the_zero_point(make_engine):
    e = make_engine(COUNTERS)
    # (270, 570]: 1 2 3 4 at 360..540. The start is 90 s away (> 1.1 intervals): extrapolate by
    # half an interval (30 s). Prometheus 3 only then applies the zero-point limit (60 s away, not
    # closer), so 3 * (180+30+30)/180 = 4; Prometheus 2 clamped first and answered 4.5.
    assert instant(e, 'increase(c{s="late"}[5m])', 570) == {'{s="late"}': 4}
    # (-30, 570]: 1 2 3 4 ... the counter's zero point (60 s before 1) is further than 30 s.
    assert instant(e, 'increase(c{s="late"}[10m])', 570) == {'{s="late"}': 4}


def test_the_zero_point_limits_extrapolation_of_a_young_counter(make_engine):
    e = make_engine({'c{s="young"}': "_ _ 1 11 21"})
    # (-30, 270]: 1 11 21 at 120..240. Start 150 s away -> 30 s; the zero point is 120*(1/20) = 6 s
    # before the first sample, closer: (120 + 6 + 30) / 120 * 20 = 26.
    assert instant(e, "increase(c[5m])", 270) == {'{s="young"}': 26}


def test_rate_needs_two_samples(make_engine):
    e = make_engine(COUNTERS)
    assert instant(e, 'rate(c{s="one"}[5m])', 570) == {}
    assert instant(e, 'irate(c{s="one"}[5m])', 570) == {}
    assert instant(e, 'deriv(c{s="one"}[5m])', 570) == {}
    assert instant(e, 'resets(c{s="one"}[5m])', 570) == {'{s="one"}': 0}


def test_rate_in_a_range_query_matches_instant_queries(make_engine):
    e = make_engine(COUNTERS)
    result = e.range("rate(c[3m])", 0, 600, 30)
    by_series = {s.labels["s"]: dict(s.points) for s in result.value}
    for t in range(0, 601, 30):
        expected = instant(e, "rate(c[3m])", t)
        for s, points in by_series.items():
            key = f'{{s="{s}"}}'
            assert points.get(t) == expected.get(key), (s, t)
    assert all("__name__" not in s.labels for s in result.value)


def test_deriv_and_predict_linear_use_least_squares(make_engine):
    e = make_engine({'g{s="line"}': "0+10x10", 'g{s="flat"}': "3x10", 'g{s="inf"}': "Inf Inf Inf"})
    assert instant(e, 'deriv(g{s="line"}[5m])', 600) == {'{s="line"}': 10 / 60}
    assert instant(e, 'predict_linear(g{s="line"}[5m], 60)', 600) == {'{s="line"}': 110}
    assert instant(e, 'predict_linear(g{s="line"}[5m], 60)', 630) == {'{s="line"}': 115}
    assert instant(e, 'deriv(g{s="flat"}[5m])', 600) == {'{s="flat"}': 0}
    assert instant(e, 'predict_linear(g{s="flat"}[5m], 3600)', 600) == {'{s="flat"}': 3}
    assert math.isnan(instant(e, 'deriv(g{s="inf"}[5m])', 120)['{s="inf"}'])


def test_aggregations_over_time(make_engine):
    e = make_engine({'g{s="a"}': "1 -2 3.5 NaN 7", 'g{s="b"}': "1 2 3 4 5", 'g{s="inf"}': "1 Inf 2"})
    at = 240  # (-60, 240]: every sample
    assert instant(e, 'count_over_time(g{s="a"}[5m])', at) == {'{s="a"}': 5}
    assert instant(e, 'last_over_time(g{s="a"}[5m])', at) == {'g{s="a"}': 7}  # keeps the name
    assert instant(e, 'min_over_time(g{s="a"}[5m])', at) == {'{s="a"}': -2}
    assert instant(e, 'max_over_time(g{s="a"}[5m])', at) == {'{s="a"}': 7}
    assert math.isnan(instant(e, 'sum_over_time(g{s="a"}[5m])', at)['{s="a"}'])
    assert instant(e, 'sum_over_time(g{s="b"}[5m])', at) == {'{s="b"}': 15}
    assert instant(e, 'avg_over_time(g{s="b"}[5m])', at) == {'{s="b"}': 3}
    assert instant(e, 'avg_over_time(g{s="inf"}[5m])', 120) == {'{s="inf"}': math.inf}
    assert instant(e, 'stdvar_over_time(g{s="b"}[5m])', at) == {'{s="b"}': 2}
    assert instant(e, 'stddev_over_time(g{s="b"}[5m])', at) == {'{s="b"}': math.sqrt(2)}
    assert instant(e, 'quantile_over_time(0.5, g{s="b"}[5m])', at) == {'{s="b"}': 3}
    assert instant(e, 'quantile_over_time(0.3, g{s="b"}[5m])', at) == {'{s="b"}': 2.2}
    assert instant(e, 'quantile_over_time(2, g{s="b"}[5m])', at) == {'{s="b"}': math.inf}
    assert instant(e, 'present_over_time(g{s="b"}[1m])', at) == {'{s="b"}': 1}
    assert instant(e, 'changes(g{s="a"}[5m])', at) == {'{s="a"}': 4}
    assert instant(e, 'changes(g{s="b"}[30s])', at) == {'{s="b"}': 0}
    # sum_over_time is a compensated sum: 0.1 + 0.2 + 0.3 is exactly 0.6, not 0.6000000000000001.
    e2 = make_engine({"t": "0.1 0.2 0.3"})
    assert instant(e2, "sum_over_time(t[5m])", 120) == {"{}": 0.6}


def test_absent_and_absent_over_time_take_labels_from_equality_matchers(make_engine):
    e = make_engine({'up{job="api"}': "1 1 1"})
    assert instant(e, 'absent(up{job="api"})', 60) == {}
    assert instant(e, 'absent(nope{job="api", instance=~"a.*", env="prod"})', 60) == {'{env="prod", job="api"}': 1}
    assert instant(e, 'absent(nope{job="a", job="b"})', 60) == {"{}": 1}
    assert instant(e, "absent(sum(nope))", 60) == {"{}": 1}
    assert instant(e, 'absent_over_time(up{job="api"}[1m])', 150) == {}
    assert instant(e, 'absent_over_time(up{job="api"}[1m])', 181) == {'{job="api"}': 1}
    result = e.range('absent(up{job="api"})', 0, 600, 60)
    assert [(s.labels, s.points) for s in result.value] == [({"job": "api"}, [(420, 1), (480, 1), (540, 1), (600, 1)])]


BUCKETS = {
    'lat_bucket{le="0.1", r="a"}': "10",
    'lat_bucket{le="0.5", r="a"}': "30",
    'lat_bucket{le="1", r="a"}': "40",
    'lat_bucket{le="+Inf", r="a"}': "50",
    'lat_bucket{le="1", r="no_inf"}': "5",
    'lat_bucket{le="+Inf", r="empty"}': "0",
    'lat_bucket{le="1", r="empty"}': "0",
    'lat_bucket{le="+Inf", r="only_inf"}': "10",
    'lat_bucket{le="0.5", r="dip"}': "20",
    'lat_bucket{le="1", r="dip"}': "15",  # not monotonic: treated as 20
    'lat_bucket{le="+Inf", r="dip"}': "40",
    'lat_bucket{le="-1", r="neg"}': "5",
    'lat_bucket{le="+Inf", r="neg"}': "10",
    'lat_bucket{le="oops", r="bad"}': "1",
}


def test_histogram_quantile_on_classic_buckets(make_engine):
    e = make_engine(BUCKETS)
    got = instant(e, "histogram_quantile(0.5, lat_bucket)", 0)
    assert got['{r="a"}'] == 0.1 + (0.5 - 0.1) * (15 / 20)
    assert math.isnan(got['{r="no_inf"}'])  # no +Inf bucket
    assert math.isnan(got['{r="empty"}'])  # no observations
    assert math.isnan(got['{r="only_inf"}'])  # fewer than two buckets
    assert got['{r="dip"}'] == 0.5  # 15 after 20 counts as 20: the median is the 0.5 bound
    assert got['{r="neg"}'] == -1  # the rank falls in the lowest bucket, whose bound is <= 0
    assert '{r="bad"}' not in got  # an unparsable le is ignored
    assert all(not k.startswith("lat_bucket") for k in got)


@pytest.mark.parametrize("name", ["histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev",
                                  "histogram_stdvar"])
def test_native_histogram_functions_ignore_float_samples(make_engine, name):
    """Prometheus answers these with nothing for float series (promtool 2.42 confirms it for
    histogram_count and histogram_sum; the others came later), not with an error."""
    e = make_engine(BUCKETS)
    assert instant(e, f"{name}(lat_bucket)", 0) == {}
    with pytest.raises(QueryError):
        instant(e, f"{name}(1)", 0)  # still type-checked: it takes an instant vector


def test_histogram_quantile_edges(make_engine):
    e = make_engine(BUCKETS)
    a = 'lat_bucket{r="a"}'
    assert instant(e, f"histogram_quantile(0.99, {a})", 0) == {'{r="a"}': 1}  # in +Inf: highest finite bound
    assert instant(e, f"histogram_quantile(0.1, {a})", 0) == {'{r="a"}': 0.05}  # from 0 to 0.1
    assert instant(e, f"histogram_quantile(1.5, {a})", 0) == {'{r="a"}': math.inf}
    assert instant(e, f"histogram_quantile(-1, {a})", 0) == {'{r="a"}': -math.inf}
    assert math.isnan(instant(e, f"histogram_quantile(NaN, {a})", 0)['{r="a"}'])
    assert instant(e, 'histogram_quantile(0.75, lat_bucket{r="dip"})', 0) == {'{r="dip"}': 1}


def test_histogram_quantile_after_rate_and_sum(make_engine):
    series = {f'b_bucket{{le="{le}", i="{i}"}}': f"0+{step * i}x10"
              for i in (1, 2) for le, step in (("0.1", 1), ("1", 3), ("+Inf", 4))}
    e = make_engine(series)
    got = instant(e, "histogram_quantile(0.5, sum by (le) (rate(b_bucket[5m])))", 600)
    # Per second the buckets hold 0.05, 0.15, 0.2: rank 0.1 lies halfway through (0.1, 1].
    assert list(got) == ["{}"] and abs(got["{}"] - 0.55) < 1e-12


def test_math_functions_follow_go_semantics(make_engine):
    e = make_engine({'v{s="a"}': "-3.5", 'v{s="b"}': "-0.5", 'v{s="c"}': "2.5", 'v{s="d"}': "0",
                     'v{s="nan"}': "NaN", 'v{s="inf"}': "Inf"})

    def at(expr):
        return instant(e, expr, 0)

    assert at("abs(v)")['{s="a"}'] == 3.5
    assert same(at("ceil(v)")['{s="b"}'], -0.0)
    assert at("floor(v)")['{s="b"}'] == -1
    rounded = at("round(v)")  # halves round up
    assert (rounded['{s="a"}'], rounded['{s="b"}'], rounded['{s="c"}']) == (-3, 0, 3)
    assert at("round(v, 2)")['{s="c"}'] == 2
    assert at('round(v{s="a"}, 0.2)') == {'{s="a"}': -3.4}
    assert at("sgn(v)")['{s="a"}'] == -1 and at("sgn(v)")['{s="c"}'] == 1 and math.isnan(at("sgn(v)")['{s="nan"}'])
    assert at("ln(v)")['{s="d"}'] == -math.inf and math.isnan(at("ln(v)")['{s="a"}'])
    assert at("log2(v)")['{s="inf"}'] == math.inf and math.isnan(at("sqrt(v)")['{s="a"}'])
    assert at('log2(v{s="c"} * 4 - 2)') == {'{s="c"}': 3}
    assert at('log10(v{s="c"} * 40)') == {'{s="c"}': 2}
    assert at('exp(v{s="d"})') == {'{s="d"}': 1}
    assert at("exp(v * 1000)")['{s="c"}'] == math.inf
    assert at("clamp(v, -1, 1)")['{s="a"}'] == -1 and at("clamp(v, -1, 1)")['{s="c"}'] == 1
    assert math.isnan(at("clamp(v, -1, 1)")['{s="nan"}'])
    assert at("clamp(v, 1, -1)") == {}  # max below min: nothing
    assert at("clamp_min(v, 0)")['{s="a"}'] == 0 and at("clamp_max(v, 0)")['{s="inf"}'] == 0
    assert all(not k.startswith("v") for k in at("abs(v)"))  # functions drop the metric name


def test_logarithms_match_go_to_the_last_bit(make_engine):
    # Values where the C library's log() differs from Go's math.Log (confirmed with promtool).
    e = make_engine({'v{i="1"}': "708.1", 'v{i="2"}': "178.5", 'v{i="3"}': "772.92"})
    assert instant(e, "ln(v)", 0) == {'{i="1"}': 6.562585326657729, '{i="2"}': 5.184588601219694,
                                      '{i="3"}': 6.6501755503468}
    assert instant(e, "log10(v)", 0) == {'{i="1"}': 2.850094594386701, '{i="2"}': 2.251638220448212,
                                         '{i="3"}': 2.888134545203536}
    assert instant(e, 'v{i="2"} ^ 3', 0) == {'{i="2"}': 5687411.625}


def test_time_timestamp_vector_scalar(make_engine):
    e = make_engine({'m{s="a"}': "1 2 3", 'm{s="b"}': "4 5 6"})
    assert scalar(e, "time()", 90.5) == 90.5
    assert instant(e, "timestamp(m)", 150) == {'{s="a"}': 120, '{s="b"}': 120}
    assert instant(e, "timestamp(m + 1)", 150) == {'{s="a"}': 150, '{s="b"}': 150}
    assert instant(e, "vector(time() * 2)", 10) == {"{}": 20}
    assert scalar(e, 'scalar(m{s="a"})', 60) == 2
    assert math.isnan(scalar(e, "scalar(m)", 60))  # two elements
    assert math.isnan(scalar(e, "scalar(nope)", 60))


def test_label_replace_uses_go_regexp_expansion(make_engine):
    e = make_engine({'up{job="api-1", instance="h:9100"}': "1"})

    def labels(expr):
        result = e.instant(expr, 0).value
        return [s.labels for s in result]

    base = {"__name__": "up", "job": "api-1", "instance": "h:9100"}
    assert labels('label_replace(up, "host", "$1", "instance", "(.*):.*")') == [{**base, "host": "h"}]
    assert labels('label_replace(up, "x", "${1}x$$", "job", "(.*)-.*")') == [{**base, "x": "apix$"}]
    assert labels('label_replace(up, "x", "$1x", "job", "(.*)-.*")') == [base]  # group "1x": empty
    assert labels('label_replace(up, "x", "$name", "job", "(?P<name>[a-z]+).*")') == [{**base, "x": "api"}]
    assert labels('label_replace(up, "x", "y", "job", "api")') == [base]  # anchored: no match
    assert labels('label_replace(up, "job", "", "job", ".*")') == [{"__name__": "up", "instance": "h:9100"}]
    assert labels('label_replace(up, "__name__", "renamed", "job", ".*")') == [{**base, "__name__": "renamed"}]
    with pytest.raises(QueryError) as err:
        e.instant('label_replace(up, "x", "y", "job", "(")', 0)
    assert err.value.error_type == "execution" and "invalid regular expression in label_replace()" in err.value.message


def test_label_join_and_label_collisions(make_engine):
    e = make_engine({'up{a="1", b="2"}': "1", 'up{a="1", b="3"}': "2"})
    result = e.instant('label_join(up, "ab", "-", "a", "b", "missing")', 0).value
    assert sorted(s.labels["ab"] for s in result) == ["1-2-", "1-3-"]
    with pytest.raises(QueryError) as err:
        e.instant('label_replace(up, "b", "same", "b", ".*")', 0)
    assert err.value.message == "vector cannot contain metrics with the same labelset"


def test_sort_orders_instant_results_with_nan_last(make_engine):
    e = make_engine({'m{s="a"}': "3", 'm{s="b"}': "NaN", 'm{s="c"}': "1", 'm{s="d"}': "2"})
    assert [s.labels["s"] for s in e.instant("sort(m)", 0).value] == ["c", "d", "a", "b"]
    assert [s.labels["s"] for s in e.instant("sort_desc(m)", 0).value] == ["a", "d", "c", "b"]


def test_date_functions_in_utc(make_engine):
    e = make_engine({})
    leap_day = 1709164800  # 2024-02-29T00:00:00Z, a Thursday
    for fn, expected in (("year", 2024), ("month", 2), ("day_of_month", 29), ("day_of_year", 60),
                         ("days_in_month", 29), ("day_of_week", 4), ("hour", 0), ("minute", 0)):
        assert instant(e, f"{fn}(vector({leap_day}))", 0) == {"{}": expected}, fn
    assert instant(e, "hour(vector(1700000000))", 0) == {"{}": 22}  # 2023-11-14T22:13:20Z
    assert instant(e, "minute(vector(1700000000))", 0) == {"{}": 13}
    assert instant(e, "days_in_month(vector(1900000000))", 0) == {"{}": 31}  # 2030-03
    assert instant(e, "year(vector(-1))", 0) == {"{}": 1969}
    assert instant(e, "day_of_week()", 86400 * 3) == {"{}": 0}  # 1970-01-04 was a Sunday


def test_trigonometry_answers_as_go_does_outside_the_domains(make_engine):
    e = make_engine({'v{k="half"}': "0.5", 'v{k="two"}': "2", 'v{k="one"}': "1", 'v{k="big"}': "1000"})
    assert instant(e, "asin(v)", 0)['{k="two"}'] != instant(e, "asin(v)", 0)['{k="two"}']  # NaN, not an error
    assert instant(e, "atanh(v)", 0)['{k="one"}'] == math.inf
    assert instant(e, "cosh(v)", 0)['{k="big"}'] == math.inf
    assert instant(e, "sinh(-v)", 0)['{k="big"}'] == -math.inf
    assert instant(e, "deg(v)", 0)['{k="one"}'] == 180 / math.pi
    assert instant(e, "sin(v)", 0)['{k="half"}'] == math.sin(0.5)
    assert scalar(e, "pi()", 0) == math.pi


def test_first_and_mad_over_time(make_engine):
    e = make_engine({"m": "1 2 4 8 16", "n": "1 NaN 3"})
    # (90 s, 270 s] holds the samples at 120, 180, 240; the name stays, as with last_over_time
    assert instant(e, "first_over_time(m[3m])", 270) == {"m{}": 4}
    # median of 1 2 4 8 16 is 4; of the deviations 3 2 0 4 12, 3
    assert instant(e, "mad_over_time(m[5m])", 270) == {"{}": 3}
    assert math.isnan(instant(e, "mad_over_time(n[5m])", 150)["{}"])


def test_type_and_unit_labels_go_with_the_name(make_engine):
    e = make_engine({'m{__type__="counter", __unit__="bytes", a="1"}': "5"})
    assert instant(e, "-m", 0) == {'{a="1"}': -5}
