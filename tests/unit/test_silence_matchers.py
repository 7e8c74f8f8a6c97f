"""Alertmanager's matcher syntax, the one parser the API and the console's silence form share."""

from __future__ import annotations

import pytest

from engine.alerts.silences import SilenceError, format_matchers, parse_matcher_list


def pairs(text: str) -> list[tuple[str, str, str]]:
    return [(m.name, m.op, m.value) for m in parse_matcher_list(text)]


def test_quoted_values_lose_their_quotes():
    assert pairs('alertname="DiskFull"') == [("alertname", "=", "DiskFull")]


def test_braces_commas_inside_quotes_and_escapes():
    assert pairs(r'{alertname="Disk, full", dev=~"sd.*", msg!="say \"hi\"", team!~ops}') == [
        ("alertname", "=", "Disk, full"), ("dev", "=~", "sd.*"), ("msg", "!=", 'say "hi"'), ("team", "!~", "ops")]


def test_the_operator_is_the_first_one_after_the_name():
    assert pairs('a="x!=y"') == [("a", "=", "x!=y")]


@pytest.mark.parametrize("text,field", [
    ("a", "matchers[0]"), ('a="b', "matchers"), ("=b", "matchers[0]"), ("a=", "matchers"), ("", "matchers"),
    ('a=x"y"', "matchers[0]"), ('a="b", c', "matchers[1]"), ('a=~"("', "matchers[0].value"),
])
def test_what_cannot_be_read_is_named(text, field):
    with pytest.raises(SilenceError) as err:
        parse_matcher_list(text)
    assert err.value.field == field


def test_formatting_reads_back_the_same():
    text = r'alertname="Disk, full", dev=~"sd.*", msg!="say \"hi\""'
    matchers = [m.to_json() for m in parse_matcher_list(text)]
    assert format_matchers(matchers) == text
    assert [m.to_json() for m in parse_matcher_list(format_matchers(matchers))] == matchers
