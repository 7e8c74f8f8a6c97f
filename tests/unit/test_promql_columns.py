"""The columnar kernels of range functions give, cell for cell, what the per-window scalar code
gives: the same float operations in the same order, so the same bits (zeros keep their sign; NaN
is compared as NaN). Random groups mix the values that take the rare paths: NaN, ±Inf, -0.0, sums
that overflow (``avg_over_time``'s incremental mean), and empty and one-sample windows."""

from __future__ import annotations

import math
import random
from array import array

import pytest

from engine.promql import columns, rangefuncs
from engine.promql.gomath import sqrt
from engine.promql.selectors import Windows
from engine.promql.stats import kahan_sum, mean

SCALAR = {
    "avg_over_time": mean,
    "sum_over_time": kahan_sum,
    "stdvar_over_time": rangefuncs._variance,
    "stddev_over_time": lambda v: sqrt(rangefuncs._variance(v)),
    "last_over_time": lambda v: v[-1],
    "count_over_time": lambda v: float(len(v)),
    "present_over_time": lambda v: 1.0,
    "max_over_time": rangefuncs._max,
    "min_over_time": rangefuncs._min,
}
RARE = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1.7e308, -1.7e308, 5e-324]


def random_value(rng: random.Random) -> float:
    pick = rng.random()
    if pick < 0.08:
        return rng.choice(RARE)
    if pick < 0.4:
        return float(rng.randint(-3, 3))  # ties and exact cancellations
    return rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-8, 8)


def same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if a != a or b != b:
        return a != a and b != b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.parametrize("name", sorted(SCALAR))
@pytest.mark.parametrize("seed", range(6))
def test_columnar_cells_equal_the_scalar_code(name, seed):
    rng = random.Random(seed * 100 + len(name))
    samples = rng.randint(1, 60)
    steps = rng.randint(columns._MIN_STEPS, 40)
    assert columns.worthwhile(steps)
    ts = array("q", range(0, 15_000 * samples, 15_000))
    members = [array("d", (random_value(rng) for _ in range(samples))) for _ in range(rng.randint(1, 12))]
    lo, hi = [], []
    for _ in range(steps):
        a = rng.randint(0, samples)
        b = min(samples, a + rng.choice([0, 1, 2, rng.randint(0, samples)]))
        lo.append(a)
        hi.append(b)
    got = rangefuncs.FUNCTIONS[name](ts, members, Windows(lo, hi), None)
    assert len(got) == len(members)
    for vals, row in zip(members, got, strict=True):
        expected = [SCALAR[name](vals[a:b]) if b > a else None for a, b in zip(lo, hi, strict=True)]
        bad = [(i, row[i], expected[i]) for i in range(steps) if not same(row[i], expected[i])]
        assert not bad, bad[:3]


def test_overflowing_sums_take_the_incremental_mean():
    big = array("d", [1.7e308, 1.7e308, -1.7e308, 1.0] * 3)
    lo, hi = list(range(9)), [i + 4 for i in range(9)]
    got = rangefuncs.FUNCTIONS["avg_over_time"](array("q", range(12)), [big], Windows(lo, hi), None)[0]
    assert got == [mean(big[a:b]) for a, b in zip(lo, hi, strict=True)]
    assert all(math.isfinite(v) for v in got)  # a plain sum would have said Inf or NaN


@pytest.mark.parametrize("steps", [1, 3, 7, 8, 40])
def test_window_bounds_on_both_paths_are_the_windows_left_open_right_closed(steps):
    """Few steps are bisected without numpy, many go through numpy's searchsorted: both give, per
    step, the samples in (start, end], including timestamps on the edges and windows with none."""
    rng = random.Random(steps)
    ts = array("q", sorted(rng.sample(range(0, 10_000, 5), 400)))
    starts = [rng.choice([rng.randrange(-100, 10_100), rng.choice(ts)]) for _ in range(steps)]
    ends = [s + rng.choice([0, 5, 300, 2_000]) for s in starts]
    lo, hi = columns.window_bounds(ts, starts, ends)
    for start, end, a, b in zip(starts, ends, lo, hi, strict=True):
        assert list(ts[a:b]) == [t for t in ts if start < t <= end]
