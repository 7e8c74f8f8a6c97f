"""Series notation, durations and Go-style text as promtool 2.42 reads and prints them.

The expected expansions were checked against promtool itself (a series' samples read back one by one).
"""

from __future__ import annotations

import math

import pytest

from engine.compat.durations import DurationError, format_duration, parse_duration
from engine.compat.strconv import format_float, quote
from engine.promql.format import labels_string
from engine.tsdb.types import is_stale
from engine.unittest.notation import NotationError, canonical, parse_metric, parse_series


def values(text: str) -> list[float | None]:
    return parse_series(f"x {text}").values


@pytest.mark.parametrize(("text", "expected"), [
    ("1+2x3", [1, 3, 5, 7]),
    ("1-2x3", [1, -1, -3, -5]),
    ("1x3", [1, 1, 1, 1]),
    ("_", [None]),
    ("_x3", [None, None, None]),
    ("_x0 1x0 2", [1, 2]),
    ("0x2", [0, 0, 0]),  # not hexadecimal: 0 repeated
    ("1e3x1 .5 1. +2 -2", [1000, 1000, 0.5, 1, 2, -2]),
    ("Inf+1x1 -Inf", [math.inf, math.inf, -math.inf]),
    ("  1   2  ", [1, 2]),
    ("", []),
])
def test_expanding_notation(text, expected):
    assert values(text) == expected


def test_steps_are_added_one_at_a_time_like_go():
    assert values("0.1+0.1x2") == [0.1, 0.2, 0.30000000000000004]


def test_stale_is_the_staleness_marker_and_nan_is_a_value():
    stale, nan = values("stale NaN")
    assert is_stale(stale)
    assert math.isnan(nan) and not is_stale(nan)


@pytest.mark.parametrize("text", ["Infx2", "1+Infx2", "1+2", "1 + 2", "x3", "1x", "stalex2", "1,2", "1_000",
                                  "1ex2", "1x2.5", "abc", "{{schema:1}}"])
def test_bad_values_are_refused(text):
    with pytest.raises(NotationError):
        values(text)


def test_an_error_says_where():
    with pytest.raises(NotationError, match=r"bad value 'a' at column 5"):
        parse_series("x 1 a 3")


def test_series_and_values_need_a_space_between_them():
    with pytest.raises(NotationError, match="space"):
        parse_series('x{a="1"}1')
    with pytest.raises(NotationError):
        parse_series('x {a="1"} 1')


@pytest.mark.parametrize(("text", "expected"), [
    ('up{job="api"}', (("__name__", "up"), ("job", "api"))),
    ('{job="api"}', (("job", "api"),)),
    ("a:b:c", (("__name__", "a:b:c"),)),
    ('sum{by="1", on="2",}', (("__name__", "sum"), ("by", "1"), ("on", "2"))),
    (' x { b = "1" } ', (("__name__", "x"), ("b", "1"))),
    ("", ()),
    ("x{}", (("__name__", "x"),)),
    (r'''x{a="q\"\n", b='it\'s', c=`raw\n`}''', (("__name__", "x"), ("a", 'q"\n'), ("b", "it's"), ("c", r"raw\n"))),
    (r'x{a="\u00e9\x41\101"}', (("__name__", "x"), ("a", "éAA"))),
])
def test_metric_notation(text, expected):
    assert parse_metric(text) == expected


@pytest.mark.parametrize("text", ['x{b=~"1"}', "x{", 'x{a="1"', "nan", "x y", r'x{a="\q"}', r'x{a="\'"}',
                                  'x{a="1\n"}', "x{1a=\"b\"}"])
def test_bad_metric_notation_is_refused(text):
    with pytest.raises(NotationError):
        parse_metric(text)


def test_canonical_labels_drop_empty_values_like_prometheus():
    assert canonical(parse_metric('x{a="", b="1"}')) == (("__name__", "x"), ("b", "1"))


@pytest.mark.parametrize(("text", "ms", "printed"), [
    ("0", 0, "0s"),
    ("0s", 0, "0s"),
    ("90s", 90_000, "1m30s"),
    ("1h30m", 5_400_000, "1h30m"),
    ("1d", 86_400_000, "1d"),
    ("14d", 14 * 86_400_000, "2w"),
    ("15d", 15 * 86_400_000, "15d"),
    ("1y", 365 * 86_400_000, "1y"),
    ("1500ms", 1500, "1s500ms"),
])
def test_durations_read_and_print_like_model_duration(text, ms, printed):
    assert parse_duration(text) == ms
    assert format_duration(ms) == printed


@pytest.mark.parametrize("text", ["", "5", "1m1h", "1.5m", "-1m", "1 m"])
def test_bad_durations(text):
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize(("value", "text"), [
    (1, "1E+00"), (28, "2.8E+01"), (0.5, "5E-01"), (0.30000000000000004, "3.0000000000000004E-01"),
    (-3, "-3E+00"), (1e100, "1E+100"), (5e-324, "5E-324"), (-0.0, "-0E+00"),
    (math.nan, "NaN"), (math.inf, "+Inf"), (-math.inf, "-Inf"),
])
def test_floats_print_like_go_format_e(value, text):
    assert format_float(value, "E", -1) == text


def test_labels_print_like_prometheus():
    assert quote('a"b\\c\n\x01é\u00a0') == '"a\\"b\\\\c\\n\\x01é\\u00a0"'
    assert labels_string((("__name__", "up"), ("job", "a"))) == '{__name__="up", job="a"}'
    assert labels_string(()) == "{}"
