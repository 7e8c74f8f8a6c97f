"""Order-sensitive float reductions written operation by operation like Prometheus, for exact results."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from itertools import islice

from engine.promql.gomath import INF, div, kahan_inc

_MIN_NORMAL = 2.2250738585072014e-308
_SMALL_DELTA_TOLERANCE = 1e-12
_MAX_FLOAT = sys.float_info.max


def kahan_sum(values: Iterable[float]) -> float:
    """Neumaier-compensated sum from zero (``sum_over_time``; also ``sum`` by aggregation)."""
    total = c = 0.0
    for f in values:
        t = total + f
        if abs(total) >= abs(f):
            c += (total - t) + f
        else:
            c += (f - t) + total
        total = t
    # Once the sum is infinite Prometheus zeroes the compensation; it can only stay ±Inf or
    # become NaN afterwards, so checking at the end gives the same answer.
    if total == INF or total == -INF:
        return total
    return total + c


def mean(values: Sequence[float]) -> float:
    """Kahan-compensated direct mean, switching to an incremental mean if the sum would overflow
    (Prometheus's ``avg_over_time`` and ``avg``), with the compensated addition inlined."""
    total = values[0]
    c = 0.0
    for count, f in enumerate(islice(values, 1, None), 2):
        t = total + f
        if t == INF or t == -INF:
            return _incremental_mean(values, count, total, c)
        if abs(total) >= abs(f):
            c += (total - t) + f
        else:
            c += (f - t) + total
        total = t
    count = float(len(values))
    return total / count + c / count


def _incremental_mean(values: Sequence[float], count: int, total: float, c: float) -> float:
    """The rest of ``mean`` from the value (number ``count``) whose addition would overflow."""
    done = float(count - 1)
    running = total / done
    c /= done
    for f in islice(values, count - 1, None):
        n = done + 1
        q = done / n
        running, c = kahan_inc(f / n, q * running, q * c)
        done = n
    return running + c


def quantile(q: float, values: list[float]) -> float:
    """φ-quantile with linear interpolation between the two closest ranks (NaNs sort first)."""
    if not values or q != q:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = [v for v in values if v != v] + sorted(v for v in values if v == v)
    n = float(len(ordered))
    rank = q * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight


def bucket_quantile(q: float, bounds: list[float], counts: list[float]) -> float:
    """``histogram_quantile`` over classic buckets: upper bounds in ascending order and their
    cumulative counts.

    Equal bounds are merged, float noise between neighbours ignored and any remaining decrease
    flattened (the monotonicity fix). NaN without a +Inf bucket, with fewer than two buckets or
    with no observations; the lowest bucket interpolates from 0 when its bound is positive; a
    rank in the +Inf bucket answers the highest finite bound.
    """
    if q != q:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if bounds[-1] != math.inf:
        return math.nan
    if len(set(bounds)) != len(bounds):
        bounds, counts = _coalesce(bounds, counts)
    else:
        counts = list(counts)
    # Ignore float noise between neighbours (Prometheus's almost.Equal with a 1e-12 tolerance,
    # inlined) and flatten any decrease; prev stays on the last count kept as it was.
    prev = counts[0]
    for i in range(1, len(counts)):
        curr = counts[i]
        if curr == prev:
            continue
        if curr < prev:
            counts[i] = prev
            continue
        if curr > prev:
            abs_sum = abs(prev) + abs(curr)
            diff = curr - prev
            if prev == 0 or curr == 0 or abs_sum < _MIN_NORMAL:
                noise = diff < _SMALL_DELTA_TOLERANCE * _MIN_NORMAL
            else:
                noise = diff / min(abs_sum, _MAX_FLOAT) < _SMALL_DELTA_TOLERANCE
            if noise:
                counts[i] = prev
                continue
        prev = curr
    if len(counts) < 2:
        return math.nan
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = _search(counts, rank)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0
    end = bounds[b]
    count = counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * div(rank, count)


def bucket_fraction(lower: float, upper: float, bounds: list[float], counts: list[float]) -> float:
    """``histogram_fraction`` over classic buckets (ascending upper bounds, cumulative counts), as
    Prometheus's ``BucketFraction``: linear interpolation inside a bucket, the lowest bucket starting
    at 0 when its bound is positive, and none of a range's part inside a bucket of infinite width."""
    if bounds[-1] != math.inf:
        return math.nan
    if len(set(bounds)) != len(bounds):
        bounds, counts = _coalesce(bounds, counts)
    count = counts[-1]
    if count == 0 or lower != lower or upper != upper:
        return math.nan
    if lower >= upper:
        return 0.0
    rank = 0.0
    lower_rank = upper_rank = None
    for i, (upper_bound, bucket_count) in enumerate(zip(bounds, counts, strict=True)):
        lower_bound = bounds[i - 1] if i > 0 else (0.0 if upper_bound > 0 else -math.inf)
        if lower_rank is None and lower_bound >= lower:
            lower_rank = rank
        if upper_rank is None and lower_bound >= upper:
            upper_rank = rank
        if lower_rank is not None and upper_rank is not None:
            break
        if lower_rank is None and lower_bound < lower < upper_bound:
            lower_rank = _interpolate(lower, lower_bound, upper_bound, rank, bucket_count)
        if upper_rank is None and lower_bound < upper < upper_bound:
            upper_rank = _interpolate(upper, lower_bound, upper_bound, rank, bucket_count)
        if lower_rank is not None and upper_rank is not None:
            break
        rank = bucket_count
    if lower_rank is None or lower_rank > count:
        lower_rank = count
    if upper_rank is None or upper_rank > count:
        upper_rank = count
    return (upper_rank - lower_rank) / count


def _interpolate(v: float, lower_bound: float, upper_bound: float, rank: float, count: float) -> float:
    """The rank of ``v`` inside a bucket; a bucket of infinite width keeps its observations at
    its finite end."""
    if lower_bound == -math.inf:
        return count
    if upper_bound == math.inf:
        return rank
    return rank + (count - rank) * (v - lower_bound) / (upper_bound - lower_bound)


def _coalesce(bounds: list[float], counts: list[float]) -> tuple[list[float], list[float]]:
    merged_bounds: list[float] = []
    merged_counts: list[float] = []
    for bound, count in zip(bounds, counts, strict=True):
        if merged_bounds and merged_bounds[-1] == bound:
            merged_counts[-1] += count
        else:
            merged_bounds.append(bound)
            merged_counts.append(count)
    return merged_bounds, merged_counts


def _search(counts: list[float], rank: float) -> int:
    """Go's ``sort.Search`` over all but the last bucket for the first count >= rank (NaN-exact)."""
    i, j = 0, len(counts) - 1
    while i < j:
        h = (i + j) >> 1
        if not counts[h] >= rank:
            i = h + 1
        else:
            j = h
    return i
