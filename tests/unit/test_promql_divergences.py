"""Where round 1 answered differently from Prometheus 3: label names from strings with byte
escapes, regexes with inline flags inside them, parse error positions."""

from __future__ import annotations

import pytest
from test_promql_support import engine_factory, instant

from engine.promql import QueryError


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def test_a_destination_label_name_that_is_not_utf8_is_refused(make_engine):
    e = make_engine({'m{src="a"}': "1"})
    # Go reads "\xff" as the byte 0xff: not UTF-8, so not a label name.
    for expr in (r'label_replace(m, "\xff", "v", "src", "(.*)")', r'label_join(m, "\377", ",", "src")'):
        with pytest.raises(QueryError, match="invalid destination label name in label_(replace|join)\\(\\): \ufffd"):
            e.instant(expr, 0)
    # "\u00ff" is the character ÿ, a valid UTF-8 label name in Prometheus 3.
    assert instant(e, r'label_replace(m, "\u00ff", "v", "src", "(.*)")', 0) == {'m{src="a", ÿ="v"}': 1}
    assert instant(e, 'label_replace(m, "ÿ", "w", "src", "(.*)")', 0) == {'m{src="a", ÿ="w"}': 1}


def test_inline_flags_anywhere_in_a_regex(make_engine):
    e = make_engine({'m{g="production"}': "1", 'm{g="PRODUCT"}': "2", 'm{g="canary"}': "3", 'm{g="aB"}': "4"})
    assert set(instant(e, 'm{g=~"((?i)PRO).*"}', 0)) == {'m{g="production"}', 'm{g="PRODUCT"}'}
    assert set(instant(e, 'm{g=~".*((?i)duc).*"}', 0)) == {'m{g="production"}', 'm{g="PRODUCT"}'}
    assert set(instant(e, 'm{g=~"a(?i)b"}', 0)) == {'m{g="aB"}'}
    assert set(instant(e, 'm{g!~"((?i)PRO).*"}', 0)) == {'m{g="canary"}', 'm{g="aB"}'}
    assert instant(e, 'label_replace(m{g="aB"}, "d", "$1", "g", "((?i)A)B")', 0) == {'m{d="a", g="aB"}': 4}
    # Outside the group the flag does not apply.
    assert instant(e, 'label_replace(m{g="aB"}, "d", "$1", "g", "((?i)A)b")', 0) == {'m{g="aB"}': 4}


@pytest.mark.parametrize(("expr", "message"), [
    # What `promtool check rules` (2.42) prints for each expression.
    ("up{", "1:4: parse error: unexpected end of input inside braces"),
    ("sum(up", "1:7: parse error: unclosed left parenthesis"),
    ("rate(up[5m]", "1:12: parse error: unclosed left parenthesis"),
    ("up @", "1:5: parse error: unexpected end of input in @, expected timestamp"),
    ("up offset", "1:10: parse error: unexpected end of input in offset, expected duration"),
    ("sum(\n  rate(x[5m])\n", "3:1: parse error: unclosed left parenthesis"),
    ('"é" + up{', "1:11: parse error: unexpected end of input inside braces"),  # columns count bytes
    ("nosuchfn(up)", '1:1: parse error: unknown function with name "nosuchfn"'),
    ("x + \n  nosuch (up)\n", '2:3: parse error: unknown function with name "nosuch"'),
    ("histogram_quantile(0.9)", '1:1: parse error: expected 2 argument(s) in call to "histogram_quantile", got 1'),
])
def test_parse_errors_carry_prometheus_positions(make_engine, expr, message):
    e = make_engine({})
    with pytest.raises(QueryError) as err:
        e.instant(expr, 0)
    assert err.value.message == message
