"""From PromQL text to a validated expression tree, with ``promql-parser`` doing the parsing.

The parser already checks syntax, argument counts and value types; this module turns its AST into
our immutable nodes and rejects what the evaluator does not implement, so an unsupported feature
is always a clear ``bad_data`` error and never a wrong answer. Every PromQL text a user supplies
is parsed here by a :class:`Parser`, behind the guard's limits (the Engine's come from Settings)
and, for large texts, after the parser survived them in a child process.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import promql_parser as pp

from engine.compat.durations import MAX_MS
from engine.compat.regex import RegexError, compile_anchored
from engine.compat.strconv import from_bytes, quote, to_bytes, unquote_char
from engine.promql import nodes as n
from engine.promql.errors import BAD_DATA, QueryError, unsupported
from engine.promql.guard import Limits, check
from engine.promql.parser_process import ParserProcess
from engine.settings import Settings
from engine.tsdb.matchers import Matcher, MatcherError

_MS = timedelta(milliseconds=1)
MAX_TIME_MS = 9_200_000_000_000_000_000
"""The latest query or ``@`` time, in milliseconds (to_ms too): an int64, with room left for offsets
and ranges, as in Prometheus."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Range-vector functions: the matrix argument's position and the result type.
RANGE_FUNCTIONS = {
    name: 0
    for name in (
        "rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear", "resets", "changes",
        "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
        "last_over_time", "first_over_time", "mad_over_time", "ts_of_last_over_time", "ts_of_first_over_time",
        "ts_of_min_over_time", "ts_of_max_over_time", "double_exponential_smoothing",
        "stddev_over_time", "stdvar_over_time", "present_over_time", "absent_over_time",
    )
} | {"quantile_over_time": 1}

NATIVE_HISTOGRAM_FUNCTIONS = frozenset((
    "histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev", "histogram_stdvar"))
"""Functions of native histograms only: Prometheus ignores float samples in their argument, and the
store holds no native histograms yet, so their answer is empty (not an error, as Prometheus's is not)."""

INSTANT_FUNCTIONS = frozenset((
    "absent", "histogram_quantile", "abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max",
    "exp", "ln", "log2", "log10", "sqrt", "sgn", "time", "timestamp", "vector", "scalar", "label_replace",
    "label_join", "sort", "sort_desc", "minute", "hour", "day_of_week", "day_of_month", "day_of_year",
    "days_in_month", "month", "year", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
    "asinh", "acosh", "atanh", "deg", "rad", "pi", "sort_by_label", "sort_by_label_desc",
    "start", "end", "range", "step", "histogram_fraction", "histogram_quantiles", "min_of", "max_of",
)) | NATIVE_HISTOGRAM_FUNCTIONS

SCALAR_FUNCTIONS = frozenset(("time", "scalar", "pi", "start", "end", "range", "step", "min_of", "max_of"))

AGGREGATIONS = frozenset((
    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "limitk", "limit_ratio",
))

ARITHMETIC = frozenset(("+", "-", "*", "/", "%", "^", "atan2"))
COMPARISON = frozenset(("==", "!=", ">", "<", ">=", "<="))
SET_OPERATORS = frozenset(("and", "or", "unless"))

# The parser's enums are not hashable; their str() is stable.
_MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}

_CARDINALITY = {
    "VectorMatchCardinality.OneToOne": n.ONE_TO_ONE,
    "VectorMatchCardinality.ManyToOne": n.MANY_TO_ONE,
    "VectorMatchCardinality.OneToMany": n.ONE_TO_MANY,
    "VectorMatchCardinality.ManyToMany": n.MANY_TO_MANY,
}


# Texts the parser needs well under a millisecond and a megabyte for skip the child process.
_CHILD_FROM_COST = 2_000
_CHILD_FROM_LENGTH = 4_096

DEFAULT_LIMITS = Limits(Settings.query_max_length, Settings.query_max_depth)
CACHE_SIZE = 1024


class Parser:
    """PromQL parsing behind one set of limits, with its own parser child process and parse cache:
    each Engine owns one (its query engine's), so engines in one process never share limits and
    closing one never stops another's child."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._child = ParserProcess()
        self._cached = lru_cache(maxsize=CACHE_SIZE)(self._parse_new)

    def parse(self, text: str) -> n.Node:
        """Parse and validate one expression; raises ``QueryError(bad_data)``. Texts the size of real
        queries are cached; long ones are not, so 1,024 distinct 60 KB queries cannot pin a gigabyte."""
        if len(text) < _CHILD_FROM_LENGTH:
            return self._cached(text)
        return self._parse_new(text)

    def series_selector(self, text: str) -> tuple[Matcher, ...]:
        """The matchers of a plain series selector such as ``up{job="api"}``; ``QueryError(bad_data)``.

        Unlike :meth:`parse`, ``(up)`` and ``up offset 5m`` are refused, as Prometheus's ``match[]`` is.
        """
        tree = self._tree(text)
        if type(tree) is not pp.VectorSelector or _duration_ms(tree, "offset") is not None or tree.at is not None:
            raise QueryError(BAD_DATA, "parse error: expected a series selector such as "
                                       f'up{{job="api"}}, got {quote(text)}')
        return _selector(tree).matchers

    def close(self) -> None:
        """Stop the parser's child process (started again when needed)."""
        self._child.close()

    def _parse_new(self, text: str) -> n.Node:
        tree = self._tree(text)
        token = _GO_STRINGS.set(go_strings(text))
        negative = _NEGATIVE_AT.set(_MINUS_AT.search(text) is not None)
        try:
            return _convert(tree)
        finally:
            _GO_STRINGS.reset(token)
            _NEGATIVE_AT.reset(negative)

    def _tree(self, text: str) -> object:
        """The parser's tree for a text within the limits, or ``QueryError(bad_data)``."""
        shape = check(text, self.limits)
        if (shape.cost >= _CHILD_FROM_COST or len(text) >= _CHILD_FROM_LENGTH) and not self._child.survives(text):
            raise QueryError(BAD_DATA, "parse error: the query could not be parsed (the parser failed on it)")
        try:
            return pp.parse(text)
        except Exception as exc:  # the parser reports every syntax and type error as ValueError
            raise QueryError(BAD_DATA, _parse_error(text, _parser_message(exc))) from None


_tools_parser: Parser | None = None


def tools_parser() -> Parser:
    """The parser of what runs without an Engine (``rules check``, ``rules test``, the PromQL
    benchmarks), with the default limits; created on first use."""
    global _tools_parser
    if _tools_parser is None:
        _tools_parser = Parser()
    return _tools_parser


# The Go value of string literals the parser decodes otherwise, while one text is converted.
_GO_STRINGS: ContextVar[dict[str, str] | None] = ContextVar("go_strings", default=None)
# Whether the text being converted may hold an ``@`` time before 1970 (see ``_at``).
_NEGATIVE_AT: ContextVar[bool] = ContextVar("negative_at", default=True)
_MINUS_AT = re.compile(r"@\s*-")


def go_strings(text: str) -> dict[str, str]:
    """String literals whose byte escapes make them differ from the parser's reading: Go keeps
    ``"\\xff"`` as the byte 0xff (invalid UTF-8, a surrogate escape here), the parser reads U+00FF.
    Maps the parser's value to Go's."""
    found: dict[str, str] = {}
    if "\\" not in text:
        return found
    i, size = 0, len(text)
    while i < size:
        c = text[i]
        if c == "#":  # a comment, to the end of its line
            end = text.find("\n", i)
            i = size if end < 0 else end
        elif c == "`":  # raw strings have no escapes
            end = text.find("`", i + 1)
            i = size if end < 0 else end + 1
        elif c in "\"'":
            go, read = bytearray(), []
            i += 1
            try:
                while i < size and text[i] != c:
                    r, raw, i = unquote_char(text, i, c)
                    go += bytes([r]) if raw else to_bytes(chr(r))
                    read.append(chr(r))
            except ValueError:  # the parser has refused the text already
                return found
            i += 1
            go_value, parser_value = from_bytes(bytes(go)), "".join(read)
            if go_value != parser_value:
                found[parser_value] = go_value
        else:
            i += 1
    return found


# The parser's messages that name a function, in its words, as Prometheus words them.
_FUNCTION_ERRORS = (
    (re.compile(r"unknown function with name '([^']*)'\Z"), 'unknown function with name "{name}"'),
    (re.compile(r"expected (\d+) argument\(s\) in call to '([^']*)', got (\d+)\Z"),
     'expected {0} argument(s) in call to "{name}", got {2}'),
)
_AT_END = ("unexpected end of input", "unclosed left parenthesis")


def _parse_error(text: str, message: str) -> str:
    """A parse error as Prometheus prints it, ``line:column: parse error: ...``. The parser gives
    no position, so it is worked out here for the common kinds: errors at the end of the input
    and errors naming a function (the call's position); other errors go without one."""
    if message.startswith(_AT_END):
        return f"{_position(text, len(text))}: parse error: {message}"
    for pattern, words in _FUNCTION_ERRORS:
        m = pattern.match(message)
        if m is None:
            continue
        name = m.group(m.lastindex if words.startswith("unknown") else 2)
        call = re.search(rf"(?<![\w:]){re.escape(name)}\s*\(", text)
        message = words.format(*m.groups(), name=name)
        if call is not None:
            return f"{_position(text, call.start())}: parse error: {message}"
        break
    return f"parse error: {message}"


def _position(text: str, offset: int) -> str:
    """Prometheus's ``line:column`` of a character offset: both from 1, the column in bytes."""
    line_start = text.rfind("\n", 0, offset) + 1
    line = text.count("\n", 0, offset) + 1
    return f"{line}:{len(text[line_start:offset].encode('utf-8', 'surrogateescape')) + 1}"


def _parser_message(exc: Exception) -> str:
    """The parser checks matcher regexes with Rust's engine ("illegal regex for (?=x)"); Prometheus
    names the RE2 problem ("error parsing regexp: invalid or unsupported Perl syntax: `(?=`")."""
    text = str(exc)
    pattern = text.removeprefix("illegal regex for ")
    if pattern != text:
        try:
            compile_anchored(pattern)
        except RegexError as err:
            return str(err)
    return text


def _ms(delta: timedelta) -> int:
    return delta // _MS


def _duration_ms(e: object, attr: str) -> int | None:
    """A duration of the parser's tree in milliseconds, None when absent. The parser hands durations
    over as ``timedelta``, which cannot hold some it accepts (``offset 3000000y``): refused as
    Prometheus refuses them."""
    try:
        delta = getattr(e, attr)
        ms = None if delta is None else _ms(delta)
    except (ValueError, OverflowError):
        ms = MAX_MS + 1
    if ms is not None and abs(ms) > MAX_MS:  # past Go's int64 nanoseconds (292 years)
        raise QueryError(BAD_DATA, "parse error: duration out of range")
    return ms


def _convert(e: object) -> n.Node:
    kind = type(e)
    if kind is pp.ParenExpr:
        return _convert(e.expr)
    if kind is pp.NumberLiteral:
        return n.NumberLiteral(float(e.val))
    if kind is pp.StringLiteral:
        return n.StringLiteral((_GO_STRINGS.get() or {}).get(e.val, e.val))
    if kind is pp.VectorSelector:
        return _selector(e)
    if kind is pp.MatrixSelector:
        return n.MatrixSelector(_selector(e.vector_selector), _duration_ms(e, "range") or 0)
    if kind is pp.UnaryExpr:
        inner = _convert(e.expr)
        return n.Negation(inner, inner.type)
    if kind is pp.Call:
        return _call(e)
    if kind is pp.AggregateExpr:
        return _aggregate(e)
    if kind is pp.BinaryExpr:
        return _binary(e)
    if kind is pp.SubqueryExpr:
        offset = _duration_ms(e, "offset") or 0
        step = _duration_ms(e, "step") or 0
        return n.Subquery(_convert(e.expr), _duration_ms(e, "range") or 0, step, offset, _at(e.at))
    raise unsupported(f"the expression {e} is not supported")


def _at(at: pp.AtModifier | None) -> n.At:
    """The ``@`` time in milliseconds (Prometheus keeps milliseconds), or start / end."""
    if at is None:
        return None
    kind = str(at.type)
    if kind == "AtModifierType.Start":
        return n.AT_START
    if kind == "AtModifierType.End":
        return n.AT_END
    # The parser's own time is a SystemTime it cannot give for times before 1970, and its text
    # shows those as 0: a 0 that is not the text's own is refused rather than misread.
    text = str(at).removeprefix("@ ")
    if text == "0.000":
        if _NEGATIVE_AT.get():  # reading it would make the parser panic, printing to stderr
            raise unsupported("@ times before 1970 are not supported")
        try:
            return _ms(at.at - _EPOCH)
        except BaseException:  # noqa: BLE001 -- the parser panics (a BaseException) on such times
            raise unsupported("@ times before 1970 are not supported") from None
    ms = round(float(text) * 1000)
    if abs(ms) > MAX_TIME_MS:  # steps are int64 arrays; Prometheus refuses such times too
        raise QueryError(BAD_DATA, f"parse error: timestamp out of bounds for @ modifier: {float(text):f}")
    return ms


def _selector(vs: pp.VectorSelector) -> n.VectorSelector:
    if vs.matchers.or_matchers:
        raise unsupported("'or' between label matchers is not supported")
    try:
        matchers = [Matcher.make("__name__", "=", vs.name)] if vs.name else []
        for m in vs.matchers.matchers:
            matchers.append(Matcher.make(m.name, _MATCH_OPS[str(m.op)], m.value))
    except MatcherError as exc:
        raise QueryError(BAD_DATA, f"parse error: {exc}") from None
    return n.VectorSelector(tuple(matchers), _duration_ms(vs, "offset") or 0, _at(vs.at))


def _call(e: pp.Call) -> n.Call:
    name = e.func.name
    if name in RANGE_FUNCTIONS or name in INSTANT_FUNCTIONS:
        args = tuple(_convert(a) for a in e.args)
        return n.Call(name, args, n.SCALAR if name in SCALAR_FUNCTIONS else n.VECTOR)
    raise unsupported(f'the function "{name}" is not supported')


def _aggregate(e: pp.AggregateExpr) -> n.Aggregate:
    op = str(e.op)
    if op not in AGGREGATIONS:
        raise unsupported(f'the aggregation "{op}" is not supported')
    modifier = e.modifier
    grouping = tuple(modifier.labels) if modifier is not None else ()
    without = modifier is not None and modifier.type == pp.AggModifierType.Without
    param = _convert(e.param) if e.param is not None else None
    return n.Aggregate(op, _convert(e.expr), param, grouping, without)


def _binary(e: pp.BinaryExpr) -> n.Binary:
    op = str(e.op)
    if op not in ARITHMETIC and op not in COMPARISON and op not in SET_OPERATORS:
        raise unsupported(f'the operator "{op}" is not supported')
    lhs, rhs = _convert(e.lhs), _convert(e.rhs)
    modifier = e.modifier
    card = n.MANY_TO_MANY if op in SET_OPERATORS else n.ONE_TO_ONE
    on, matching, include, return_bool = False, (), (), False
    if modifier is not None:
        fill = modifier.fill_values
        if fill is not None and (fill.lhs is not None or fill.rhs is not None):
            raise unsupported("fill() in vector matching is not supported")
        card = _CARDINALITY[str(modifier.card)]
        return_bool = bool(modifier.return_bool)
        include = tuple(modifier.group_labels or ())
        if modifier.matching is not None:
            on = modifier.matching.type == pp.LabelModifierType.Include
            matching = tuple(modifier.matching.labels)
    result_type = n.SCALAR if lhs.type == n.SCALAR and rhs.type == n.SCALAR else n.VECTOR
    return n.Binary(op, lhs, rhs, return_bool, card, on, matching, include, result_type)
