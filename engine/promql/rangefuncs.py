"""Functions over range vectors (``rate``, ``*_over_time``...), computed for every step at once.

A function is called once per group of series that share their timestamps (stale markers already
removed), with the windows of those timestamps for every step, and returns each series' value (or
None) per step; what depends only on timestamps (``rate``'s extrapolation) is computed once per
group. The float arithmetic follows Prometheus's ``functions.go`` operation by operation so that
results match exactly.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate, pairwise
from operator import lt, mul

from engine.compat.strconv import format_float
from engine.promql import columns
from engine.promql.deadline import CHECK_CELLS, Deadline
from engine.promql.errors import execution
from engine.promql.gomath import INF, div, sqrt
from engine.promql.selectors import Windows
from engine.promql.stats import kahan_sum, mean, quantile


@dataclass(slots=True)
class RangeContext:
    """What a range function needs besides the samples: step times, window bounds, scalar args."""

    steps: list[int]
    starts: list[int]  # exclusive window start per step: t - offset - range
    ends: list[int]  # inclusive window end per step: t - offset
    range_s: float
    args: list[list[float]]  # the call's scalar arguments, one value per step
    deadline: Deadline


SeriesFunction = Callable[[array, array, Windows, RangeContext], list]
RangeFunction = Callable[[array, list[array], Windows, RangeContext], list[list]]
"""Called once per group of series sharing their timestamps: the timestamps, each member's
values, the group's windows; returns each member's per-step results."""


def per_series(fn: SeriesFunction) -> RangeFunction:
    def batch(ts: array, members: list[array], win: Windows, ctx: RangeContext) -> list[list]:
        return [fn(ts, vals, win, ctx) for vals in members]
    return batch


def _paced(win: Windows, ctx: RangeContext, *per_step: list) -> Iterable[tuple]:
    """``zip(win.lo, win.hi, *per_step)`` for functions whose work grows with the windows'
    samples: with deadline checks when one series' windows hold enough samples to matter."""
    steps = zip(win.lo, win.hi, *per_step, strict=True)
    cells = win.memo.get("cells")
    if cells is None:
        cells = win.memo["cells"] = sum(win.hi) - sum(win.lo)
    if cells < CHECK_CELLS:
        return steps
    return ctx.deadline.paced(steps, cells // len(win.lo))


def go_seconds(ms: int) -> float:
    """Go's ``Duration.Seconds()`` for a whole number of milliseconds."""
    sec, rest = divmod(ms, 1000)
    return float(sec) + float(rest * 1_000_000) / 1e9


# --- rate, increase, delta ------------------------------------------------------------------

def _rate_timing(ts: array, win: Windows, ctx: RangeContext, is_rate: bool) -> list:
    """Everything in ``extrapolatedRate`` that depends only on timestamps, memoised per window set."""
    key = "rate" if is_rate else "increase"
    timing = win.memo.get(key)
    if timing is not None:
        return timing
    timing = []
    range_s = ctx.range_s
    for lo, hi, start, end in zip(win.lo, win.hi, ctx.starts, ctx.ends, strict=True):
        if hi - lo < 2:
            timing.append(None)
            continue
        first_t = ts[lo]
        last_t = ts[hi - 1]
        to_start = (first_t - start) / 1000
        to_end = (end - last_t) / 1000
        sampled = (last_t - first_t) / 1000
        average = sampled / (hi - lo - 1)
        threshold = average * 1.1
        if to_start >= threshold:
            to_start = average / 2
        if to_end >= threshold:
            to_end = average / 2
        factor = (sampled + to_start + to_end) / sampled
        if is_rate:
            factor /= range_s
        timing.append((lo, hi - 1, sampled, to_start, to_end, factor))
    win.memo[key] = timing
    return timing


def _reset_positions(vals: list[float]) -> list[int] | None:
    """Indexes k where the counter went down (``vals[k] < vals[k-1]``), None when it never did."""
    if not any(map(lt, vals[1:], vals)):
        return None
    return [k for k in range(1, len(vals)) if vals[k] < vals[k - 1]]


def _with_resets(vals: array | list[float], lo: int, last: int, result: float) -> float:
    """Add the value before each counter reset in the window, in order, as Prometheus does."""
    for k in range(lo + 1, last + 1):
        if vals[k] < vals[k - 1]:
            result += vals[k - 1]
    return result


def _extrapolated(ts: array, members: list[array], win: Windows, ctx: RangeContext,
                  is_counter: bool, is_rate: bool) -> list[list]:
    """Prometheus's ``extrapolatedRate``: the increase between the first and last sample (plus the
    value before each counter reset), extrapolated towards the window edges when samples are close
    enough to them, never below a counter's zero point."""
    timing = _rate_timing(ts, win, ctx, is_rate)
    range_s = ctx.range_s
    if columns.worthwhile(len(timing), len(members)):
        return columns.extrapolated(
            members, timing, range_s, is_counter, is_rate,
            lambda vals, tm: _extrapolated_steps(vals, [tm], range_s, is_counter, is_rate)[0])
    if len(timing) == 1:  # an instant query over a few series: one window shared by the whole group
        tm = timing[0]
        if tm is None:
            return [[None] for _ in members]
        lo, last, sampled, to_start, to_end, factor = tm
        out = []
        for vals in members:
            first = vals[lo]
            result = vals[last] - first
            if is_counter:
                if any(map(lt, vals[lo + 1:last + 1], vals[lo:last])):
                    result = _with_resets(vals, lo, last, result)
                if result > 0 and first >= 0:
                    to_zero = sampled * (first / result)
                    if to_zero < to_start:
                        f = (sampled + to_zero + to_end) / sampled
                        if is_rate:
                            f /= range_s
                        out.append([result * f])
                        continue
            out.append([result * factor])
        return out
    return [_extrapolated_steps(vals.tolist(), timing, range_s, is_counter, is_rate) for vals in members]


def _extrapolated_steps(vals: list[float], timing: list, range_s: float, is_counter: bool,
                        is_rate: bool) -> list:
    resets = _reset_positions(vals) if is_counter else None
    out: list = []
    append = out.append
    for tm in timing:
        if tm is None:
            append(None)
            continue
        lo, last, sampled, to_start, to_end, factor = tm
        first = vals[lo]
        result = vals[last] - first
        if resets is not None:
            i = bisect_right(resets, lo)
            if i < len(resets) and resets[i] <= last:
                result = _with_resets(vals, lo, last, result)
        if is_counter and result > 0 and first >= 0:
            to_zero = sampled * (first / result)
            if to_zero < to_start:
                f = (sampled + to_zero + to_end) / sampled
                if is_rate:
                    f /= range_s
                append(result * f)
                continue
        append(result * factor)
    return out


def rate(ts: array, members: list[array], win: Windows, ctx: RangeContext) -> list[list]:
    return _extrapolated(ts, members, win, ctx, True, True)


def increase(ts: array, members: list[array], win: Windows, ctx: RangeContext) -> list[list]:
    return _extrapolated(ts, members, win, ctx, True, False)


def delta(ts: array, members: list[array], win: Windows, ctx: RangeContext) -> list[list]:
    return _extrapolated(ts, members, win, ctx, False, False)


def _instant_value(ts: array, vals: array, win: Windows, is_rate: bool) -> list:
    """``irate``/``idelta`` from the last two samples of each window."""
    out: list = []
    for lo, hi in zip(win.lo, win.hi, strict=True):
        if hi - lo < 2:
            out.append(None)
            continue
        v0, v1 = vals[hi - 2], vals[hi - 1]
        if not is_rate:
            out.append(v1 - v0)
            continue
        result = v1 if v1 < v0 else v1 - v0
        out.append(result / ((ts[hi - 1] - ts[hi - 2]) / 1000))
    return out


def irate(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return _instant_value(ts, vals, win, True)


def idelta(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return _instant_value(ts, vals, win, False)


# --- linear regression ----------------------------------------------------------------------

def _linear_regression(ts: array, vals: array, lo: int, hi: int, intercept_time: int) -> tuple[float, float]:
    """Least squares with Kahan-compensated sums, x in seconds relative to ``intercept_time``."""
    ys = vals[lo:hi]
    init_y = ys[0]
    if ys.count(init_y) == len(ys):  # every y equal (NaN never is)
        if math.isinf(init_y):
            return math.nan, math.nan
        return 0.0, init_y
    xs = [(t - intercept_time) / 1e3 for t in ts[lo:hi]]
    n = float(len(ys))
    sum_x = kahan_sum(xs)
    sum_y = kahan_sum(ys)
    sum_xy = kahan_sum(map(mul, xs, ys))
    sum_x2 = kahan_sum(map(mul, xs, xs))
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = div(cov_xy, var_x)
    return slope, sum_y / n - slope * sum_x / n


def deriv(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return [_linear_regression(ts, vals, lo, hi, ts[lo])[0] if hi - lo >= 2 else None
            for lo, hi in _paced(win, ctx)]


def predict_linear(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    out: list = []
    for lo, hi, t, duration in _paced(win, ctx, ctx.steps, ctx.args[0]):
        if hi - lo < 2:
            out.append(None)
            continue
        slope, intercept = _linear_regression(ts, vals, lo, hi, t)
        out.append(slope * duration + intercept)
    return out


# --- counting -------------------------------------------------------------------------------

def _pair_counts(vals: array, changed: Callable[[float, float], bool]) -> list[int]:
    """Prefix counts of consecutive sample pairs satisfying ``changed(previous, current)``."""
    flags = [0] + [1 if changed(p, c) else 0 for p, c in pairwise(vals)]
    return list(accumulate(flags))


def resets(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    prefix = _pair_counts(vals, lambda p, c: c < p)
    return [float(prefix[hi - 1] - prefix[lo]) if hi > lo else None
            for lo, hi in zip(win.lo, win.hi, strict=True)]


def changes(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    prefix = _pair_counts(vals, lambda p, c: c != p and not (c != c and p != p))
    return [float(prefix[hi - 1] - prefix[lo]) if hi > lo else None
            for lo, hi in zip(win.lo, win.hi, strict=True)]


# --- aggregation over time ------------------------------------------------------------------

def _max(values: array) -> float:
    best = values[0]
    for f in values:
        if f > best or best != best:
            best = f
    return best


def _min(values: array) -> float:
    best = values[0]
    for f in values:
        if f < best or best != best:
            best = f
    return best


def _variance(values: array) -> float:
    """Welford's running variance with both running sums Kahan-compensated (inlined)."""
    count = mean_ = c_mean = aux = c_aux = 0.0
    for f in values:
        count += 1
        d = f - (mean_ + c_mean)
        inc = d / count
        t = mean_ + inc
        if t == INF or t == -INF:
            c_mean = 0.0
        elif abs(mean_) >= abs(inc):
            c_mean += (mean_ - t) + inc
        else:
            c_mean += (inc - t) + mean_
        mean_ = t
        inc = d * (f - (mean_ + c_mean))
        t = aux + inc
        if t == INF or t == -INF:
            c_aux = 0.0
        elif abs(aux) >= abs(inc):
            c_aux += (aux - t) + inc
        else:
            c_aux += (inc - t) + aux
        aux = t
    return (aux + c_aux) / count


def _over_time(reduce: Callable[[array], float]) -> SeriesFunction:
    def fn(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
        return [reduce(vals[lo:hi]) if hi > lo else None for lo, hi in _paced(win, ctx)]
    return fn


Kernel = Callable[[list[array], list[int], list[int]], list[list]]


def _columnar(single: SeriesFunction, kernel: Kernel) -> RangeFunction:
    """A function computed by a ``columns`` kernel for all members and steps at once over many
    steps, and by ``single`` per series and window otherwise (an instant query)."""
    per_window = per_series(single)

    def fn(ts: array, members: list[array], win: Windows, ctx: RangeContext) -> list[list]:
        if columns.worthwhile(len(win.lo), len(members)):
            return kernel(members, win.lo, win.hi)
        return per_window(ts, members, win, ctx)
    return fn


def _extreme_over_time(reduce: Callable[[array], float], is_max: bool) -> RangeFunction:
    """``max_over_time``/``min_over_time``."""
    return _columnar(_over_time(reduce), lambda members, lo, hi: columns.extreme_over_time(
        members, lo, hi, is_max, reduce))


def _stddev(values: array) -> float:
    return sqrt(_variance(values))


def _stddev_columns(members: list[array], lo: list[int], hi: list[int]) -> list[list]:
    return [[None if v is None else sqrt(v) for v in row] for row in columns.variance_over_time(members, lo, hi)]


def _same_for_all(fn: SeriesFunction) -> RangeFunction:
    """A function of the windows alone (not the values): computed once for the whole group."""
    def batch(ts: array, members: list[array], win: Windows, ctx: RangeContext) -> list[list]:
        if not members:
            return []
        row = fn(ts, members[0], win, ctx)
        return [row] + [list(row) for _ in members[1:]]
    return batch


def count_over_time(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return [float(hi - lo) if hi > lo else None for lo, hi in zip(win.lo, win.hi, strict=True)]


def last_over_time(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return [vals[hi - 1] if hi > lo else None for lo, hi in zip(win.lo, win.hi, strict=True)]


def first_over_time(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return [vals[lo] if hi > lo else None for lo, hi in zip(win.lo, win.hi, strict=True)]


def _mad(values: array) -> float:
    """Median absolute deviation, as Prometheus's ``mad_over_time`` (NaN if a value is NaN)."""
    if any(v != v for v in values):
        return math.nan
    median = quantile(0.5, values.tolist())
    return quantile(0.5, [abs(v - median) for v in values])


def ts_of_last_over_time(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return [ts[hi - 1] / 1000 if hi > lo else None for lo, hi in zip(win.lo, win.hi, strict=True)]


def ts_of_first_over_time(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return [ts[lo] / 1000 if hi > lo else None for lo, hi in zip(win.lo, win.hi, strict=True)]


def _ts_of_extreme(better: Callable[[float, float], bool]) -> SeriesFunction:
    """The time of the window's extreme value, the latest one on ties (``compareOverTime``)."""
    def fn(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
        out: list = []
        for lo, hi in _paced(win, ctx):
            if hi <= lo:
                out.append(None)
                continue
            best, at = vals[lo], ts[lo]
            for k in range(lo, hi):
                if better(vals[k], best) or best != best:
                    best, at = vals[k], ts[k]
            out.append(at / 1000)
        return out
    return fn


def double_exponential_smoothing(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    """Holt's linear smoothing, step by step as Prometheus's ``funcDoubleExponentialSmoothing``."""
    out: list = []
    for lo, hi, sf, tf in _paced(win, ctx, ctx.args[0], ctx.args[1]):
        if hi == lo:  # Prometheus checks the factors only where a window holds samples
            out.append(None)
            continue
        if not 0 < sf < 1:
            raise execution(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {format_float(sf, 'f', 6)}")
        if not 0 < tf < 1:
            raise execution(f"invalid trend factor. Expected: 0 < tf < 1, got: {format_float(tf, 'f', 6)}")
        if hi - lo < 2:
            out.append(None)
            continue
        s0 = 0.0
        s1 = vals[lo]
        b = vals[lo + 1] - vals[lo]
        for k in range(lo + 1, hi):
            x = sf * vals[k]
            if k > lo + 1:
                b = tf * (s1 - s0) + (1 - tf) * b
            y = (1 - sf) * (s1 + b)
            s0, s1 = s1, x + y
        out.append(s1)
    return out


def present_over_time(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return [1.0 if hi > lo else None for lo, hi in zip(win.lo, win.hi, strict=True)]


def quantile_over_time(ts: array, vals: array, win: Windows, ctx: RangeContext) -> list:
    return [quantile(q, vals[lo:hi].tolist()) if hi > lo else None
            for lo, hi, q in _paced(win, ctx, ctx.args[0])]


FUNCTIONS: dict[str, RangeFunction] = {
    "rate": rate,
    "increase": increase,
    "delta": delta,
    "irate": per_series(irate),
    "idelta": per_series(idelta),
    "deriv": per_series(deriv),
    "predict_linear": per_series(predict_linear),
    "resets": per_series(resets),
    "changes": per_series(changes),
    "avg_over_time": _columnar(_over_time(mean), lambda members, lo, hi: columns.avg_over_time(
        members, lo, hi, mean)),
    "sum_over_time": _columnar(_over_time(kahan_sum), columns.sum_over_time),
    "min_over_time": _extreme_over_time(_min, False),
    "max_over_time": _extreme_over_time(_max, True),
    "stddev_over_time": _columnar(_over_time(_stddev), _stddev_columns),
    "stdvar_over_time": _columnar(_over_time(_variance), columns.variance_over_time),
    "count_over_time": _same_for_all(count_over_time),
    "last_over_time": _columnar(last_over_time, columns.last_over_time),
    "first_over_time": per_series(first_over_time),
    "mad_over_time": per_series(_over_time(_mad)),
    "present_over_time": _same_for_all(present_over_time),
    "quantile_over_time": per_series(quantile_over_time),
    "absent_over_time": _same_for_all(present_over_time),
    "ts_of_last_over_time": per_series(ts_of_last_over_time),
    "ts_of_first_over_time": per_series(ts_of_first_over_time),
    "ts_of_max_over_time": per_series(_ts_of_extreme(lambda v, best: v >= best)),
    "ts_of_min_over_time": per_series(_ts_of_extreme(lambda v, best: v <= best)),
    "double_exponential_smoothing": per_series(double_exponential_smoothing),
}

# Functions whose result keeps the metric name (they act like a selector with offset).
KEEPS_NAME = frozenset(("last_over_time", "first_over_time"))
