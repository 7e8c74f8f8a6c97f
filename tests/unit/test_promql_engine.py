"""The engine's API: result types and their Prometheus JSON, range queries, validation of input,
unsupported features, limits."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import pytest
from test_promql_support import engine_factory

from engine.compat.strconv import format_float_f
from engine.promql import QueryEngine, QueryError, QueryResult, Sample, Series

DATA = {'up{job="api", instance="1"}': "1 1 1 0 0", 'up{job="db", instance="1"}': "1 1 1 1 1",
        'odd{s="a"}': "NaN Inf -Inf 1e21 1e-7"}


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def raises(engine_call, error_type: str) -> str:
    with pytest.raises(QueryError) as err:
        engine_call()
    assert err.value.error_type == error_type, err.value.message
    assert str(err.value) == err.value.message
    return err.value.message


def test_float_formatting_matches_go_strconv():
    cases = {1.0: "1", 0.5: "0.5", -0.0: "-0", 100.0: "100", 1e21: "1000000000000000000000", 1e-7: "0.0000001",
             123456789.125: "123456789.125", 1 / 3: "0.3333333333333333", math.inf: "+Inf", -math.inf: "-Inf",
             math.nan: "NaN", 2.5e-300: "0." + "0" * 299 + "25"}
    for value, text in cases.items():
        assert format_float_f(value) == text


def test_instant_results_and_their_json(make_engine):
    e = make_engine(DATA)
    vector = e.instant('up{job="api"}', 60)
    assert vector == QueryResult("vector", [Sample({"__name__": "up", "job": "api", "instance": "1"}, 1.0)], 60.0)
    assert vector.to_prometheus() == {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "instance": "1", "job": "api"}, "value": [60, "1"]}]}
    assert e.instant("sum(up)", 60.5).to_prometheus() == {"resultType": "vector", "result": [
        {"metric": {}, "value": [60.5, "2"]}]}
    assert e.instant("1 / 3", 0).to_prometheus() == {"resultType": "scalar", "result": [0, "0.3333333333333333"]}
    assert e.instant('"hello"', 7).to_prometheus() == {"resultType": "string", "result": [7, "hello"]}
    matrix = e.instant('up{job="db"}[2m]', 120)
    assert matrix.result_type == "matrix"
    assert matrix.to_prometheus()["result"] == [
        {"metric": {"__name__": "up", "instance": "1", "job": "db"}, "values": [[60, "1"], [120, "1"]]}]
    odd = [e.instant("odd", t).to_prometheus()["result"][0]["value"][1] for t in (0, 60, 120, 180, 240)]
    assert odd == ["NaN", "+Inf", "-Inf", "1000000000000000000000", "0.0000001"]


def test_range_queries_return_matrices_sorted_by_labels(make_engine):
    e = make_engine(DATA)
    result = e.range("up == 1", 0, 240, 60)
    assert result.result_type == "matrix"
    assert [(s.labels["job"], s.points) for s in result.value] == [
        ("api", [(0, 1), (60, 1), (120, 1)]), ("db", [(0, 1), (60, 1), (120, 1), (180, 1), (240, 1)])]
    assert result.to_prometheus()["result"][0]["values"] == [[0, "1"], [60, "1"], [120, "1"]]
    scalar = e.range("time() * 2", 0, 120, 60)
    assert scalar.value == [Series({}, [(0, 0), (60, 120), (120, 240)])]
    assert e.range("up", 30, 30, 10).value[0].points == [(30, 1)]  # start == end: one step
    assert [p[0] for p in e.range("vector(1)", 0, 100, 30).value[0].points] == [0, 30, 60, 90]
    assert e.range("nothing", 0, 100, 10).value == []


def test_a_step_given_in_milliseconds_is_kept(make_engine):
    e = make_engine({})
    assert [t for t, _ in e.range("time()", 0, 3, 1.001).value[0].points] == [0, 1.001, 2.002]


def test_fast_json_encoding_is_byte_identical_to_json_dumps(make_engine):
    """Matrices are written as text directly (msgspec's float digits, ".0" trimmed, exponents and
    non-finite values the slow way): the bytes must be those of json.dumps of to_prometheus."""
    e = make_engine({**DATA, 'w{k="<\\u00e9>"}': "0.5 -0 100 123456789.125 3"})
    queries = [("up", 0, 240, 60), ("odd", 0, 240, 60), ("w", 0, 240, 60), ("w / 3", 0, 240, 7.5),
               ("odd * 0 or w", 0, 240, 60), ("time() * 2", 0.5, 120.25, 0.25), ("nothing", 0, 60, 30)]
    for query in queries:
        result = e.range(*query)
        assert result.to_json() == json.dumps(result.to_prometheus(), separators=(",", ":")).encode(), query
    for result in (e.instant("odd", 240), e.instant("w[5m]", 240), e.instant("1 / 3", 0)):
        assert result.to_json() == json.dumps(result.to_prometheus(), separators=(",", ":")).encode()
    assert b'"values":[[0,"0.5"],[60,"-0"],[120,"100"],[180,"123456789.125"],[240,"3"]]' in e.range(
        "w", 0, 240, 60).to_json()


def test_range_query_parameters_are_checked_like_prometheus(make_engine):
    e = make_engine(DATA)
    assert raises(lambda: e.range("up", 10, 0, 1), "bad_data") == "end timestamp must not be before start time"
    assert "zero or negative query resolution step widths are not accepted" in raises(
        lambda: e.range("up", 0, 10, 0), "bad_data")
    assert "zero or negative" in raises(lambda: e.range("up", 0, 10, -5), "bad_data")
    assert raises(lambda: e.range("up", 0, 11001, 1), "bad_data") == (
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
    assert len(e.range("vector(1)", 0, 11000, 1).value[0].points) == 11001
    assert raises(lambda: e.range("up[5m]", 0, 10, 1), "bad_data") == (
        'invalid expression type "range vector" for range query, must be Scalar or instant Vector')
    assert 'invalid expression type "string"' in raises(lambda: e.range('"x"', 0, 10, 1), "bad_data")
    for bad in (math.nan, math.inf, 1e300):
        assert "to a valid timestamp" in raises(lambda bad=bad: e.instant("up", bad), "bad_data")
        raises(lambda bad=bad: e.range("up", 0, bad, 10), "bad_data")


def test_bad_input_is_bad_data_with_the_parser_s_message(make_engine):
    e = make_engine(DATA)
    for expr, fragment in (("sum(rate(up[5m])", "unclosed left parenthesis"),
                           ("no_such_function(up)", 'unknown function with name "no_such_function"'),
                           ("rate(up)", "expected type matrix in call to function 'rate', got vector"),
                           ("abs(up[5m])", "expected type vector in call to function 'abs', got matrix"),
                           ("label_replace(up, 1)", "expected 5 argument(s)"),
                           ("1 > 2", "comparisons between scalars must use BOOL modifier"),
                           ("up and 1", "set operator 'and' not allowed in binary scalar expression"),
                           ('topk("x", up)', "expected type scalar in aggregation expression, got string"),
                           ("up[5x]", "bad number or duration syntax"),
                           ('up{job=~"("}', "error parsing regexp: missing closing ): `^(?s:()$`"),
                           ('up{job=~"(?=x)"}', "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
                           ("", "")):
        message = raises(lambda expr=expr: e.instant(expr, 0), "bad_data")
        assert re.match(r"(\d+:\d+: )?parse error: ", message) and fragment in message, (expr, message)
        raises(lambda expr=expr: e.parse(expr), "bad_data")


def test_features_outside_the_supported_set_are_refused_not_misanswered(make_engine):
    e = make_engine(DATA)
    for expr, message in (("up @ -100", "@ times before 1970 are not supported"),
                          ("info(up)", 'the function "info" is not supported'),  # experimental in Prometheus
                          ('up{job="a" or job="b"}', "'or' between label matchers is not supported")):
        assert raises(lambda expr=expr: e.instant(expr, 0), "bad_data") == message


def test_an_at_time_before_1970_is_refused_without_the_parsers_panic_on_stderr():
    """The parser panics (Rust, printed to stderr: lines that are not JSON in the server's log) when
    asked for such a time; it is refused without asking. ``@ 0`` still reads as 0."""
    code = ("from engine.promql.parse import tools_parser\n"
            "from engine.promql.errors import QueryError\n"
            "p = tools_parser()\n"
            "for q in ('up @ -5', 'up @ - 100', 'rate(up[1m] @ -1)'):\n"
            "    try:\n"
            "        p.parse(q)\n"
            "    except QueryError as exc:\n"
            "        print(exc.message)\n"
            "print(p.parse('up @ 0').at)\n"
            "p.close()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "RUST_BACKTRACE": "0"})
    assert r.stdout.splitlines() == ["@ times before 1970 are not supported"] * 3 + ["0"], r.stderr
    assert r.stderr == ""


def test_parse_returns_a_reusable_tree(make_engine):
    e = make_engine(DATA)
    tree = e.parse("sum by (job) (rate(up[5m]))")
    assert tree.type == "vector" and tree is e.parse("sum by (job) (rate(up[5m]))")
    assert e.parse("1 + 1").type == "scalar"


def test_huge_ranges_and_offsets_do_not_break(make_engine):
    e = make_engine(DATA)
    assert e.instant("count_over_time(up[100y])", 240).value[0].value == 5
    assert e.instant("up offset 100y", 240).value == []
    assert e.instant("rate(up[1ms])", 240).value == []


def test_the_sample_limit_stops_a_query(make_engine):
    e = make_engine(DATA, max_samples=4)
    assert len(e.instant("up", 60).value) == 2
    message = raises(lambda: e.range("up", 0, 240, 60), "execution")
    assert message == "query processing would load too many samples into memory in query execution"
    raises(lambda: e.instant("count_over_time(up[10m])", 240), "execution")


def test_the_timeout_stops_a_query(make_engine):
    e = make_engine(DATA, timeout_s=-1)
    assert raises(lambda: e.instant("up", 0), "timeout") == "query timed out in expression evaluation"


def test_an_engine_over_an_empty_store(make_engine):
    e: QueryEngine = make_engine({})
    assert e.instant("up", 0).value == []
    assert e.instant("sum(up)", 0).value == []
    assert e.instant("absent(up)", 0).value == [Sample({}, 1.0)]
    assert e.instant("count(up) or vector(0)", 0).value == [Sample({}, 0.0)]
