"""Go and Prometheus edge cases of engine.compat: model.Duration, strconv.Quote, strconv.ParseFloat.

Durations were checked against promtool 2.42 (`promtool check rules` with `for:` set to each text)."""

from __future__ import annotations

import math

import pytest

from engine.compat.durations import (
    MAX_MS,
    DurationError,
    DurationRangeError,
    format_duration,
    format_seconds,
    parse_duration,
    seconds_to_ms,
)
from engine.compat.strconv import NumError, invalid_utf8_path, is_valid_utf8, parse_float, quote

YEAR_MS = 365 * 86_400_000


@pytest.mark.parametrize(("text", "ms"), [
    ("0", 0), ("0s", 0), ("1y", YEAR_MS), ("292y", 292 * YEAR_MS), ("292y24w", 292 * YEAR_MS + 24 * 7 * 86_400_000),
    ("106751d23h47m16s854ms", MAX_MS), ("9223372036854ms", MAX_MS), ("0001s", 1000), ("1h30m", 5_400_000),
])
def test_prometheus_durations_within_range(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["293y", "292y25w", "9223372036855ms", "106752d", "99999999999999999999999y",
                                  "1" + "0" * 5000 + "s"])
def test_durations_past_int64_nanoseconds_are_out_of_range(text):
    with pytest.raises(DurationRangeError, match="^duration out of range$"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty duration string"),
    ("1.5h", 'not a valid duration string: "1.5h"'),
    ("5", 'not a valid duration string: "5"'),
    ("1m1h", 'not a valid duration string: "1m1h"'),
    ("-1m", 'not a valid duration string: "-1m"'),
    ("1h\n", 'not a valid duration string: "1h\\n"'),
    ("\u0661s", 'not a valid duration string: "\u0661s"'),  # an Arabic-Indic digit is not [0-9]
    ("5M", 'not a valid duration string: "5M"'),
])
def test_bad_durations_are_refused_as_prometheus_words_it(text, message):
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(("ms", "text"), [
    (0, "0s"), (1, "1ms"), (90_000, "1m30s"), (90_000_000, "1d1h"), (90_000_001, "1d1h1ms"),
    (14 * 86_400_000, "2w"), (90 * 86_400_000, "90d"), (YEAR_MS, "1y"), (MAX_MS, "106751d23h47m16s854ms"),
    (-5, ""),
])
def test_durations_print_like_model_duration_string(ms, text):
    assert format_duration(ms) == text


def test_seconds_round_to_the_millisecond_and_stay_in_range():
    assert format_seconds(1.0015) == "1s2ms"
    assert seconds_to_ms(MAX_MS / 1000) == MAX_MS
    for seconds in (1e300, 1e308, -1e308, math.inf, math.nan, (MAX_MS + 1) / 1000):  # 1e308 s: inf ms
        with pytest.raises(DurationRangeError):
            seconds_to_ms(seconds)


@pytest.mark.parametrize(("text", "quoted"), [
    ("\udc80", '"\\x80"'),  # a byte that is not UTF-8 prints as Go prints it
    ("\x00\a\b\t\n\v\f\r\x1b\x7f", '"\\x00\\a\\b\\t\\n\\v\\f\\r\\x1b\\x7f"'),
    ('"\\', '"\\"\\\\"'),
    ("\u00a0\u200b\u2028", '"\\u00a0\\u200b\\u2028"'),
    ("\U000e0001", '"\\U000e0001"'),
    ("é☃\U0001f600 ", '"é☃\U0001f600 "'),
])
def test_quote_escapes_like_go(text, quoted):
    assert quote(text) == quoted


@pytest.mark.parametrize(("text", "value"), [
    ("0x1p-2", 0.25), ("0X.8P1", 1.0), ("1_000", 1000.0), ("0x_1p0", 1.0), (".5", 0.5), ("5.", 5.0),
    ("inf", math.inf), ("+Inf", math.inf), ("-infinity", -math.inf), ("1e-400", 0.0), ("-0", -0.0),
])
def test_parse_float_reads_what_go_reads(text, value):
    assert parse_float(text) == value


def test_parse_float_nan():
    assert math.isnan(parse_float("NaN")) and math.isnan(parse_float("nan"))


@pytest.mark.parametrize("text", ["1e400", "-1e400", "0x1p2000", "1" + "0" * 400])
def test_parse_float_overflow_is_a_range_error_not_inf(text):
    with pytest.raises(NumError, match="value out of range"):
        parse_float(text)


@pytest.mark.parametrize("text", ["", " 1", "1 ", "0x1", "1__0", "_1", "1_", "+nan", "infinit", "\u0661", "1e", "0x"])
def test_parse_float_refuses_what_go_refuses(text):
    with pytest.raises(NumError, match="invalid syntax"):
        parse_float(text)


def test_utf8_validity_finds_lone_surrogates_by_path():
    assert is_valid_utf8("é\U0001f600") and not is_valid_utf8("a\udc80")
    body = {"name": "ok", "labels": {"team": "a"}, "channels": [{"to": "x"}, {"to": "\ud800"}]}
    assert invalid_utf8_path(body, "") == "channels[1].to"
    assert invalid_utf8_path({"labels": {"\udc80": "v"}}, "") == "labels"
    assert invalid_utf8_path({"labels": {"k": "v"}, "n": 1.5}, "") is None
