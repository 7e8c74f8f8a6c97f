"""Hostile queries: the guard in front of the parser, the parser's child process, and the deadline
checked inside the evaluator's loops (issue 8, defects 1 and 3)."""

from __future__ import annotations

import time

import pytest
from test_promql_support import engine_factory

from engine.promql import QueryError
from engine.promql.aggregations import aggregate
from engine.promql.binops import set_operation, vector_scalar
from engine.promql.deadline import Deadline
from engine.promql.guard import Limits, check
from engine.promql.parse import Parser
from engine.promql.parser_process import ParserProcess
from engine.rulefiles.loader import RuleLoadError, load_rule_files

DEFAULTS = Limits(65_536, 200)
TYPICAL = [
    'sum by (job) (rate(http_requests_total{status=~"5..", job="api"}[5m]))'
    ' / sum by (job) (rate(http_requests_total[5m])) > 0.05',
    'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="api"}[5m])))',
    '100 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100',
    " or ".join(f'up{{job="j{i}"}}' for i in range(150)),
    "up{" + ",".join(f'l{i}!="v{i}"' for i in range(2000)) + "}",  # matchers are a flat list
    'up{path=~"' + "|".join(f"/p{i}" for i in range(5000)) + '"}',  # a long string is one token
]


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def refused(text: str, limits: Limits = DEFAULTS) -> str:
    with pytest.raises(QueryError) as err:
        check(text, limits)
    assert err.value.error_type == "bad_data"
    return err.value.message


@pytest.mark.parametrize("text", TYPICAL)
def test_real_queries_pass_the_guard_and_parse(text):
    check(text, DEFAULTS)
    Parser().parse(text)


@pytest.mark.parametrize("text", [
    "1" + "-1" * 4000,  # 8 KB: 2.3 GB and 3 s in promql-parser
    "1" + "+1" * 20_000,  # segfaulted the server
    "(" * 20_000 + "1" + ")" * 20_000,  # passed 6 GB
    "-" * 20_000 + "up",  # unary minus nests too: segfault
    "abs(" * 5_000 + "up" + ")" * 5_000,
    "sum(" * 300 + "up" + ")" * 300,
    "up" + " and up" * 300,
    "up{a=\"x\"}" + " or up{a=\"x\"}" * 300,
])
def test_deep_queries_are_refused_naming_the_depth_limit(text):
    assert "QUERY_MAX_DEPTH=200" in refused(text)
    with pytest.raises(QueryError, match="QUERY_MAX_DEPTH"):
        Parser().parse(text)


def test_wide_and_deep_queries_are_refused_on_cost():
    """Each argument is shallow enough, together they would take the parser ~150 MB."""
    arg = "(" * 100 + '"b"' + ")" * 100
    text = 'label_join(up, "a", ",", ' + ", ".join([arg] * 200) + ")"
    assert "units of nesting cost" in refused(text)


def test_length_limit():
    assert "QUERY_MAX_LENGTH=100" in refused("up" + " " * 99, Limits(100, 200))
    check("up" + " " * 98, Limits(100, 200))


def test_brackets_in_strings_and_comments_do_not_count():
    assert check('label_replace(up, "a", "' + "(" * 1000 + '", "b", "(.*)")', DEFAULTS).depth == 1
    assert check("up # " + "(" * 1000 + "\n + 1", DEFAULTS).depth == 1
    assert check("`" + "((" * 500 + "`", DEFAULTS).depth == 0


def test_the_depth_counts_brackets_and_chained_operators():
    assert check("1 + 2 * 3 - 4", DEFAULTS).depth == 3
    assert check("sum(rate(x[5m]))", DEFAULTS).depth == 3
    assert check("f(1 + 1, 2 + 2)", DEFAULTS).depth == 2  # arguments are siblings
    refused("(" * 201 + "1" + ")" * 201)
    check("(" * 200 + "1" + ")" * 200, DEFAULTS)


def test_the_parser_child_process_survives_nothing_it_should_not_and_comes_back():
    """Without the guard in front, the real parser dies on this text (out of memory or stack);
    the child reports it and the next text gets a fresh child."""
    child = ParserProcess(memory_bytes=256 << 20)
    try:
        assert child.survives("sum(rate(x[5m]))")
        assert child.survives("sum(")  # a syntax error is an answer
        assert not child.survives("(" * 6_000 + "1" + ")" * 6_000)
        assert child.survives("up" + " or up" * 100)
    finally:
        child.close()


def test_rule_files_with_too_deep_an_expression_are_refused_at_load(tmp_path):
    path = tmp_path / "deep.yaml"
    expr = "(" * 5_000 + "up" + ")" * 5_000
    path.write_text(f"groups:\n  - name: g\n    rules:\n      - record: deep:up\n        expr: '{expr}'\n")
    with pytest.raises(RuleLoadError) as info:
        load_rule_files([str(path)])
    (error,) = info.value.errors
    assert error.startswith(f"{path}:5:")
    assert "rules[0].expr: could not parse expression" in error and "QUERY_MAX_DEPTH=200" in error


# -- the deadline ---------------------------------------------------------------------------


def expired() -> Deadline:
    return Deadline(time.monotonic() - 1)


def timed_out(call) -> None:
    with pytest.raises(QueryError) as err:
        call()
    assert err.value.error_type == "timeout"


ROWS = [((("__name__", "x"), ("i", str(i))), [float(i)] * 10) for i in range(100)]


def test_loops_stop_on_an_expired_deadline():
    timed_out(lambda: list(expired().paced(range(3), 1)))
    timed_out(lambda: aggregate("sum", ROWS, (), False, None, 10, expired()))
    timed_out(lambda: aggregate("topk", ROWS, (), False, [1.0] * 10, 10, expired()))
    timed_out(lambda: vector_scalar("+", ROWS, [1.0] * 10, False, False, expired()))
    timed_out(lambda: set_operation("or", ROWS, ROWS, False, (), 10, expired()))
    later = Deadline(time.monotonic() + 60)
    assert len(aggregate("sum", ROWS, ("i",), False, None, 10, later)) == 100


def test_queries_stop_at_the_callers_deadline(make_engine):
    e = make_engine({'up{job="api"}': "1 1 1 0 0"})
    assert e.instant("sum(up)", 120).value[0].value == 1.0
    timed_out(lambda: e.instant("sum(up)", 120, deadline=time.monotonic() - 1))
    timed_out(lambda: e.range("rate(up[2m])", 0, 240, 60, deadline=time.monotonic() - 1))


def test_queries_stop_when_their_engine_closes(make_engine):
    """Shutdown: a query still running on a pool thread stops at its next check."""
    e = make_engine({'up{job="api"}': "1 1 1 0 0"})
    e.close()
    with pytest.raises(QueryError) as err:
        e.range("rate(up[2m])", 0, 240, 60)
    assert err.value.error_type == "canceled"


def test_only_texts_the_size_of_real_queries_are_kept_in_the_parse_cache():
    parse = Parser().parse
    short = 'sum(rate(http_requests_total{job="api"}[5m]))'
    assert parse(short) is parse(short)
    long = "label_join(up, " + ", ".join(f'"l{i}"' for i in range(700)) + ")"  # ~6 KB, a large tree
    assert len(long) > 4096 and parse(long) is not parse(long)  # not pinned by the cache


def test_each_parser_keeps_its_own_limits_and_cache():
    """Two Engines in one process: one's QUERY_MAX_DEPTH is not the other's, and a text one parser
    refused is not answered from the other's cache."""
    strict, default = Parser(Limits(DEFAULTS.max_length, 3)), Parser()
    text = "sum(sum(sum(sum(up))))"
    assert default.parse(text) is default.parse(text)
    with pytest.raises(QueryError, match="QUERY_MAX_DEPTH=3"):
        strict.parse(text)
    assert default.parse(text) is not None
