"""engine.templating expands alert templates exactly as Prometheus 2.42 does.

Every expected string below is what Prometheus produced for the same template and data: the
rendered ones were checked with `promtool test rules`, the parse errors with `promtool check rules`
(templates are named __alert_<alertname> there, as here). The few cases promtool cannot show
(externalURL/pathPrefix, the query callable's own errors) are marked.
"""

from __future__ import annotations

import math

import pytest

from engine.templating import (
    ExecError,
    QuerySample,
    TemplateData,
    TemplateError,
    TemplateLimitError,
    expand,
    parse_template,
)

NAME = "__alert_T"
LABELS = {"instance": "host-1.example.com:9100", "job": "node", "ratio": "0.256", "text": "héllo wörld o'neil"}
EXTERNAL = {"cluster": "eu-1"}
URL = "https://prometheus.example.com/prom"
# Prometheus prepends "{{$labels := .Labels}}...{{$value := .Value}}" (112 bytes) to every template,
# so an error in the first action of a one-line template is reported at column 115.

QUERY_RESULTS = {
    "up": [
        QuerySample({"__name__": "up", "instance": "b:9100", "job": "node"}, 0.0),
        QuerySample({"__name__": "up", "instance": "a:9100", "job": "node"}, 1.0),
        QuerySample({"__name__": "up", "instance": "c:9100", "job": "api"}, 1.0),
    ],
    "sum(up)": [QuerySample({}, 2.0)],
    "absent": [],
}


def fake_query(q: str) -> list[QuerySample]:
    if q not in QUERY_RESULTS:
        raise ValueError(f'1:1: parse error: unknown query "{q}"')
    return QUERY_RESULTS[q]


def data(value: float = 1.5, labels: dict[str, str] | None = None) -> TemplateData:
    return TemplateData(LABELS if labels is None else labels, value, EXTERNAL, URL, fake_query)


def render(text: str, value: float = 1.5, labels: dict[str, str] | None = None) -> str:
    return expand(text, data(value, labels), NAME)


def exec_error(column: int, context: str, message: str, line: int = 1) -> str:
    return (
        f"<error expanding template: error executing template {NAME}: template: {NAME}:{line}:{column}: "
        f'executing "{NAME}" at <{context}>: {message}>'
    )


# --- $value and Go's float printing ------------------------------------------------------------

VALUE_CASES = [
    (0.0, "0"),
    (5.0, "5"),
    (0.5, "0.5"),
    (123456.0, "123456"),
    (1e6, "1e+06"),
    (1234567.0, "1.234567e+06"),
    (1e-05, "1e-05"),
    (0.0001, "0.0001"),
    (0.1 + 0.2, "0.30000000000000004"),
    (1 / 3, "0.3333333333333333"),
    (-2.5, "-2.5"),
    (1e21, "1e+21"),
    (123456789012345680.0, "1.2345678901234568e+17"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (math.nan, "NaN"),
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
]


@pytest.mark.parametrize(("value", "expected"), VALUE_CASES)
def test_value_prints_with_go_percent_v(value, expected):
    assert render("{{ $value }}|{{ .Value }}", value) == f"{expected}|{expected}"


# --- humanize functions ---------------------------------------------------------------------------

HUMANIZE_CASES = [
    ("humanize", 0.0, "0"),
    ("humanize", 1234567.0, "1.235M"),
    ("humanize", 999.95, "1000"),
    ("humanize", 1e30, "1e+06Y"),
    ("humanize", 0.00012345, "123.4u"),
    ("humanize", -1e-30, "-1e-06y"),
    ("humanize", 12345.678, "12.35k"),
    ("humanize", math.nan, "NaN"),
    ("humanize", math.inf, "+Inf"),
    ("humanize1024", 1023.0, "1023"),
    ("humanize1024", 1024.0, "1ki"),
    ("humanize1024", 1048575.0, "1024ki"),
    ("humanize1024", 0.5, "0.5"),
    ("humanize1024", -5000.0, "-4.883ki"),
    ("humanize1024", 1e30, "8.272e+05Yi"),
    ("humanizeDuration", 0.0, "0s"),
    ("humanizeDuration", 93784.0, "1d 2h 3m 4s"),
    ("humanizeDuration", 86400.0, "1d 0h 0m 0s"),
    ("humanizeDuration", 3600.5, "1h 0m 0s"),
    ("humanizeDuration", 90.0, "1m 30s"),
    ("humanizeDuration", 59.999, "60s"),
    ("humanizeDuration", 59.99, "59.99s"),
    ("humanizeDuration", 1.23456, "1.235s"),
    ("humanizeDuration", 0.001234, "1.234ms"),
    ("humanizeDuration", 0.000123, "123us"),
    ("humanizeDuration", 0.5e-9, "500ps"),
    ("humanizeDuration", -0.5, "-500ms"),
    ("humanizeDuration", -90061.0, "-1d 1h 1m 1s"),
    ("humanizeDuration", 1e20, "-106751991167300d -15h -30m -8s"),
    ("humanizeDuration", math.nan, "NaN"),
    ("humanizePercentage", 0.256, "25.6%"),
    ("humanizePercentage", 1.0, "100%"),
    ("humanizePercentage", -0.123456, "-12.35%"),
    ("humanizePercentage", 1e-05, "0.001%"),
    ("humanizeTimestamp", 1609459200.0, "2021-01-01 00:00:00 +0000 UTC"),
    ("humanizeTimestamp", 1609459200.123456, "2021-01-01 00:00:00.123 +0000 UTC"),
    ("humanizeTimestamp", -1.5, "1969-12-31 23:59:58.5 +0000 UTC"),
    ("humanizeTimestamp", 9.2e9, "2261-07-15 11:33:20 +0000 UTC"),
    ("humanizeTimestamp", math.inf, "+Inf"),
    ("toTime", 1.5, "1970-01-01 00:00:01.5 +0000 UTC"),
    ("toTime", 1e9, "2001-09-09 01:46:40 +0000 UTC"),
]


@pytest.mark.parametrize(("func", "value", "expected"), HUMANIZE_CASES)
def test_humanize_functions(func, value, expected):
    assert render(f"{{{{ {func} $value }}}}", value) == expected
    assert render(f"{{{{ $value | {func} }}}}", value) == expected


STRING_ARGUMENT_CASES = [
    ("{{ humanizePercentage $labels.ratio }}", "25.6%"),
    ('{{ humanize1024 "3221225472" }}', "3Gi"),
    ('{{ humanizeDuration "3725" }}', "1h 2m 5s"),
    ('{{ humanize "1e3" }}', "1k"),
    ('{{ humanize "0x1p-2" }}', "250m"),
    ('{{ humanize "1_000" }}', "1k"),
    ('{{ humanize "+Inf" }} {{ humanize "NaN" }} {{ humanize "-infinity" }}', "+Inf NaN -Inf"),
    ('{{ humanizeTimestamp "0" }}', "1970-01-01 00:00:00 +0000 UTC"),
    ("{{ humanize 3 }}", "3"),
]


@pytest.mark.parametrize(("text", "expected"), STRING_ARGUMENT_CASES)
def test_humanize_functions_accept_strings_and_ints(text, expected):
    assert render(text) == expected


# --- printf and print ------------------------------------------------------------------------------

PRINTF_CASES = [
    ('{{ printf "%.2f" $value }}', 1234567.0, "1234567.00"),
    (
        '{{ printf "%e|%E|%g|%G" $value $value $value $value }}',
        1234567.0,
        "1.234567e+06|1.234567E+06|1.234567e+06|1.234567E+06",
    ),
    (
        '{{ printf "%v|%5.1f|%-8.3g|%+.1e|%08.2f" $value $value $value $value $value }}',
        -2.5,
        "-2.5| -2.5|-2.5    |-2.5e+00|-0002.50",
    ),
    ('{{ printf "%x %X %b" $value $value $value }}', 0.5, "0x1p-01 0X1P-01 4503599627370496p-53"),
    ('{{ printf "%#g %#.3e %#v %T" $value $value $value $value }}', 5.0, "5.00000 5.000e+00 5 float64"),
    ('{{ printf "%.2f %5.1f %08.2f" $value $value $value }}', math.nan, "NaN   NaN      NaN"),
    ('{{ printf "%+.1f % .1f %08.2f" $value $value $value }}', math.inf, "+Inf  Inf     +Inf"),
    ('{{ printf "%d" $value }}', 1.5, "%!d(float64=1.5)"),
    ('{{ printf "%s|%t" $value $value }}', 1.5, "%!s(float64=1.5)|%!t(float64=1.5)"),
    ('{{ printf "%s=%q (%5s|%-5s|%.2s) %d%%" "k" "v" "ab" "ab" "xyz" 50 }}', 1.5, 'k="v" (   ab|ab   |xy) 50%'),
    (
        '{{ printf "%x %X % X %#x %c %U %#U %o %O %b" 255 "hi" "hi" "hi" 65 65 233 8 8 5 }}',
        1.5,
        "ff 6869 68 69 0x6869 A U+0041 U+00E9 'é' 10 0o10 101",
    ),
    ('{{ printf "%6.2d|%05d|%+d|% d|%-5d|" 5 -3 3 3 7 }}', 1.5, "    05|-0003|+3| 3|7    |"),
    (
        '{{ printf "%05s|%-05d|%8.3s|%-8q|%08q" "ab" 3 "abcdef" "a" "b" }}',
        1.5,
        '000ab|3    |     abc|"a"     |00000"b"',
    ),
    (
        '{{ printf "%T %T %T %T %T %T" 1 "a" 1.5 true $labels (safeHtml "x") }}',
        1.5,
        "int string float64 bool map[string]string template.HTML",
    ),
    ('{{ printf "%T %T %T" (args) (toTime 1) (index "a" 0) }}', 1.5, "map[string]interface {} *time.Time uint8"),
    ('{{ printf "%d %s" 1 }}', 1.5, "1 %!s(MISSING)"),
    ('{{ printf "%d" 1 2 }}', 1.5, "1%!(EXTRA int=2)"),
    ('{{ printf "%!" }} {{ printf "%z" 1 }}', 1.5, "%!!(MISSING) %!z(int=1)"),
    ('{{ printf "%[2]d %[1]d|%[3]d" 1 2 }}', 1.5, "2 1|%!d(BADINDEX)"),
    ('{{ printf "%*d|%-*d|%.*f" 5 1 5 1 2 3.14159 }}', 1.5, "    1|1    |3.14"),
    ('{{ printf "%.*d %*d" "a" 1 1.5 2 }}', 1.5, "%!(BADPREC)1 %!(BADWIDTH)2"),
    ('{{ printf "%5t %v %d" true nil nil }}', 1.5, " true <nil> %!d(<nil>)"),
    (
        '{{ printf "%v %+v" $labels.job . }}',
        1.5,
        " {Labels:map[instance:a] ExternalLabels:map[cluster:eu-1] "
        "ExternalURL:https://prometheus.example.com/prom Value:1.5}",
    ),
    (
        '{{ printf "%#v" (args 1 "a" nil) }}',
        1.5,
        'map[string]interface {}{"arg0":1, "arg1":"a", "arg2":interface {}(nil)}',
    ),
    ('{{ printf "%#v %#v %#v" "x\\n" 1.0 true }}', 1.5, '"x\\n" 1 true'),
    (
        '{{ printf "%v %s %d" (toTime 0) (toTime 0) (toTime 0) }}',
        1.5,
        "1970-01-01 00:00:00 +0000 UTC 1970-01-01 00:00:00 +0000 UTC &{0 62135596800 0}",
    ),
    ('{{ printf "%#v" (toTime 1) }}', 1.5, "time.Date(1970, time.January, 1, 0, 0, 1, 0, time.UTC)"),
    ('{{ print 1 2 "a" "b" 3 nil true }}|{{ println 1 "a" }}|{{ print }}', 1.5, "1 2ab3 <nil> true|1 a\n|"),
]


@pytest.mark.parametrize(("text", "value", "expected"), PRINTF_CASES)
def test_printf_and_print_follow_go_fmt(text, value, expected):
    labels = {"instance": "a"} if "%+v" in text else None
    assert render(text, value, labels) == expected


# --- labels, data and the other Prometheus functions --------------------------------------------------

FUNCTION_CASES = [
    (
        '{{ $labels.instance }} {{ .Labels.job }} [{{ $labels.missing '
        '}}] {{ index $labels "job" }} [{{ index .Labels "nope" }}]',
        "host-1.example.com:9100 node [] node []",
    ),
    ("{{ $labels }}", "map[instance:host-1.example.com:9100 job:node ratio:0.256 text:héllo wörld o'neil]"),
    (
        "{{ $externalLabels.cluster }} {{ .ExternalLabels.cluster }} {{ $externalURL }} {{ .ExternalURL }}",
        f"eu-1 eu-1 {URL} {URL}",
    ),
    (
        '{{ title $labels.text }} | {{ toUpper $labels.text }} | {{ toLower "ÀBC" }}',
        "Héllo Wörld O'Neil | HÉLLO WÖRLD O'NEIL | àbc",
    ),
    (
        '{{ title "foo-bar foo_bar x1y 1st ǆx" }} {{ toLower "İ" }} {{ toUpper "ß ﬁ ǆ" }}',
        "Foo-Bar Foo_bar X1y 1st ǅx i ß ﬁ Ǆ",
    ),
    (
        '{{ stripPort $labels.instance }} {{ stripDomain $labels.instance '
        '}} {{ stripPort "[::1]:80" }} {{ stripDomain "10.0.0.1:80" }}'
        ' {{ stripDomain "a.b.c" }} {{ stripPort "nohost" }} {{ stripDomain "[fe80::1]:9" }} {{ stripPort "a:b:c" }}',
        "host-1.example.com host-1:9100 ::1 10.0.0.1:80 a nohost [fe80::1]:9 a:b:c",
    ),
    ('{{ match "^host-[0-9]+" $labels.instance }} {{ match "^db" $labels.instance }}', "true false"),
    ('{{ reReplaceAll "^([^.]+)\\\\..*$" "$1" $labels.instance }}', "host-1"),
    ('{{ reReplaceAll "x*" "-" "abxd" }}', "-a-b-d-"),
    ('{{ reReplaceAll "(a)(b)?" "[$1$2|${1}x|$1x|$$|$]" "ab a" }}', "[ab|ax||$|$] [a|ax||$|$]"),
    ('{{ reReplaceAll "(?P<h>[a-z]+)-(\\\\d+)" "${h}_$2" $labels.instance }}', "host_1.example.com:9100"),
    (
        '{{ reReplaceAll "\\\\s+" "_" "a  b\\tc" }} {{ reReplaceAll "\\\\bo" '
        '"0" "foo o.o" }} {{ reReplaceAll "[[:alpha:]]+" "W" "ab1cd" }}',
        "a_b_c foo 0.0 W1W",
    ),
    ('{{ reReplaceAll "$" "!" "ab\\n" }}', "ab\n!"),
    (
        '{{ safeHtml "<b>" }} | {{ html "<b>\\"x\\" & y=1</b>" }} | '
        '{{ js "<b>\\"x\\" & y=1</b>" }} | {{ urlquery "<b> x/y" }}',
        '<b> | &lt;b&gt;&#34;x&#34; &amp; y=1&lt;/b&gt; | \\u003Cb\\u003E\\"x\\" '
        '\\u0026 y\\u003D1\\u003C/b\\u003E | %3Cb%3E+x%2Fy',
    ),
    ('{{ html 1 2 "a" }} {{ js "\\x01 é" }} {{ html nil }} {{ print nil }}', "1 2a \\u0001 é &lt;no value&gt; <nil>"),
    (
        '{{ graphLink "rate(x[5m]) > 1" }} {{ tableLink "up{job=\\"a b\\"}" }}',
        "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=0 /graph?g0.expr=up%7Bjob%3D%22a+b%22%7D&g0.tab=1",
    ),
    (
        '{{ parseDuration "1h30m" }} {{ parseDuration "1y2w3d4h5m6s7ms" '
        '}} {{ parseDuration "0" }} {{ parseDuration "1500ms" }}',
        "5400 3.3019506007e+07 0 1.5",
    ),
    (
        '{{ args 1 "a" 2.5 }} {{ (args 1 "a").arg1 }} {{ (args 1).arg5 }}|{{ print (args 1).arg5 }}',
        "map[arg0:1 arg1:a arg2:2.5] a <no value>|<nil>",
    ),
    (
        '{{ (toTime 1609459200).Format "Mon Jan 2 15:04:05 MST 2006 .000 '
        'pm" }} {{ (toTime 86400.123).Unix }} {{ (toTime 1.5).UnixMilli }}',
        "Fri Jan 1 00:00:00 UTC 2021 .000 am 86400 1500",
    ),
    (
        '{{ (toTime 0).Format "Jan _2 06 3:4:5.999 -07:00 Z07:00 MST Monday 002" }}',
        "Jan  1 70 12:0:0 +00:00 Z UTC Thursday 001",
    ),
    (
        "{{ (toTime 1e9).Year }} {{ (toTime 1e9).YearDay }} {{ (toTime "
        "1e9).Hour }} {{ (toTime 1e9).UTC }} {{ toTime -0.0005 }}",
        "2001 252 1 2001-09-09 01:46:40 +0000 UTC 1970-01-01 00:00:00 +0000 UTC",
    ),
]


@pytest.mark.parametrize(("text", "expected"), FUNCTION_CASES)
def test_prometheus_functions(text, expected):
    assert render(text) == expected


def test_external_url_and_path_prefix_come_from_the_server_url():
    # promtool 2.42 hands these two functions a nil URL, so this is Prometheus's server behaviour.
    assert render("{{ externalURL }} {{ pathPrefix }}") == f"{URL} /prom"


QUERY_CASES = [
    (
        '{{ range sortByLabel "instance" (query "up") }}{{ .Labels.instance }}={{ .Value }} {{ end }}',
        "a:9100=1 b:9100=0 c:9100=1 ",
    ),
    (
        '{{ range $i, $s := query "up" | sortByLabel "instance" | sortByLabel '
        '"job" }}{{ $i }}:{{ label "instance" $s }}/{{ value $s }} {{ end }}',
        "0:c:9100/1 1:a:9100/1 2:b:9100/0 ",
    ),
    (
        '{{ with query "sum(up)" }}{{ . | first | value | humanize }}{{ end }} {{ (query "sum(up)" | first).Value }}',
        "2 2",
    ),
    (
        '{{ with query "absent" }}found{{ else }}none{{ end }} {{ len (query "absent") }} {{ query "up" | len }}',
        "none 0 3",
    ),
    (
        '[{{ strvalue (first (query "up")) }}] {{ first (query "sum(up)") }} '
        '{{ (index (query "up" | sortByLabel "instance") 2).Labels.job }}',
        "[] {map[] 2} api",
    ),
    (
        '{{ slice (query "up") 1 | len }} {{ range query "up" }}{{ $.Labels.job }}{{ $labels.job }} {{ end }}',
        "2 nodenode nodenode nodenode ",
    ),
]


@pytest.mark.parametrize(("text", "expected"), QUERY_CASES)
def test_query_functions(text, expected):
    assert render(text) == expected


# --- text/template actions and builtins ---------------------------------------------------------------

CONSTRUCT_CASES = [
    ('{{ if eq .Labels.job "db" }}D{{ else if eq .Labels.job "node" }}N{{ else }}?{{ end }}', "N"),
    ("{{ if and (gt $value 0.5) (lt $value 2.0) }}mid{{ end }}{{ if not .Labels.nope }} absent{{ end }}", "mid absent"),
    (
        "{{ with .Labels.job }}job={{ . }}{{ end }} {{ with .Labels.nope "
        "}}x{{ else }}no{{ end }} {{ with $x := 5 }}{{ $x }}{{ . }}{{ end }}",
        "job=node no 55",
    ),
    (
        "{{ range $k, $v := .Labels }}{{ $k }};{{ end }} {{ range $v := $labels }}{{ len $v }},{{ end }}",
        "instance;job;ratio;text; 23,4,5,20,",
    ),
    (
        "{{ range (args).x }}x{{ else }}nil{{ end }} {{ range $k, $v := args }}x{{ else }}empty map{{ end }}",
        "nil empty map",
    ),
    (
        '{{ range $i, $e := query "up" }}{{ if eq $i 1 }}{{ continue }}{{ '
        'end }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ $i }}{{ end }}',
        "0",
    ),
    (
        "{{ $x := 1 }}{{ $x }}{{ $x = 2 }}{{ $x }}{{ if true }}{{ $x = 3 }}{{ $y := 9 }}{{ $y }}{{ end }}{{ $x }}",
        "1293",
    ),
    (
        '{{ $x := "a" }}{{ range $i, $e := query "up" | sortByLabel '
        '"instance" }}{{ $x = $e.Labels.instance }}{{ end }}{{ $x }}',
        "c:9100",
    ),
    (
        '{{ $value := 5 }}{{ $value }} {{ $.Labels.job }} {{ $ | printf "%T" }}',
        "5 node struct { Labels map[string]string; ExternalLabels "
        "map[string]string; ExternalURL string; Value float64 }",
    ),
    ('a  {{- " b " -}}  c {{- /* comment */ -}} d {{/* c2 */}} e\n  {{- 1 }}\n', "a b cd  e1\n"),
    ('{{- "x" }}   \n\t{{ "y" -}}\n\n z', "x   \n\tyz"),
    ('{{ define "foo" }}[{{ . }}]{{ end }}{{ template "foo" $labels.job }}{{ template "foo" }}', "[node][<no value>]"),
    ('{{ block "b" .Labels.job }}<{{ . }}>{{ end }}', "<node>"),
    (
        '{{ (1) }} {{ ("x") }} {{ (print 1 2) }} {{ 1 | print }} {{ "a" | '
        'printf "%s-%s" "b" }} {{ .Labels.instance | stripPort | toUpper }}',
        "1 x 1 2 1 b-a HOST-1.EXAMPLE.COM",
    ),
    (
        "{{ 1e6 }} {{ 0x10 }} {{ 1_000 }} {{ 010 }} {{ 'a' }} {{ 1.0 }} "
        "{{ -5 }} {{ 0o17 }} {{ 0b101 }} {{ 2i }} {{ 1+2i }} {{ 0x1p4 }}",
        "1e+06 16 1000 8 97 1 -5 15 5 (0+2i) (1+2i) 16",
    ),
    (
        "{{ 99999999999999999999.0 }} {{ 9223372036854775807 }} {{ "
        "'\\n' }} {{ \"\\u00e9\\x41\\101\\t|\" }} {{ `raw\\n` }}",
        "1e+20 9223372036854775807 10 éAA\t| raw\\n",
    ),
    (
        '{{ len "héllo" }} {{ len $labels }} {{ index "abc" 1 }} {{ slice "abcdef" 1 3 }} {{ slice "abc" 1 }}',
        "6 4 98 bc bc",
    ),
    (
        '{{ eq 1 1 }} {{ eq "a" "b" "a" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ '
        'le 2 2 }} {{ gt "b" "a" }} {{ ge 1.5 2.5 }} {{ eq $value 1.5 }}',
        "true true true true true true false true",
    ),
    (
        '{{ eq nil nil }} {{ eq 1 nil }} {{ ne nil nil }} {{ eq (toTime 1) '
        '(toTime 1) }} {{ eq (index "a" 0) 97 }} {{ lt (index "a" 0) 98 }}',
        "true false false false true true",
    ),
    (
        '{{ and 1 0 2 }} {{ or 0 "" "x" }} {{ and 1 2 }} {{ or 0 '
        'false }} {{ not 0 }} {{ not "a" }} {{ or 1 (index "a" 5) }}',
        "0 x 2 false true false 1",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CONSTRUCT_CASES)
def test_text_template_constructs(text, expected):
    assert render(text) == expected


def test_missing_label_is_the_empty_string_and_dot_prints_the_data():
    assert render('[{{ .Labels.x }}][{{ $labels.x }}][{{ index $labels "x" }}]', labels={}) == "[][][]"
    assert render("{{ . }}", 42.0, {"a": "b"}) == "{map[a:b] map[cluster:eu-1] https://prometheus.example.com/prom 42}"


# --- parse errors (what promtool check rules reports; rules fail to load) ------------------------------

PARSE_ERRORS = [
    ("{{ nope }}", 'function "nope" not defined'),
    ("{{ toDuration 1 }}", 'function "toDuration" not defined'),  # newer than Prometheus 2.42
    ("{{ now }}", 'function "now" not defined'),
    ("{{ urlQueryEscape 1 }}", 'function "urlQueryEscape" not defined'),
    ('{{ tmpl "x" . }}', 'function "tmpl" not defined'),  # console templates only
    ("{{ ) }}", 'unexpected ")" in command'),
    ("{{ .Foo }", 'unexpected "}" in operand'),
    ("{{ 1 | 2 }}", "non executable command in pipeline stage 2"),
    ("{{ $x }}", 'undefined variable "$x"'),
    ('{{ "a\\\'" }}', "invalid syntax"),
    ("{{ if }}{{ end }}", "missing value for if"),
    ("{{ end }}", "unexpected {{end}}"),
    ("{{ else }}", "unexpected {{else}}"),
    ("{{ if 1 }}", "unexpected EOF"),
    ("{{ range $i, $e, $f := . }}{{end}}", "too many declarations in range"),
    ("{{ with 1 }}{{ else if 2 }}{{ end }}", "unexpected <if> in input"),
    ("{{ 1.a }}", 'bad number syntax: "1.a"'),
    ("{{ 'ab' }}", "malformed character constant: 'ab'"),
    ("{{ 0x }}", 'illegal number syntax: "0x"'),
    ("{{ 99999999999999999999 }}", 'integer overflow: "99999999999999999999"'),
    ("{{ (1 }}", "unclosed left paren"),
    ('{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}', 'template: multiple definition of template "x"'),
    ("{{ # }}", 'unexpected "#" in command'),
    ("{{ .Labels.a-b }}", "bad character U+002D '-'"),
    ("{{ 1.5e }}", 'illegal number syntax: "1.5e"'),
    ("{{ /* c */ }}", 'unexpected "/" in command'),
    ("{{/* c */ }}", "comment ends before closing delimiter"),
    ("{{ break }}", "{{break}} outside {{range}}"),
    ("{{ range . }}{{ else }}{{ break }}{{ end }}", "{{break}} outside {{range}}"),
    ("{{ 1.5.x }}", 'unexpected . after term "1.5"'),
    ("{{ $x := 1 }}{{ if 1 }}{{ $y := 2 }}{{ end }}{{ $y }}", 'undefined variable "$y"'),
    ("{{", "unclosed action"),
    ("{{ `a }}", "unterminated raw quoted string"),
    ("{{/* x", "unclosed comment"),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors_match_prometheus(text, message):
    with pytest.raises(TemplateError) as info:
        parse_template(text, NAME)
    assert str(info.value) == f"template: {NAME}:1: {message}"


def test_parse_errors_report_the_line_and_where_a_multiline_action_started():
    with pytest.raises(TemplateError, match=r'^template: __alert_T:2: function "nope" not defined$'):
        parse_template("{{ .x\n| nope }}", NAME)
    with pytest.raises(
        TemplateError,
        match=r"^template: __alert_T:2: unterminated quoted string in action started at "
        r"__alert_T:1$",
    ):
        parse_template('{{ \n "abc }}', NAME)
    with pytest.raises(TemplateError, match=r'^template: __alert_T:2: function "nope" not defined$'):
        parse_template("line1\nline2 {{ nope }}", NAME)


def test_a_parse_error_at_expansion_time_is_reported_as_prometheus_does():
    assert render("{{ nope }}") == (
        f'<error expanding template: error parsing template {NAME}: template: {NAME}:1: function "nope" not defined>'
    )


# --- execution errors ---------------------------------------------------------------------------------

STRUCT = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }"
EXEC_ERRORS = [
    (
        '{{ humanize "abc" }}',
        exec_error(115, 'humanize "abc"', 'error calling humanize: strconv.ParseFloat: parsing "abc": invalid syntax'),
    ),
    (
        "{{ humanize $labels.missing }}",
        exec_error(
            115, "humanize $labels.missing", 'error calling humanize: strconv.ParseFloat: parsing "": invalid syntax'
        ),
    ),
    (
        '{{ humanize "1e400" }}',
        exec_error(
            115, 'humanize "1e400"', 'error calling humanize: strconv.ParseFloat: parsing "1e400": value out of range'
        ),
    ),
    ("{{ humanize true }}", exec_error(115, "humanize true", "error calling humanize: can't convert bool to float")),
    ("{{ humanize nil }}", exec_error(115, "humanize nil", "error calling humanize: can't convert <nil> to float")),
    (
        '{{ humanize (safeHtml "1") }}',
        exec_error(115, 'humanize (safeHtml "1")', "error calling humanize: can't convert template.HTML to float"),
    ),
    (
        "{{ if gt $value 1 }}x{{ end }}",
        exec_error(118, "gt $value 1", "error calling gt: incompatible types for comparison"),
    ),
    ("x {{ .Nope }}", exec_error(117, ".Nope", f"can't evaluate field Nope in type {STRUCT}")),
    (
        '{{ query "absent" | first | value }}',
        exec_error(132, "first", "error calling first: first() called on vector with no elements"),
    ),
    ("{{ toUpper $value }}", exec_error(123, "$value", "wrong type for value; expected string; got float64")),
    ("{{ toUpper 1 }}", exec_error(123, "1", "expected string; found 1")),
    ("{{ toUpper nil }}", exec_error(123, "nil", "cannot assign nil to string")),
    ("{{ humanize 1 2 }}", exec_error(115, "humanize", "wrong number of args for humanize: want 1 got 2")),
    ("{{ printf }}", exec_error(115, "printf", "wrong number of args for printf: want at least 1 got 0")),
    ("{{ first 1 }}", exec_error(121, "1", "can't handle 1 for arg of type template.queryResult")),
    (
        '{{ label "x" nil }}',
        exec_error(
            115,
            'label "x" nil',
            "error calling label: runtime error: invalid memory address or nil pointer dereference",
        ),
    ),
    ("{{ nil }}", exec_error(115, "nil", "nil is not a command")),
    ("{{ $labels.job 1 }}", exec_error(122, "$labels.job", "job is not a method but has arguments")),
    ("{{ $value 1 }}", exec_error(115, "$value", "can't give argument to non-function $value")),
    ("{{ .Value.x }}", exec_error(121, ".Value.x", "can't evaluate field x in type float64")),
    ('{{ template "missing" }}', exec_error(124, '{{template "missing"}}', 'template "missing" not defined')),
    (
        '{{ reReplaceAll "(" "x" "y" }}',
        exec_error(
            115,
            'reReplaceAll "(" "x" "y"',
            "error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`",
        ),
    ),
    (
        '{{ match "[" "x" }}',
        exec_error(115, 'match "[" "x"', "error calling match: error parsing regexp: missing closing ]: `[`"),
    ),
    (
        '{{ reReplaceAll "(?=x)" "" "x" }}',
        exec_error(
            115,
            'reReplaceAll "(?=x)" "" "x"',
            "error calling reReplaceAll: regexp: Compile(`(?=x)`): error parsing regexp: "
            "invalid or unsupported Perl syntax: `(?=`",
        ),
    ),
    (
        '{{ parseDuration "1.5h" }}',
        exec_error(115, 'parseDuration "1.5h"', 'error calling parseDuration: not a valid duration string: "1.5h"'),
    ),
    (
        '{{ parseDuration "" }}',
        exec_error(115, 'parseDuration ""', "error calling parseDuration: empty duration string"),
    ),
    ('{{ toTime "NaN" }}', exec_error(115, 'toTime "NaN"', "error calling toTime: value is NaN or Inf")),
    (
        "{{ humanizeTimestamp 1e300 }}",
        exec_error(
            115,
            "humanizeTimestamp 1e300",
            "error calling humanizeTimestamp: 1e+300 cannot be represented as a "
            "nanoseconds timestamp since it overflows int64",
        ),
    ),
    ('{{ index "abc" 5 }}', exec_error(115, 'index "abc" 5', "error calling index: index out of range: 5")),
    (
        "{{ index $labels 1 }}",
        exec_error(115, "index $labels 1", "error calling index: value has type int; should be string"),
    ),
    ('{{ slice "abc" 2 1 }}', exec_error(115, 'slice "abc" 2 1', "error calling slice: invalid slice index: 2 > 1")),
    ("{{ len 3 }}", exec_error(115, "len 3", "error calling len: len of type int")),
    ('{{ eq 1 "a" }}', exec_error(115, 'eq 1 "a"', "error calling eq: incompatible types for comparison")),
    ("{{ lt true false }}", exec_error(115, "lt true false", "error calling lt: invalid type for comparison")),
    (
        "{{ eq $labels $labels }}",
        exec_error(
            115,
            "eq $labels $labels",
            "error calling eq: non-comparable type map[instance:host-1.example.com:9100 job:node "
            "ratio:0.256 text:héllo wörld o'neil]: map[string]string",
        ),
    ),
    ("{{ call 1 }}", exec_error(115, "call 1", "error calling call: non-function of type int")),
    ("{{ range 3 }}{{ end }}", exec_error(121, "3", "range can't iterate over 3")),
    ("{{ range $labels.nope }}{{ end }}", exec_error(128, "$labels.nope", "range can't iterate over ")),
    (
        "line one\nline two {{ .Labels.job | humanize }}",
        exec_error(
            26, "humanize", 'error calling humanize: strconv.ParseFloat: parsing "node": invalid syntax', line=2
        ),
    ),
    (
        'héllo {{ humanize "zz" }}',
        exec_error(122, 'humanize "zz"', 'error calling humanize: strconv.ParseFloat: parsing "zz": invalid syntax'),
    ),
    (
        '{{ define "rec" }}{{ template "rec" . }}{{ end }}{{ template "rec" 1 }}',
        # Prometheus says (100000): our bound on nested templates is lower (engine/templating/limits.py).
        exec_error(142, '{{template "rec" .}}', "exceeded maximum template depth (100)").replace(
            'executing "__alert_T"', 'executing "rec"'
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXEC_ERRORS)
def test_execution_errors_become_prometheus_error_text(text, expected):
    assert render(text) == expected


def test_render_raises_the_go_error_and_expand_wraps_it():
    template = parse_template("{{ humanize $labels.job }}", NAME)
    with pytest.raises(ExecError) as info:
        template.render(data())
    assert str(info.value) == (
        f'template: {NAME}:1:115: executing "{NAME}" at <humanize $labels.job>: error calling '
        'humanize: strconv.ParseFloat: parsing "node": invalid syntax'
    )
    assert isinstance(info.value, TemplateError) and isinstance(info.value, ValueError)
    assert render("{{ humanize $labels.job }}") == (
        f"<error expanding template: error executing template {NAME}: {info.value}>"
    )


def test_query_engine_errors_are_reported_as_the_function_call_failing():
    # Not checkable with promtool: the message comes from our query engine.
    assert render('{{ query "nope" }}') == exec_error(
        115, 'query "nope"', 'error calling query: 1:1: parse error: unknown query "nope"'
    )
    no_engine = TemplateData({}, 1.0)
    assert "error calling query: " in expand('{{ query "up" }}', no_engine, NAME)


def test_a_parsed_template_renders_many_times_with_different_data():
    template = parse_template("{{ $labels.instance }} is {{ humanizePercentage $value }} full", "__alert_DiskFull")
    assert template.render(TemplateData({"instance": "a"}, 0.5)) == "a is 50% full"
    assert template.render(TemplateData({"instance": "b"}, 0.913)) == "b is 91.3% full"


# --- budgets: ours, Prometheus has none (engine/templating/limits.py) ----------------------------

MANY = [QuerySample({"__name__": "up", "instance": f"host-{i}"}, 1.0) for i in range(1000)]
CHAIN = "".join(f'{{{{ define "t{i}" }}}}{{{{ template "t{i + 1}" }}}}{{{{ template "t{i + 1}" }}}}{{{{ end }}}}'
                for i in range(20))

OVER_BUDGET = [
    # 1000 series x 4 labels x 16 KB = 64 MB without the output cap
    ('{{ range query "many" }}{{ range $labels }}{{ printf "%16000d" 1 }}{{ end }}{{ end }}',
     "expansion exceeds the limit of 16384 bytes"),
    ('{{ printf "%9999999d" 1 }}', "error calling printf: width or precision 9999999 exceeds the limit of 16384 bytes"),
    ('{{ printf "%.99999f" 1.5 }}', "error calling printf: width or precision 99999 exceeds the limit of 16384 bytes"),
    ('{{ printf "%*d" 20000 1 }}', "error calling printf: width or precision 20000 exceeds the limit of 16384 bytes"),
    ('{{ define "x" }}{{ printf "%10000d" 1 }}{{ end }}{{ template "x" }}{{ template "x" }}',
     "expansion exceeds the limit of 16384 bytes"),
    # a value doubled without being printed
    ('{{ define "d" }}{{ template "d" (printf "%s%s" . .) }}{{ end }}{{ template "d" "xxxxxxxx" }}',
     "error calling printf: its result exceeds the limit of 16384 bytes"),
    # 2^20 template calls printing nothing
    (CHAIN + '{{ define "t20" }}{{ end }}{{ template "t0" }}', "template execution exceeds the limit of 10000 steps"),
    # a PromQL query per series of a big result
    ('{{ range query "many" }}{{ $up := query "up" }}{{ end }}', "template execution exceeds the limit of 10000 steps"),
]


def many_query(q: str) -> list[QuerySample]:
    return MANY if q == "many" else fake_query(q)


@pytest.mark.parametrize(("text", "message"), OVER_BUDGET)
def test_an_expansion_over_budget_stops_with_a_short_error(text, message):
    with pytest.raises(TemplateLimitError) as info:
        expand(text, TemplateData(LABELS, 1.0, EXTERNAL, URL, many_query), NAME)
    error = info.value
    assert str(error).startswith(f"template: {NAME}:1:") and str(error).endswith(f": {message}")
    assert error.value == f"<error expanding template: error executing template {NAME}: {error}>"
    assert len(error.value) < 1000


def test_an_expansion_of_exactly_the_limit_is_kept():
    assert render('{{ printf "%16384d" 7 }}') == " " * 16383 + "7"
    assert render('{{ range query "up" }}{{ .Labels.instance }} {{ end }}') == "b:9100 a:9100 c:9100 "
