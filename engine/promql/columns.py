"""Columnar kernels: the hot loops of range queries over all series and steps at once with numpy.

Each kernel does, element by element, the same IEEE float operations in the same order as the
scalar code it replaces (numpy's elementwise ``+ - * /`` are exactly Python's), so the results are
bit-identical to Prometheus's; cells whose exact answer needs a sequential walk (a counter reset
inside a rate window, a tie between 0 and -0 in a max) are handed back to the scalar code.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable

from engine.lazyimport import LazyModule
from engine.promql.gomath import INF

np = LazyModule("numpy")

_MIN_STEPS = 8  # below this the per-call overhead of numpy outweighs the loops it saves
_MIN_CELLS = 512  # ... unless there are this many (series, step) cells: an instant query over many series


def worthwhile(steps: int, series: int = 1) -> bool:
    """Whether a function over ``steps`` windows of ``series`` series should take the columnar path."""
    return steps >= _MIN_STEPS or steps * series >= _MIN_CELLS


def window_bounds(ts: array, starts: list[int], ends: list[int]) -> tuple[list[int], list[int]]:
    """Per step, the indexes ``[lo, hi)`` of the samples in ``(start, end]`` (ascending ``ts``).
    A few steps (a rule's instant query) are two bisections each, without loading numpy."""
    if not worthwhile(len(starts)):
        return [bisect_right(ts, t) for t in starts], [bisect_right(ts, t) for t in ends]
    stamps = np.frombuffer(ts, dtype=np.int64)
    lo = np.searchsorted(stamps, np.asarray(starts, dtype=np.int64), side="right")
    hi = np.searchsorted(stamps, np.asarray(ends, dtype=np.int64), side="right")
    return lo.tolist(), hi.tolist()


def _matrix(members: list[array]) -> np.ndarray:
    """The members' values (as many of each: they share their timestamps) as one read-only
    (series x samples) float64 matrix."""
    return np.frombuffer(b"".join(members), dtype=np.float64).reshape(len(members), -1)


def _rows(values: np.ndarray, valid: list[int], size: int) -> list[list]:
    """Per series, ``size`` values with the ``valid`` steps from ``values`` and None elsewhere."""
    if len(valid) == size:
        return values.tolist()
    out = np.full((values.shape[0], size), None, dtype=object)
    out[:, valid] = values
    return out.tolist()


def extrapolated(members: list[array], timing: list, range_s: float, is_counter: bool, is_rate: bool,
                 scalar: Callable[[list[float], tuple], float]) -> list[list]:
    """``rate``/``increase``/``delta`` of every member at every step, from the per-step timing
    of ``rangefuncs._rate_timing``; ``scalar(vals, timing_entry)`` answers the cells whose window
    holds a counter reset."""
    size = len(timing)
    valid = [i for i, tm in enumerate(timing) if tm is not None]
    if not valid:
        return [[None] * size for _ in members]
    picked = [timing[i] for i in valid]
    lo = np.array([tm[0] for tm in picked], dtype=np.intp)
    last = np.array([tm[1] for tm in picked], dtype=np.intp)
    sampled = np.array([tm[2] for tm in picked])
    to_start = np.array([tm[3] for tm in picked])
    to_end = np.array([tm[4] for tm in picked])
    factor = np.array([tm[5] for tm in picked])
    vals = _matrix(members)
    first = vals[:, lo]
    with np.errstate(all="ignore"):  # inf - inf and friends give NaN, as in Go
        result = vals[:, last] - first
        out = result * factor
        if is_counter:
            to_zero = sampled * (first / result)
            near_zero = (result > 0) & (first >= 0) & (to_zero < to_start)
            if near_zero.any():
                f = (sampled + to_zero + to_end) / sampled
                if is_rate:
                    f = f / range_s
                out = np.where(near_zero, result * f, out)
    if is_counter:
        drops = vals[:, 1:] < vals[:, :-1]
        if drops.any():
            counted = np.zeros(vals.shape, dtype=np.int64)
            np.cumsum(drops, axis=1, out=counted[:, 1:])
            reset_cells = np.nonzero(counted[:, last] != counted[:, lo])
            rows = {}
            for r, c in zip(*reset_cells, strict=True):
                row = rows.get(r)
                if row is None:
                    row = rows[r] = members[r].tolist()
                out[r, c] = scalar(row, picked[c])
    return _rows(out, valid, size)


def extreme_over_time(members: list[array], lo: list[int], hi: list[int], is_max: bool,
                      scalar: Callable[[array], float]) -> list[list]:
    """``max_over_time``/``min_over_time`` of every member at every step. Prometheus keeps the
    first of equal values and skips NaN unless every value is NaN (``fmax``/``fmin``); a zero
    result, where 0 and -0 tie, is recomputed by ``scalar`` over the window."""
    size = len(lo)
    valid = [i for i in range(size) if hi[i] > lo[i]]
    if not valid:
        return [[None] * size for _ in members]
    vals = _matrix(members)
    padded = np.empty((vals.shape[0], vals.shape[1] + 1))
    padded[:, :-1] = vals
    padded[:, -1] = 0.0
    bounds = np.empty(2 * len(valid), dtype=np.intp)
    bounds[0::2] = [lo[i] for i in valid]
    bounds[1::2] = [hi[i] for i in valid]
    reduce = np.fmax if is_max else np.fmin
    out = reduce.reduceat(padded, bounds, axis=1)[:, 0::2]
    for r, c in zip(*np.nonzero(out == 0), strict=True):
        step = valid[c]
        out[r, c] = scalar(members[r][lo[step]:hi[step]])
    return _rows(out, valid, size)


def kahan_columns(group: Iterable[list], size: int) -> list:
    """Per step, the Kahan (Neumaier) sum of the members present, in member order, with
    Prometheus's ``kahanSumInc`` arithmetic; None where no member is present."""
    with np.errstate(all="ignore"):
        return _kahan_columns(group, size)


def _kahan_columns(group: Iterable[list], size: int) -> list:
    totals = np.zeros(size)
    comp = np.zeros(size)
    seen = np.zeros(size, dtype=bool)
    for vals in group:
        row = np.array(vals)  # float64 unless a None (a missing step) makes it object
        if row.dtype == np.float64:
            present = None
        else:
            present = np.array([v is not None for v in vals])
            row = np.array([0.0 if v is None else v for v in vals], dtype=np.float64)
        t = totals + row
        inc = np.where(np.abs(totals) >= np.abs(row), (totals - t) + row, (row - t) + totals)
        if present is None:
            fresh = ~seen
            add = seen
        else:
            fresh = present & ~seen
            add = present & seen
        comp = np.where(add, comp + inc, comp)
        totals = np.where(add, t, np.where(fresh, row, totals))
        seen = seen | fresh
    # Prometheus zeroes the compensation once the sum is infinite; checking at the end is
    # equivalent since an infinite sum can only stay infinite or turn NaN.
    result = np.where((totals == INF) | (totals == -INF), totals, totals + comp)
    out = result.tolist()
    if not seen.all():
        for i in np.nonzero(~seen)[0].tolist():
            out[i] = None
    return out


class _Walk:
    """The windows of many steps walked sample by sample for all members at once: step ``j``
    gives, per (member, step) cell, the window's j-th value and whether the window has one. Each
    cell sees its own samples in order, so a sequential reduction written with numpy's elementwise
    operations gives the scalar code's result bit for bit."""

    def __init__(self, members: list[array], lo: list[int], hi: list[int]) -> None:
        self.size = len(lo)
        self.valid = [i for i in range(self.size) if hi[i] > lo[i]]
        self.starts = np.array([lo[i] for i in self.valid], dtype=np.intp)
        self.lengths = np.array([hi[i] - lo[i] for i in self.valid], dtype=np.intp)
        self.vals = _matrix(members) if self.valid else None

    def steps(self) -> Iterable[tuple[int, np.ndarray, np.ndarray]]:
        """(j, active steps, values) for j = 0 .. the longest window's length - 1."""
        last = self.vals.shape[1] - 1
        for j in range(int(self.lengths.max())):
            yield j, self.lengths > j, self.vals[:, np.minimum(self.starts + j, last)]

    def rows(self, values: np.ndarray) -> list[list]:
        return _rows(values, self.valid, self.size)

    def empty(self, count: int) -> list[list]:
        return [[None] * self.size for _ in range(count)]


def sum_over_time(members: list[array], lo: list[int], hi: list[int]) -> list[list]:
    """``stats.kahan_sum`` of every member's window at every step."""
    walk = _Walk(members, lo, hi)
    if not walk.valid:
        return walk.empty(len(members))
    total = np.zeros((len(members), len(walk.valid)))
    comp = np.zeros_like(total)
    with np.errstate(all="ignore"):
        for _, active, f in walk.steps():
            t = total + f
            inc = np.where(np.abs(total) >= np.abs(f), (total - t) + f, (f - t) + total)
            comp = np.where(active, comp + inc, comp)
            total = np.where(active, t, total)
        return walk.rows(np.where(np.isinf(total), total, total + comp))


def avg_over_time(members: list[array], lo: list[int], hi: list[int],
                  scalar: Callable[[array], float]) -> list[list]:
    """``stats.mean`` of every member's window at every step; cells whose running sum reaches
    ±Inf (where Prometheus switches to an incremental mean) are left to ``scalar``."""
    walk = _Walk(members, lo, hi)
    if not walk.valid:
        return walk.empty(len(members))
    total = comp = None
    overflow = np.zeros((len(members), len(walk.valid)), dtype=bool)
    with np.errstate(all="ignore"):
        for j, active, f in walk.steps():
            if j == 0:
                total, comp = f, np.zeros_like(f)
                continue
            t = total + f
            overflow |= active & np.isinf(t)
            inc = np.where(np.abs(total) >= np.abs(f), (total - t) + f, (f - t) + total)
            comp = np.where(active, comp + inc, comp)
            total = np.where(active, t, total)
        count = walk.lengths.astype(np.float64)
        out = total / count + comp / count
    for r, c in zip(*np.nonzero(overflow), strict=True):
        step = walk.valid[c]
        out[r, c] = scalar(members[r][lo[step]:hi[step]])
    return walk.rows(out)


def variance_over_time(members: list[array], lo: list[int], hi: list[int]) -> list[list]:
    """``rangefuncs._variance`` (Welford with Kahan-compensated running sums) of every member's
    window at every step."""
    walk = _Walk(members, lo, hi)
    if not walk.valid:
        return walk.empty(len(members))
    shape = (len(members), len(walk.valid))
    mean_, c_mean, aux, c_aux = (np.zeros(shape) for _ in range(4))
    with np.errstate(all="ignore"):
        for j, active, f in walk.steps():
            count = float(j + 1)
            d = f - (mean_ + c_mean)
            inc = d / count
            t = mean_ + inc
            step_c = np.where(np.isinf(t), 0.0, c_mean + np.where(
                np.abs(mean_) >= np.abs(inc), (mean_ - t) + inc, (inc - t) + mean_))
            c_mean = np.where(active, step_c, c_mean)
            mean_ = np.where(active, t, mean_)
            inc = d * (f - (mean_ + c_mean))
            t = aux + inc
            step_c = np.where(np.isinf(t), 0.0, c_aux + np.where(
                np.abs(aux) >= np.abs(inc), (aux - t) + inc, (inc - t) + aux))
            c_aux = np.where(active, step_c, c_aux)
            aux = np.where(active, t, aux)
        return walk.rows((aux + c_aux) / walk.lengths.astype(np.float64))


def last_over_time(members: list[array], lo: list[int], hi: list[int]) -> list[list]:
    """Every member's last value in each window."""
    walk = _Walk(members, lo, hi)
    if not walk.valid:
        return walk.empty(len(members))
    return walk.rows(walk.vals[:, walk.starts + walk.lengths - 1])
