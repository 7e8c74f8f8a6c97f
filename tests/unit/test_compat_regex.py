"""Every regex a user supplies runs on RE2 with Go's semantics (engine/compat/regex.py).

The hostile patterns below take Python's backtracking ``re`` longer than the age of the universe on
these inputs while holding the GIL, so each runs in a forked child (``finishes``): before the move
to RE2 these tests failed at their timeout instead of hanging the suite. The answers, not the
speed, are asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_promql_support import engine_factory, instant

from engine.alerts.silences import Silence, SilenceError, parse_matchers
from engine.compat.regex import MAX_PATTERN_LENGTH, RegexError, ResultTooLarge, compile_anchored, quote_meta
from engine.compat.regex import compile as compile_regex
from engine.promql import QueryError
from engine.templating import TemplateData, expand
from engine.templating.errors import TemplateLimitError
from tests.conftest import finishes

LONG = "a" * 60  # ([a-z_]|[a-z_])*Q and (a+)+b try 2**60 ways to fail on it


def _query(tmp: str, series: dict[str, str], expr: str) -> dict[str, float]:
    make_engine = next(engine_factory(Path(tmp)))
    return instant(make_engine(series), expr, 0)


def _render(template: str, labels: dict[str, str]) -> str:
    return expand(template, TemplateData(labels, 1.0, {}, "http://localhost", None), "Hostile")


def _silences(matcher: dict, label_sets: list[dict[str, str]]) -> list[bool]:
    silence = Silence("s", parse_matchers([matcher]), 0.0, 1.0, "me", "", 0.0)
    return [silence.matches(labels) for labels in label_sets]


def test_a_catastrophic_label_matcher_is_answered(tmp_path):
    series = {LONG: "1", "b" * 60 + "Q": "2", "short_q": "3"}
    result = finishes(_query, str(tmp_path), series, '{__name__=~"([a-z_]|[a-z_])*Q"}')
    assert result == {"b" * 60 + "Q{}": 2}


def test_label_replace_with_a_catastrophic_regex_is_answered(tmp_path):
    series = {f'x{{v="{LONG}"}}': "1", 'x{v="aaab"}': "2"}
    result = finishes(_query, str(tmp_path), series, 'label_replace(x, "d", "<$1>", "v", "(a+)+b")')
    assert result == {f'x{{v="{LONG}"}}': 1, 'x{d="<aaa>", v="aaab"}': 2}


def test_template_re_replace_all_with_a_catastrophic_regex_is_answered():
    text = finishes(_render, '{{ reReplaceAll "(a+)+b" "X" $labels.v }}|{{ match "(a+)+b" $labels.v }}',
                    {"v": LONG + " aab"})
    assert text == LONG + " X|true"


def test_a_silence_with_a_catastrophic_regex_is_answered():
    matcher = {"name": "job", "value": "(a+)+b", "isRegex": True, "isEqual": True}
    assert finishes(_silences, matcher, [{"job": LONG}, {"job": "aab"}, {}]) == [False, True, False]


def test_the_console_filter_with_a_catastrophic_regex_is_answered():
    from rich.text import Text

    from console.widgets.table import RowFilter

    def kept(text: str) -> list[bool]:
        row_filter = RowFilter(text)
        return [row_filter.keeps([Text(LONG)]), row_filter.keeps([Text("AAB")])]

    assert finishes(kept, "(a+)+b") == [False, True]
    assert finishes(kept, "!(a+)+b") == [True, False]


def test_completing_a_long_pasted_query_is_answered():
    import asyncio

    from console.widgets.promql_input import PromqlSuggester

    async def values(label: str, metric: str | None) -> list[str]:
        return {"job": ["api", "db"], "__labels__": ["instance", "job"]}.get(label, [])

    def suggest(text: str) -> str | None:
        return asyncio.run(PromqlSuggester(values).get_suggestion(text))

    long = "a" * 100_000  # Python's re took quadratic time on the completion patterns: minutes here
    assert finishes(suggest, long + ' + up{job="a') == long + ' + up{job="api"'
    assert finishes(suggest, "{" + "a," * 50_000 + "jo") == "{" + "a," * 50_000 + "job"


def test_go_only_syntax_works_as_in_prometheus(make_engine):
    e = make_engine({'up{job="api"}': "1", 'up{job="api-gw"}': "2", 'up{job="db"}': "3"})
    assert instant(e, r'up{job=~"ap[[:alpha:]]\\z"}', 0) == {'up{job="api"}': 1}
    assert instant(e, r'up{job=~"(?i)API|\\pL{2}"}', 0) == {'up{job="api"}': 1, 'up{job="db"}': 3}
    assert instant(e, r'label_replace(up, "x", "$1", "job", "\\Q-\\E|api-(\\Q.\\E|gw)")', 0) == {
        'up{job="api"}': 1, 'up{job="api-gw", x="gw"}': 2, 'up{job="db"}': 3}
    assert _render('{{ reReplaceAll "[[:digit:]]+\\\\z" "#" "a1b22" }}', {}) == "a1b#"
    silence = {"name": "job", "value": "[[:alpha:]]+", "isRegex": True, "isEqual": True}
    assert _silences(silence, [{"job": "db"}, {"job": "api-gw"}]) == [True, False]


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def test_a_lookahead_is_refused_with_go_s_error_everywhere(make_engine):
    go_error = "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"
    e = make_engine({'up{job="api"}': "1"})
    with pytest.raises(QueryError) as err:
        e.instant('up{job=~"a(?=p)"}', 0)
    assert err.value.error_type == "bad_data" and err.value.message == f"parse error: {go_error}"
    with pytest.raises(QueryError) as err:
        e.instant('label_replace(up, "x", "y", "job", "a(?=p)")', 0)
    assert err.value.message == "invalid regular expression in label_replace(): a(?=p)"  # Prometheus's text
    with pytest.raises(SilenceError) as silence_err:
        parse_matchers([{"name": "job", "value": "(?=x)x", "isRegex": True}])
    assert silence_err.value.field == "matchers[0].value" and go_error in silence_err.value.message
    for pattern in (r"(a)\1", "(?<=a)b", "(?!a)", "(?>a)", r"\C"):  # backreferences, lookarounds, \C
        with pytest.raises(RegexError):
            compile_regex(pattern)


@pytest.mark.parametrize(("pattern", "message"), [
    ("(", "missing closing ): `(`"),
    ("[a", "missing closing ]: `[a`"),
    ("a)", "unexpected ): `a)`"),
    ("a**", "invalid nested repetition operator: `**`"),
    ("*a", "missing argument to repetition operator: `*`"),
    ("a{1001}", "invalid repeat count: `{1001}`"),
    ("[z-a]", "invalid character class range: `z-a`"),
    (r"\8", r"invalid escape sequence: `\8`"),
    ("\\", "trailing backslash at end of expression: ``"),
    ("(?P<>a)", "invalid named capture: `(?P<>`"),
    ("(?<=a)", "invalid or unsupported Perl syntax: `(?<=`"),
])
def test_compile_errors_are_worded_as_go_words_them(pattern, message):
    with pytest.raises(RegexError) as err:
        compile_regex(pattern)
    assert str(err.value) == f"error parsing regexp: {message}"


def test_a_huge_pattern_is_refused_before_it_can_take_memory():
    compile_regex("a" * MAX_PATTERN_LENGTH)
    with pytest.raises(RegexError, match="expression too large"):
        compile_regex("a" * (MAX_PATTERN_LENGTH + 1))
    with pytest.raises(RegexError, match="expression too large"):
        compile_anchored("a" * (MAX_PATTERN_LENGTH + 1))
    with pytest.raises(RegexError, match="expression too large"):  # small text, program beyond RE2's budget
        compile_regex(r"(\pL{100}){10}")


@pytest.mark.parametrize(("pattern", "template", "text", "expected"), [
    ("x*", "-", "abxd", "-a-b-d-"),  # no empty match right after a match
    ("a*", "-", "baaac", "-b-c-"),
    ("", "-", "é😀", "-é-😀-"),  # empty matches advance by a whole rune
    ("(a)(b)?", "[$1$2|${1}x|$1x|$$|$]", "ab a", "[ab|ax||$|$] [a|ax||$|$]"),
    ("(?P<h>[a-z]+)-(?P<n>[0-9]+)", "${n}_$h.$9.$01", "host-1", "1_host.."),
    ("$", "!", "ab\n", "ab\n!"),  # $ is the end of the text only
    (r"\bo", "0", "foo o.o", "foo 0.0"),
    ("(?U)a+", "x", "aaa", "xxx"),
    ("(?i)é", "e", "éÉ", "ee"),
])
def test_replace_all_is_go_s_replace_all_string(pattern, template, text, expected):
    assert compile_regex(pattern).replace_all(text, template) == expected


def test_anchored_matchers_expand_and_quote_meta():
    assert compile_anchored("a.b").matches("a\nb")  # Prometheus 3: . matches a newline
    assert not compile_anchored("api").matches("api-gw")
    assert compile_anchored("a)|(b").matches("ax")  # ^(?s:a)|(b)$, exactly as Prometheus builds it
    plain_words = compile_anchored("api|db-1|")  # looked up in a set, with the same answers
    assert [plain_words.matches(v) for v in ("api", "db-1", "", "api-gw", "db", "API")] == [
        True, True, True, False, False, False]
    assert compile_anchored("(.*):(?P<port>.*)").expand("$1/${port}/$2x", "h:9100") == "h/9100/"
    assert compile_anchored("b").expand("$0", "abc") is None
    assert compile_anchored("(.*)").expand("<$1>", "a\udc80b") == "<a\udc80b>"  # an escaped byte survives
    assert compile_regex(quote_meta("a.b*(c)")).replace_all("a.b*(c) axbb(c)", "#") == "# axbb(c)"


def test_replacements_stop_at_their_size_limit_before_building_the_text():
    # "" matches at every position: 4,000 × 4,000 bytes would be 16 MB, `$1` × 30,000 of 1 KB 30 MB
    with pytest.raises(ResultTooLarge) as err:
        compile_regex("").replace_all("a" * 4000, "b" * 4000, 16384)
    assert err.value.limit == 16384
    with pytest.raises(ResultTooLarge):
        compile_anchored("(.*)").expand("$1" * 30_000, "x" * 1000, 65536)
    assert compile_regex("a(b)").replace_all("xabyab", "[$1]", 8) == "x[b]y[b]"  # exactly at the limit
    assert compile_anchored("(.*)").expand("<$1>", "abc", 5) == "<abc>"


def test_label_replace_and_re_replace_all_refuse_a_multiplied_value(make_engine):
    e = make_engine({'up{job="' + "j" * 1000 + '"}': "1"})
    with pytest.raises(QueryError) as err:
        e.instant('label_replace(up, "x", "' + "$1" * 1000 + '", "job", "(.*)")', 0)
    assert err.value.error_type == "execution" and "exceeds the limit of 65536 bytes" in err.value.message
    with pytest.raises(TemplateLimitError, match="reReplaceAll: result exceeds the limit of 16384 bytes"):
        _render('{{ reReplaceAll "" "' + "b" * 4000 + '" "' + "a" * 4000 + '" }}', {})
