"""The query engine: walks the expression tree once for all steps of a query.

An instant query is a range query with one step. Every node evaluates to its value at every step
(rows of per-step values for vectors, one float per step for scalars), each selector reads the
store once for the whole query range, and limits (samples held in memory, wall-clock deadline)
are checked as the tree is walked, the deadline also inside the loops over series and steps.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections.abc import Iterator

from engine.promql import nodes as n
from engine.promql.aggregations import aggregate
from engine.promql.binops import scalar_scalar, set_operation, vector_scalar, vector_vector
from engine.promql.columns import window_bounds
from engine.promql.deadline import CHECK_CELLS, Deadline
from engine.promql.errors import BAD_DATA, TOO_MANY_SAMPLES, QueryError, execution
from engine.promql.functions import (
    DATE_FUNCTIONS,
    MATH,
    absent_labels,
    apply_math,
    clamp,
    date_of_steps,
    date_of_values,
    histogram_fraction,
    histogram_quantile,
    histogram_quantiles,
    label_join,
    label_replace,
    round_,
    scalar,
    sort_by_label,
    sort_rows,
)
from engine.promql.gomath import INF, go_max, go_min, round_half_up
from engine.promql.labels import NAME, drop_name
from engine.promql.parse import (
    MAX_TIME_MS,
    NATIVE_HISTOGRAM_FUNCTIONS,
    RANGE_FUNCTIONS,
    SET_OPERATORS,
    Parser,
    tools_parser,
)
from engine.promql.rangefuncs import FUNCTIONS as RANGE_FNS
from engine.promql.rangefuncs import KEEPS_NAME, RangeContext, go_seconds
from engine.promql.rows import Row, assert_distinct, merge_same_labels, several_names
from engine.promql.selectors import STALE_BYTES, Windows, drop_stale, instant_rows, range_samples
from engine.promql.values import QueryResult, Sample, Series
from engine.tsdb.store import SeriesData, Store
from engine.tsdb.types import Labels

MAX_POINTS = 11_000

# Functions of the query itself (its start, end and step in ms), whatever the step evaluated.
QUERY_FUNCTIONS = {
    "start": lambda start, end, step: start,
    "end": lambda start, end, step: end,
    "range": lambda start, end, step: end - start,
    "step": lambda start, end, step: step,
}
_MAX_SECONDS = MAX_TIME_MS / 1000


def _single_name(selector: n.VectorSelector) -> bool:
    """An equality matcher on the name: dropping it cannot make two series' labels collide."""
    return any(m.name == NAME and m.op == "=" for m in selector.matchers)


def to_ms(t: float) -> int:
    """Unix seconds to milliseconds the way Prometheus parses a float ``time`` parameter."""
    if not math.isfinite(t) or abs(t) > _MAX_SECONDS:
        raise QueryError(BAD_DATA, f"cannot parse {t!r} to a valid timestamp")
    frac, whole = math.modf(t)
    frac = round_half_up(frac * 1000) / 1000
    return int(whole) * 1000 + int(frac * 1e9) // 1_000_000


class _Evaluation:
    """One query's evaluation: its steps, limits and running sample count."""

    def __init__(self, store: Store, steps: list[int], lookback: int, max_samples: int,
                 deadline: Deadline, interval: int, bounds: tuple[int, int, int]) -> None:
        """``interval``: the default subquery step (ms); ``bounds``: the query's own start, end and
        step (0 for an instant query), which ``@ start()``, ``start()``... name, inside subqueries too."""
        self.store = store
        self.steps = steps
        self.size = len(steps)
        self.lookback = lookback
        self.max_samples = max_samples
        self.deadline = deadline
        self.interval = interval
        self.bounds = bounds
        self.samples = 0

    def ends(self, offset: int, at: n.At) -> list[int]:
        """Per step, the time a selector or subquery reads at: the step less the offset, or the
        ``@`` time less the offset at every step."""
        if at is None:
            return [t - offset for t in self.steps]
        if at == n.AT_START:
            at = self.bounds[0]
        elif at == n.AT_END:
            at = self.bounds[1]
        return [at - offset] * self.size

    # -- limits ------------------------------------------------------------------------------

    def take(self, count: int) -> None:
        """Account for samples now held in memory (released when their node is consumed)."""
        self.samples += count
        if self.samples > self.max_samples:
            raise execution(TOO_MANY_SAMPLES)

    def eval(self, node: n.Node):
        self.deadline.check()
        before = self.samples
        value = self._dispatch[type(node)](self, node)
        if node.type == n.VECTOR:
            # Rows are never empty, so with one step each row holds exactly one sample.
            if self.size == 1:
                produced = len(value)
            else:
                produced = sum([self.size - vals.count(None) for _, vals in value])
        elif node.type == n.SCALAR:
            produced = self.size
        else:
            produced = 0
        self.take(produced)  # the peak: this node's output while its inputs are still held
        self.samples = before + produced  # then the inputs are released
        return value

    # -- leaves ------------------------------------------------------------------------------

    def _number(self, node: n.NumberLiteral) -> list[float]:
        return [node.value] * self.size

    def _string(self, node: n.StringLiteral) -> str:
        return node.value

    def _select_range(self, selector: n.VectorSelector, mint: int, maxt: int):
        """Samples for range windows; like Prometheus, every sample in a window counts."""
        data = self.store.select(selector.matchers, mint, maxt)
        self.take(sum([len(d.ts) for d in data]))
        return data

    def _vector_selector(self, node: n.VectorSelector, timestamps: bool = False) -> list[Row]:
        """Only the samples picked for the steps count, as in Prometheus (they are the output)."""
        ends = self.ends(node.offset_ms, node.at)
        data = self.store.select(node.matchers, ends[0] - self.lookback, ends[-1])
        return instant_rows(self.deadline.paced(data, self.size), ends, self.lookback, timestamps,
                            self.max_samples - self.samples)

    def matrix(self, node: n.MatrixSelector | n.Subquery) -> list[tuple]:
        """A range vector as a query result: the raw samples of each series' window."""
        ends, data = self._range_data(node)
        if isinstance(node, n.Subquery):
            return sorted([(d.labels, d.ts, d.vals) for d in data], key=lambda s: s[0])
        return sorted(range_samples(data), key=lambda s: s[0])

    def _range_data(self, node: n.MatrixSelector | n.Subquery) -> tuple[list[int], list[SeriesData]]:
        """The windows' ends of a range vector and its series' samples over all of them."""
        if isinstance(node, n.Subquery):
            ends = self.ends(node.offset_ms, node.at)
            return ends, self._subquery(node, ends[0] - node.range_ms, ends[-1])
        sel = node.selector
        ends = self.ends(sel.offset_ms, sel.at)
        return ends, self._select_range(sel, ends[0] - node.range_ms, ends[-1])

    def _subquery(self, node: n.Subquery, mint: int, maxt: int) -> list[SeriesData]:
        """The inner expression evaluated at the multiples of the subquery's step in
        ``(mint, maxt]``, as Prometheus aligns them (absolute times, not relative to the query)."""
        step = node.step_ms or self.interval
        first = (mint // step + 1) * step
        if maxt < first:
            return []
        count = (maxt - first) // step + 1
        if self.samples + count > self.max_samples:  # refused before building the steps themselves
            raise execution(TOO_MANY_SAMPLES)
        inner = _Evaluation(self.store, list(range(first, maxt + 1, step)), self.lookback, self.max_samples,
                            self.deadline, self.interval, self.bounds)
        inner.samples = self.samples
        steps = inner.steps
        every_step = array("q", steps)
        out = []
        for labels, vals in self.deadline.paced(inner.eval(node.expr), count):
            if None not in vals:  # present at every step: no tuple per sample
                out.append(SeriesData(0, labels, every_step[:], array("d", vals)))
                continue
            picked = [(t, v) for t, v in zip(steps, vals, strict=True) if v is not None]
            out.append(SeriesData(0, labels, array("q", [t for t, _ in picked]), array("d", [v for _, v in picked])))
        self.take(sum([len(d.ts) for d in out]))
        return out

    # -- operators ---------------------------------------------------------------------------

    def _negation(self, node: n.Negation):
        value = self.eval(node.expr)
        if node.type == n.SCALAR:
            return [-v for v in value]
        out = [(drop_name(labels), [None if v is None else -v for v in vals])
               for labels, vals in self.deadline.paced(value, self.size)]
        return merge_same_labels(out) if several_names(value) else out

    def _binary(self, node: n.Binary):
        lhs = self.eval(node.lhs)
        rhs = self.eval(node.rhs)
        left, right = node.lhs.type, node.rhs.type
        if left == n.SCALAR and right == n.SCALAR:
            return scalar_scalar(node.op, lhs, rhs)
        if left == n.VECTOR and right == n.VECTOR:
            if node.op in SET_OPERATORS:
                return set_operation(node.op, lhs, rhs, node.on, node.matching, self.size, self.deadline)
            return vector_vector(node, lhs, rhs, self.size, self.deadline)
        if left == n.VECTOR:
            return vector_scalar(node.op, lhs, rhs, False, node.return_bool, self.deadline)
        return vector_scalar(node.op, rhs, lhs, True, node.return_bool, self.deadline)

    def _aggregate(self, node: n.Aggregate) -> list[Row]:
        if node.op == "count_values":
            param = node.param.value
        else:
            param = self.eval(node.param) if node.param is not None else None
        rows = self.eval(node.expr)
        return aggregate(node.op, rows, node.grouping, node.without, param, self.size, self.deadline)

    # -- functions ---------------------------------------------------------------------------

    def _call(self, node: n.Call):
        name = node.func
        if name in RANGE_FUNCTIONS:
            return self._range_call(node)
        args = node.args
        if name == "time":
            return [t / 1000 for t in self.steps]
        if name in QUERY_FUNCTIONS:
            return [QUERY_FUNCTIONS[name](*self.bounds) / 1000] * self.size
        if name == "pi":
            return [math.pi] * self.size
        if name in ("min_of", "max_of"):
            pick = go_min if name == "min_of" else go_max
            return [pick(a, b) for a, b in zip(self.eval(args[0]), self.eval(args[1]), strict=True)]
        if name == "vector":
            return [((), list(self.eval(args[0])))]
        if name == "scalar":
            return scalar(self._paced(self.eval(args[0])), self.size)
        if name in DATE_FUNCTIONS:
            if not args:
                return date_of_steps(name, self.steps)
            rows = self.eval(args[0])
            return self._renamed(date_of_values(name, self._paced(rows)), rows)
        if name == "timestamp":
            return self._timestamp(args[0])
        if name == "absent":
            return self._absent(args[0], self._any_present(self.eval(args[0])))
        if name == "label_replace":
            rows = self.eval(args[0])
            dst, replacement, src, regex = (a.value for a in args[1:])
            return merge_same_labels(label_replace(self._paced(rows), dst, replacement, src, regex))
        if name == "label_join":
            rows = self.eval(args[0])
            sources = [a.value for a in args[3:]]
            return merge_same_labels(label_join(self._paced(rows), args[1].value, args[2].value, sources))
        if name in ("sort", "sort_desc"):
            return sort_rows(self.eval(args[0]), name == "sort_desc")
        if name in ("sort_by_label", "sort_by_label_desc"):
            return sort_by_label(self.eval(args[0]), [a.value for a in args[1:]], name == "sort_by_label_desc")
        if name == "histogram_fraction":
            lower, upper = self.eval(args[0]), self.eval(args[1])
            return merge_same_labels(histogram_fraction(self._paced(self.eval(args[2])), lower, upper, self.size))
        if name == "histogram_quantiles":
            rows = list(self._paced(self.eval(args[0])))
            qs = [self.eval(a) for a in args[2:]]
            return merge_same_labels(histogram_quantiles(rows, args[1].value, qs, self.size))
        if name in NATIVE_HISTOGRAM_FUNCTIONS:
            return []  # its argument's float samples would all be ignored: nothing to read
        if name == "histogram_quantile":
            qs = self.eval(args[0])
            return merge_same_labels(histogram_quantile(self._paced(self.eval(args[1])), qs, self.size))
        rows = self.eval(args[0])
        if name in MATH:
            return self._renamed(apply_math(self._paced(rows), MATH[name]), rows)
        if name == "round":
            to_nearest = self.eval(args[1]) if len(args) > 1 else [1.0] * self.size
            return self._renamed(round_(self._paced(rows), to_nearest), rows)
        lower = self.eval(args[1]) if name in ("clamp", "clamp_min") else [-INF] * self.size
        upper = self.eval(args[-1]) if name in ("clamp", "clamp_max") else [INF] * self.size
        out = [row for row in clamp(self._paced(rows), lower, upper) if row[1].count(None) != self.size]
        return self._renamed(out, rows)

    def _paced(self, rows: list[Row]) -> Iterator[Row]:
        """Rows for a function that handles them one at a time, with deadline checks between."""
        return self.deadline.paced(rows, self.size)

    def _renamed(self, out: list[Row], inputs: list[Row]) -> list[Row]:
        """Output of a name-dropping function: series of different metrics may now collide."""
        return merge_same_labels(out) if several_names(inputs) else out

    def _timestamp(self, arg: n.Node) -> list[Row]:
        """A selector's samples keep their own time; anything else is stamped with the step."""
        if isinstance(arg, n.VectorSelector):
            rows = self._vector_selector(arg, timestamps=True)
            out = [(drop_name(labels), vals) for labels, vals in rows]
        else:
            rows = self.eval(arg)
            seconds = [t / 1000 for t in self.steps]
            out = [(drop_name(labels), [None if v is None else s for v, s in zip(vals, seconds, strict=True)])
                   for labels, vals in self._paced(rows)]
        return self._renamed(out, rows)

    def _any_present(self, rows: list[Row]) -> list[bool]:
        present = [False] * self.size
        for _, vals in rows:
            for i, v in enumerate(vals):
                if v is not None:
                    present[i] = True
        return present

    def _absent(self, arg: n.Node, present: list[bool]) -> list[Row]:
        """1 at the steps where the argument has no series, labelled from its equality matchers."""
        if isinstance(arg, n.MatrixSelector):
            arg = arg.selector
        labels = absent_labels(arg.matchers) if isinstance(arg, n.VectorSelector) else ()
        vals = [None if p else 1.0 for p in present]
        return [(labels, vals)] if vals.count(None) != self.size else []

    def _range_call(self, node: n.Call) -> list[Row]:
        """Series sharing their timestamps share their windows and go to the function together."""
        name = node.func
        position = RANGE_FUNCTIONS[name]
        scalars = [self.eval(a) for i, a in enumerate(node.args) if i != position]
        ms: n.MatrixSelector | n.Subquery = node.args[position]
        ends, data = self._range_data(ms)
        starts = [e - ms.range_ms for e in ends]
        # Group series by timestamps (the bytes of their timestamp array), keeping input order.
        batches: dict[bytes, tuple[array, list[int], list[array]]] = {}
        labels_of: list[Labels] = []
        for d in data:
            ts, vals = d.ts, d.vals
            if STALE_BYTES in vals.tobytes():
                ts, vals = drop_stale(ts, vals)
                if not ts:
                    continue
            key = ts.tobytes()
            batch = batches.get(key)
            if batch is None:
                batch = batches[key] = (ts, [], [])
            batch[1].append(len(labels_of))
            batch[2].append(vals)
            labels_of.append(d.labels)
        ctx = RangeContext(self.steps, starts, ends, go_seconds(ms.range_ms), scalars, self.deadline)
        fn = RANGE_FNS[name]
        results: list = [None] * len(labels_of)
        run = max(1, CHECK_CELLS // self.size)
        for ts, indexes, members in batches.values():
            win = Windows(*window_bounds(ts, starts, ends))
            for k in range(0, len(members), run):  # windows are memoised: runs share that work
                self.deadline.check()
                for i, res in zip(indexes[k:k + run], fn(ts, members[k:k + run], win, ctx), strict=True):
                    results[i] = res
        size = self.size
        keep_name = name in KEEPS_NAME
        out = [(labels if keep_name else drop_name(labels), res)
               for labels, res in zip(labels_of, results, strict=True) if res.count(None) != size]
        if name == "absent_over_time":
            return self._absent(ms, self._any_present(out))
        named = isinstance(ms, n.MatrixSelector) and _single_name(ms.selector)
        if not keep_name and not named and several_names(zip(labels_of, results, strict=True)):
            assert_distinct(out)
        return out

    _dispatch = {
        n.NumberLiteral: _number,
        n.StringLiteral: _string,
        n.VectorSelector: _vector_selector,
        n.Negation: _negation,
        n.Binary: _binary,
        n.Aggregate: _aggregate,
        n.Call: _call,
    }


class QueryEngine:
    """PromQL over a :class:`Store`, with Prometheus's semantics (lookback, staleness, matching)."""

    def __init__(self, store: Store, *, lookback_ms: int = 300_000, max_samples: int = 50_000_000,
                 timeout_s: float = 120.0, parser: Parser | None = None, evaluation_interval_ms: int = 60_000) -> None:
        """``parser``: the Engine's (its limits and child process); the command-line tools' otherwise.
        ``evaluation_interval_ms``: the step of subqueries that give none (Prometheus: the global
        evaluation interval, whatever the query's own step)."""
        self.store = store
        self.evaluation_interval_ms = evaluation_interval_ms
        self.parser = parser or tools_parser()
        self.lookback_ms = lookback_ms
        self.max_samples = max_samples
        self.timeout_s = timeout_s
        self.closing = threading.Event()
        """Set by ``close``: every running evaluation and lookup stops at its next deadline check."""

    def parse(self, expr: str) -> n.Node:
        """Parse and validate; raises ``QueryError(bad_data)`` for bad or unsupported input."""
        return self.parser.parse(expr)

    def deadline(self, at: float | None = None) -> Deadline:
        """The deadline of one piece of work: the caller's ``at`` (``time.monotonic()`` seconds)
        when sooner than the engine's timeout; it also ends when the engine closes."""
        limit = time.monotonic() + self.timeout_s
        return Deadline(limit if at is None else min(limit, at), self.closing)

    def close(self) -> None:
        """Stop running queries at their next check (shutdown); later ones stop at once."""
        self.closing.set()

    def _evaluation(self, steps: list[int], deadline: float | None, end_ms: int | None = None,
                    step_ms: int = 0) -> _Evaluation:
        """``end_ms``: a range query's own end, which ``@ end()`` names even off its last step."""
        bounds = (steps[0], steps[-1] if end_ms is None else end_ms, step_ms)
        return _Evaluation(self.store, steps, self.lookback_ms, self.max_samples, self.deadline(deadline),
                           self.evaluation_interval_ms, bounds)

    def instant(self, expr: str, t: float, deadline: float | None = None) -> QueryResult:
        """Evaluate at one time (unix seconds); ``deadline`` (``time.monotonic()`` seconds) is the
        caller's, when sooner than the engine's timeout (a request's own ``timeout``)."""
        node = self.parse(expr)
        t_ms = to_ms(t)
        seconds = t_ms / 1000
        ev = self._evaluation([t_ms], deadline)
        if node.type == n.MATRIX:
            series = [Series(dict(labels), [(ts_ / 1000, v) for ts_, v in zip(ts, vals, strict=True)])
                      for labels, ts, vals in ev.matrix(node)]
            return QueryResult("matrix", series, seconds)
        value = ev.eval(node)
        if node.type == n.SCALAR:
            return QueryResult("scalar", (seconds, value[0]), seconds)
        if node.type == n.STRING:
            return QueryResult("string", (seconds, value), seconds)
        samples = [Sample(dict(labels), vals[0]) for labels, vals in value if vals[0] is not None]
        return QueryResult("vector", samples, seconds)

    def range(self, expr: str, start: float, end: float, step: float, deadline: float | None = None) -> QueryResult:
        """Evaluate at ``start``, ``start + step``... up to ``end``; always a matrix (``deadline`` as in
        :meth:`instant`)."""
        start_ms, end_ms = to_ms(start), to_ms(end)
        if end_ms < start_ms:
            raise QueryError(BAD_DATA, "end timestamp must not be before start time")
        # Nearest nanosecond: a step given as "1001ms" arrives as 1.001 s, just below 1001 ms.
        step_ns = round(step * 1e9) if step == step and abs(step) < 9e9 else 0
        step_ms = step_ns // 1_000_000
        if step_ns <= 0 or step_ms <= 0:
            raise QueryError(BAD_DATA, "zero or negative query resolution step widths are not accepted. "
                                       "Try a positive integer")
        if (end_ms - start_ms) * 1_000_000 // step_ns > MAX_POINTS:
            raise QueryError(BAD_DATA, "exceeded maximum resolution of 11,000 points per timeseries. "
                                       "Try decreasing the query resolution (?step=XX)")
        node = self.parse(expr)
        if node.type not in (n.VECTOR, n.SCALAR):
            raise QueryError(BAD_DATA, f'invalid expression type "{n.DOCUMENTED_TYPE[node.type]}" for range '
                                       "query, must be Scalar or instant Vector")
        steps = list(range(start_ms, end_ms + 1, step_ms))
        value = self._evaluation(steps, deadline, end_ms, step_ms).eval(node)
        if node.type == n.SCALAR:
            value = [((), value)]
        series = [Series(dict(labels), [(t / 1000, v) for t, v in zip(steps, vals, strict=True)
                                        if v is not None])
                  for labels, vals in sorted(value, key=lambda row: row[0])]
        return QueryResult("matrix", series, start_ms / 1000)
