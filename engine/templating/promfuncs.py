"""Prometheus 2.42's template functions (template/template.go) and time.Time's methods.

Functions newer than 2.42 (toDuration, now, urlQueryEscape, ...) are deliberately
absent: Prometheus 2.42 rejects templates that use them when it loads rules.
"""

from __future__ import annotations

import ipaddress
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from engine.compat.durations import DurationError
from engine.compat.durations import parse_duration as compat_parse_duration
from engine.compat.regex import RegexError, ResultTooLarge
from engine.compat.regex import compile as compile_regex
from engine.compat.strconv import NumError, can_backquote, parse_float, quote

from .errors import TemplateLimitError
from .funcs import Func, FuncError, query_escape
from .gofmt import sprintf
from .gotime import Civil, format_layout, time_string
from .limits import MAX_OUTPUT_BYTES
from .values import EMPTY_INTERFACE, HTML, GoMap, GoTime, Ptr, QueryResult, go_type, new_sample

if TYPE_CHECKING:
    from .template import TemplateData

_NIL_DEREF = "runtime error: invalid memory address or nil pointer dereference"
_MAX_INT64 = 2**63 - 1
_MIN_INT64 = -(2**63)


def convert_to_float(v: Any) -> float:
    """Prometheus's convertToFloat: float64, string (strconv.ParseFloat) and Go ints only."""
    t = go_type(v)
    if t == "float64":
        return v
    if t == "string":
        try:
            return parse_float(v)
        except NumError as e:
            raise FuncError(str(e)) from None
    if t == "int":
        return float(v)
    raise FuncError(f"can't convert {t} to float")


def _g4(v: float) -> str:
    return sprintf("%.4g", [v])


def humanize(i: Any) -> str:
    v = convert_to_float(i)
    if v == 0 or not math.isfinite(v):
        return _g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return _g4(v) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return _g4(v) + prefix


def humanize1024(i: Any) -> str:
    v = convert_to_float(i)
    if abs(v) <= 1 or not math.isfinite(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return _g4(v) + prefix


def _go_int64(v: float) -> int:
    """Go's int64(v) on amd64: truncation, and the minimum int64 when out of range."""
    return int(v) if -(2.0**63) <= v < 2.0**63 else _MIN_INT64


def _trunc_div(a: int, b: int) -> int:
    """Go's integer division, which truncates toward zero."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _trunc_mod(a: int, b: int) -> int:
    return a - b * _trunc_div(a, b)


def humanize_duration(i: Any) -> str:
    v = convert_to_float(i)
    if not math.isfinite(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign, v = "-", -v
        duration = _go_int64(v)
        s = _trunc_mod(duration, 60)
        m = _trunc_mod(_trunc_div(duration, 60), 60)
        h = _trunc_mod(_trunc_div(duration, 3600), 24)
        days = _trunc_div(duration, 86400)
        if days != 0:
            return f"{sign}{days}d {h}h {m}m {s}s"
        if h != 0:
            return f"{sign}{h}h {m}m {s}s"
        if m != 0:
            return f"{sign}{m}m {s}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(i: Any) -> str:
    return _g4(convert_to_float(i) * 100) + "%"


def _float_to_time(v: float) -> GoTime:
    """model.TimeFromUnixNano(int64(v*1e9)).Time(): millisecond precision, truncated toward zero."""
    if not math.isfinite(v):
        raise FuncError("value is NaN or Inf")
    ns = v * 1e9
    if ns > _MAX_INT64 or ns < _MIN_INT64:
        raise FuncError(sprintf("%v cannot be represented as a nanoseconds timestamp since it overflows int64", [v]))
    ns_int = _go_int64(ns)
    millis = int(ns_int / 1_000_000) if ns_int >= 0 else -(-ns_int // 1_000_000)
    return GoTime(millis * 1_000_000)


def humanize_timestamp(i: Any) -> str:
    v = convert_to_float(i)
    if not math.isfinite(v):
        return _g4(v)
    return time_string(_float_to_time(v).unix_nanos)


def to_time(i: Any) -> Ptr:
    return Ptr(_float_to_time(convert_to_float(i)))


def parse_duration(d: str) -> float:
    """model.ParseDuration, in seconds (float64 nanoseconds over 1e9, as Go divides)."""
    try:
        ms = compat_parse_duration(d)
    except DurationError as exc:
        raise FuncError(str(exc)) from None
    return ms * 1_000_000 / 1e9


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """net.SplitHostPort; None where Go returns an error."""
    i = hostport.rfind(":")
    if i < 0:
        return None
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != i:
            return None
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            return None
    if "[" in hostport[j:] or "]" in hostport[k:]:
        return None
    return host, hostport[i + 1 :]


def _is_ip(host: str) -> bool:
    if "%" in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def strip_port(hostport: str) -> str:
    split = _split_host_port(hostport)
    return hostport if split is None else split[0]


def strip_domain(hostport: str) -> str:
    split = _split_host_port(hostport)
    host, port = (hostport, "") if split is None else split
    if _is_ip(host):
        return hostport
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def _simple_upper(c: str, title: bool = False) -> str:
    """Go's one-rune case mapping; Python's multi-rune special casings (ß -> SS) do not apply in Go."""
    for mapped in ((c.title(), c.upper()) if title else (c.upper(), c.title())):
        if len(mapped) == 1:
            return mapped
    return c


def _simple_lower(c: str) -> str:
    mapped = c.lower()
    return mapped if len(mapped) == 1 else mapped[0]  # only U+0130 lowers to two runes


def _is_separator(c: str) -> bool:
    """strings.Title's word separators: ASCII non-alphanumerics (except _) and Unicode spaces."""
    if c < "\x80":
        return not (c.isalnum() or c == "_")
    return not (c.isalpha() or c.isdigit()) and c.isspace()


def title(s: str) -> str:
    """strings.Title (what Prometheus 2.42 uses): title-case the first letter of each word."""
    out = []
    prev = " "
    for c in s:
        out.append(_simple_upper(c, title=True) if _is_separator(prev) else c)
        prev = c
    return "".join(out)


def match(pattern: str, s: str) -> bool:
    """regexp.MatchString (RE2: linear time whatever the pattern)."""
    try:
        return compile_regex(pattern).matches(s)
    except RegexError as e:
        raise FuncError(str(e)) from None


def re_replace_all(pattern: str, repl: str, text: str) -> str:
    """regexp.MustCompile(pattern).ReplaceAllString(text, repl); MustCompile's panic is the error."""
    try:
        compiled = compile_regex(pattern)
    except RegexError as e:
        shown = "`" + pattern + "`" if can_backquote(pattern) else quote(pattern)
        raise FuncError(f"regexp: Compile({shown}): {e}") from None
    try:
        return compiled.replace_all(text, repl, MAX_OUTPUT_BYTES)
    except ResultTooLarge as e:
        raise TemplateLimitError(f"reReplaceAll: {e}") from None


def _sample(s: Any) -> Any:
    if s is None:
        raise FuncError(_NIL_DEREF)
    return s.elem


def query(env: TemplateData, q: str) -> QueryResult:
    if env.query is None:
        raise FuncError("no query engine is available to templates here")
    try:
        samples = env.query(q)
    except Exception as e:  # the engine's own error message is what Prometheus shows
        raise FuncError(str(e)) from None
    return QueryResult(new_sample(s.labels, s.value) for s in samples)


def first(v: QueryResult) -> Ptr:
    if not v:
        raise FuncError("first() called on vector with no elements")
    return v[0]


def sort_by_label(label: str, v: QueryResult) -> QueryResult:
    v.sort(key=lambda s: s.elem.fields["Labels"].get(label, "").encode("utf-8", "surrogateescape"))
    return v


def args(*items: Any) -> GoMap:
    return GoMap({f"arg{i}": a for i, a in enumerate(items)}, elem_type=EMPTY_INTERFACE)


def _link(expr: str, tab: int) -> str:
    return f"/graph?g0.expr={query_escape(expr)}&g0.tab={tab}"


QR, SAMPLE, S, ANY = "template.queryResult", "*template.sample", "string", EMPTY_INTERFACE
PROMETHEUS_FUNCS: dict[str, Func] = {
    "query": Func((S,), query, uses_env=True),
    "first": Func((QR,), first),
    "label": Func((S, SAMPLE), lambda label, s: _sample(s).fields["Labels"].get(label, "")),
    "value": Func((SAMPLE,), lambda s: _sample(s).fields["Value"]),
    "strvalue": Func((SAMPLE,), lambda s: _sample(s).fields["Labels"].get("__value__", "")),
    "args": Func((), args, variadic=ANY),
    "reReplaceAll": Func((S, S, S), re_replace_all),
    "safeHtml": Func((S,), HTML),
    "match": Func((S, S), match),
    "title": Func((S,), title),
    "toUpper": Func((S,), lambda s: "".join(map(_simple_upper, s))),
    "toLower": Func((S,), lambda s: "".join(map(_simple_lower, s))),
    "graphLink": Func((S,), lambda e: _link(e, 0)),
    "tableLink": Func((S,), lambda e: _link(e, 1)),
    "sortByLabel": Func((S, QR), sort_by_label),
    "stripPort": Func((S,), strip_port),
    "stripDomain": Func((S,), strip_domain),
    "humanize": Func((ANY,), humanize),
    "humanize1024": Func((ANY,), humanize1024),
    "humanizeDuration": Func((ANY,), humanize_duration),
    "humanizePercentage": Func((ANY,), humanize_percentage),
    "humanizeTimestamp": Func((ANY,), humanize_timestamp),
    "toTime": Func((ANY,), to_time),
    "pathPrefix": Func((), lambda env: unquote(urlsplit(env.external_url).path), uses_env=True),
    "externalURL": Func((), lambda env: env.external_url, uses_env=True),
    "parseDuration": Func((S,), parse_duration),
}


def _unix(t: GoTime) -> int:
    return t.unix_nanos // 1_000_000_000


# Methods of time.Time, callable as {{ (toTime $value).Format "2006-01-02" }}; impls get the receiver first.
TIME_METHODS: dict[str, Func] = {
    "Unix": Func((), _unix),
    "UnixMilli": Func((), lambda t: t.unix_nanos // 1_000_000),
    "UnixNano": Func((), lambda t: t.unix_nanos),
    "UTC": Func((), lambda t: GoTime(t.unix_nanos)),
    "String": Func((), lambda t: time_string(t.unix_nanos)),
    "Format": Func((S,), lambda t, layout: format_layout(t.unix_nanos, layout)),
    "Year": Func((), lambda t: Civil(t.unix_nanos).year),
    "YearDay": Func((), lambda t: Civil(t.unix_nanos).yday),
    "Day": Func((), lambda t: Civil(t.unix_nanos).day),
    "Hour": Func((), lambda t: Civil(t.unix_nanos).hour),
    "Minute": Func((), lambda t: Civil(t.unix_nanos).minute),
    "Second": Func((), lambda t: Civil(t.unix_nanos).second),
    "Nanosecond": Func((), lambda t: Civil(t.unix_nanos).nanos),
}
