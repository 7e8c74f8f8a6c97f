"""Aggregation operators (``sum by (...)``, ``topk``, ``count_values``...) over every step at once.

Series are assigned to groups once; each group then reduces its members step by step, visiting
members in input order with Prometheus's exact float arithmetic (Kahan sums, Welford variance).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import xxhash

from engine.compat.strconv import format_float, format_float_f, quote
from engine.promql import columns
from engine.promql.deadline import Deadline
from engine.promql.errors import execution
from engine.promql.gomath import INF, sqrt
from engine.promql.labels import NAME, is_valid_label_name, set_label
from engine.promql.rows import Row
from engine.promql.stats import mean, quantile
from engine.tsdb.types import Labels

# The float64 bounds Prometheus checks topk/bottomk's k against before converting it to int64.
_MAX_INT64 = 9223372036854774784.0
_MIN_INT64 = -9223372036854775808.0


def group_key(grouping: tuple[str, ...], without: bool) -> Callable[[Labels], Labels]:
    """The output labels of a series' group, which also identify the group."""
    names = frozenset(grouping)
    if without:
        return lambda labels: tuple([p for p in labels if p[0] not in names and p[0] != NAME])
    if len(names) == 1:
        (only,) = names

        def single(labels: Labels) -> Labels:
            for p in labels:
                if p[0] == only:
                    return (p,)
            return ()
        return single
    if names:
        return lambda labels: tuple([p for p in labels if p[0] in names])
    return lambda labels: ()


def _group(rows: list[Row], key: Callable[[Labels], Labels]) -> tuple[list[Labels], list[list[int]]]:
    """Group labels and member row indexes, groups in order of first appearance."""
    index: dict[Labels, int] = {}
    labels_of: list[Labels] = []
    members: list[list[int]] = []
    for i, (labels, _) in enumerate(rows):
        k = key(labels)
        gi = index.get(k)
        if gi is None:
            gi = index[k] = len(members)
            labels_of.append(k)
            members.append([])
        members[gi].append(i)
    return labels_of, members


def _group_values(rows: Iterable[Row], grouping: tuple[str, ...], without: bool) -> dict[Labels, list[list]]:
    """Group labels to the members' per-step values, groups in order of first appearance."""
    if not without and len(grouping) == 1:
        return _group_by_one(rows, grouping[0])
    key = group_key(grouping, without)
    groups: dict[Labels, list[list]] = {}
    for labels, vals in rows:
        k = key(labels)
        members = groups.get(k)
        if members is None:
            groups[k] = [vals]
        else:
            members.append(vals)
    return groups


def _group_by_one(rows: Iterable[Row], name: str) -> dict[Labels, list[list]]:
    """``by (one_label)``, the common case: the label's own (name, value) pair is the key, so no
    key is built per series."""
    groups: dict[tuple, list[list]] = {}
    for labels, vals in rows:
        pair = ()
        for p in labels:
            if p[0] == name:
                pair = p
                break
        members = groups.get(pair)
        if members is None:
            groups[pair] = [vals]
        else:
            members.append(vals)
    return {((pair,) if pair else ()): members for pair, members in groups.items()}


# --- reducers: the values present at one step, in input order, to one result ---------------

def _sum_columns(group: list[list], param: list, size: int, deadline: Deadline) -> list:
    """Kahan (Neumaier) sum per step in member order, accumulated member by member: reading each
    member's values in sequence is much kinder to the CPU cache than reading step columns."""
    if size == 1:
        return [_sum_present([vals[0] for vals in group])]
    if columns.worthwhile(size):
        return columns.kahan_columns(deadline.paced(group, size), size)
    totals = list(group[0])
    comp = [0.0] * size
    for vals in deadline.paced(group[1:], size):
        i = -1
        for v in vals:
            i += 1
            if v is None:
                continue
            total = totals[i]
            if total is None:
                totals[i] = v
                continue
            t = total + v
            if abs(total) >= abs(v):
                comp[i] += (total - t) + v
            else:
                comp[i] += (v - t) + total
            totals[i] = t
    # Prometheus zeroes the compensation once the sum is infinite; checking at the end is
    # equivalent since an infinite sum can only stay infinite or turn NaN.
    return [t if t is None or t == INF or t == -INF else t + c for t, c in zip(totals, comp, strict=True)]


def _sum_present(values: list) -> float | None:
    total = None
    c = 0.0
    for v in values:
        if v is None:
            continue
        if total is None:
            total = v
            continue
        t = total + v
        if abs(total) >= abs(v):
            c += (total - t) + v
        else:
            c += (v - t) + total
        total = t
    return total if total is None or total == INF or total == -INF else total + c


def _per_step(reduce: Callable[[list, float], float]):
    def columns(group: list[list], param: list, size: int, deadline: Deadline) -> list:
        out: list = []
        for i, col in enumerate(deadline.paced(zip(*group, strict=True), len(group))):
            present = [v for v in col if v is not None]
            out.append(reduce(present, param[i] if param else 0.0) if present else None)
        return out
    return columns


def _max(values: list, _: float) -> float:
    best = values[0]
    for f in values[1:]:
        if best < f or best != best:
            best = f
    return best


def _min(values: list, _: float) -> float:
    best = values[0]
    for f in values[1:]:
        if best > f or best != best:
            best = f
    return best


def _variance(values: list) -> float:
    """Welford's running variance, as the aggregation does it (no compensation)."""
    first = values[0]
    count = 1.0
    running_mean = first
    value = math.nan if first != first or math.isinf(first) else 0.0
    for f in values[1:]:
        count += 1
        d = f - running_mean
        running_mean += d / count
        value += d * (f - running_mean)
    return value / count


_REDUCERS = {
    "sum": _sum_columns,
    "avg": _per_step(lambda values, _: mean(values)),
    "count": _per_step(lambda values, _: float(len(values))),
    "group": _per_step(lambda values, _: 1.0),
    "min": _per_step(_min),
    "max": _per_step(_max),
    "stdvar": _per_step(lambda values, _: _variance(values)),
    "stddev": _per_step(lambda values, _: sqrt(_variance(values))),
    "quantile": _per_step(lambda values, q: quantile(q, values)),
}


def aggregate(op: str, rows: list[Row], grouping: tuple[str, ...], without: bool,
              param: list | str | None, size: int, deadline: Deadline) -> list[Row]:
    """One aggregation over all steps; ``param`` is the per-step scalar or count_values' label."""
    if op == "count_values":
        return _count_values(rows, grouping, without, param, size, deadline)
    if op in ("topk", "bottomk"):
        return _top_bottom(op == "topk", rows, grouping, without, param, size, deadline)
    if op == "limitk":
        return _limitk(rows, grouping, without, param, size, deadline)
    if op == "limit_ratio":
        return _limit_ratio(rows, param, size, deadline)
    reduce = _REDUCERS[op]
    out: list[Row] = []
    for labels, members in _group_values(deadline.paced(rows, size), grouping, without).items():
        vals = reduce(members, param, size, deadline)
        if vals.count(None) != size:
            out.append((labels, vals))
    return out


# --- topk / bottomk -------------------------------------------------------------------------

def _heap_up(heap: list, j: int, less) -> None:
    while j > 0:
        i = (j - 1) // 2
        if not less(heap[j][0], heap[i][0]):
            break
        heap[i], heap[j] = heap[j], heap[i]
        j = i


def _heap_down(heap: list, i: int, less) -> None:
    n = len(heap)
    while True:
        j = 2 * i + 1
        if j >= n:
            break
        if j + 1 < n and less(heap[j + 1][0], heap[j][0]):
            j += 1
        if not less(heap[j][0], heap[i][0]):
            break
        heap[i], heap[j] = heap[j], heap[i]
        i = j


def _less_top(a: float, b: float) -> bool:
    return a != a or a < b


def _less_bottom(a: float, b: float) -> bool:
    return a != a or a > b


def _select(candidates: list[tuple[float, int]], k: int, top: bool) -> list[tuple[float, int]]:
    """Go's container/heap with Prometheus's comparisons, so ties pick the same series."""
    less = _less_top if top else _less_bottom
    heap: list[tuple[float, int]] = []
    for item in candidates:
        if len(heap) < k:
            heap.append(item)
            _heap_up(heap, len(heap) - 1, less)
            continue
        h, v = heap[0][0], item[0]
        better = (h < v) if top else (h > v)
        if better or (h != h and v == v):
            heap[0] = item
            if k > 1:
                _heap_down(heap, 0, less)
    numbers = sorted((e for e in heap if e[0] == e[0]), key=lambda e: e[0], reverse=top)
    return numbers + [e for e in heap if e[0] != e[0]]


def _check_k(param: list[float]) -> bool:
    """Prometheus's checks on k over all steps; False when no step can select anything."""
    if any(k != k for k in param):
        raise execution("Parameter value is NaN")
    if max(param) < 1:
        return False
    if min(param) <= _MIN_INT64:
        raise execution(f"Scalar value {format_float(min(param), 'g', -1)} underflows int64")
    if max(param) >= _MAX_INT64:
        raise execution(f"Scalar value {format_float(max(param), 'g', -1)} overflows int64")
    return True


def _top_bottom(top: bool, rows: list[Row], grouping: tuple[str, ...], without: bool,
                param: list[float], size: int, deadline: Deadline) -> list[Row]:
    """Each output series is an input series (labels kept) at the steps where it was selected."""
    if not _check_k(param) or not rows:
        return []
    _, members = _group(rows, group_key(grouping, without))
    chosen: dict[int, list] = {}
    order: list[int] = []
    for i in deadline.paced(range(size), len(rows)):
        k = min(math.trunc(param[i]), len(rows))
        if k < 1:
            continue
        for indexes in members:
            candidates = [(rows[r][1][i], r) for r in indexes if rows[r][1][i] is not None]
            for value, r in _select(candidates, k, top):
                vals = chosen.get(r)
                if vals is None:
                    vals = chosen[r] = [None] * size
                    order.append(r)
                vals[i] = value
    return [(rows[r][0], chosen[r]) for r in order]


# --- limitk / limit_ratio ------------------------------------------------------------------

def _limitk(rows: list[Row], grouping: tuple[str, ...], without: bool, param: list[float], size: int,
            deadline: Deadline) -> list[Row]:
    """At each step, the first k series of each group that have a value there (input order)."""
    if not _check_k(param) or not rows:
        return []
    _, members = _group(rows, group_key(grouping, without))
    chosen: dict[int, list] = {}
    for i in deadline.paced(range(size), len(rows)):
        k = min(math.trunc(param[i]), len(rows))
        if k < 1:
            continue
        for indexes in members:
            taken = 0
            for r in indexes:
                value = rows[r][1][i]
                if value is None:
                    continue
                vals = chosen.get(r)
                if vals is None:
                    vals = chosen[r] = [None] * size
                vals[i] = value
                taken += 1
                if taken == k:
                    break
    return [(rows[r][0], chosen[r]) for r in sorted(chosen)]


_UINT64_MAX = float(2**64 - 1)


def sample_offset(labels: Labels) -> float:
    """Where a series falls in [0, 1] for limit_ratio: its label-set hash (Prometheus's
    ``labels.Hash``, xxhash64 of name/value pairs each followed by 0xff) over the largest uint64."""
    data = b"".join([b"%s\xff%s\xff" % (k.encode(), v.encode()) for k, v in labels])
    return float(xxhash.xxh64_intdigest(data)) / _UINT64_MAX


def _limit_ratio(rows: list[Row], param: list[float], size: int, deadline: Deadline) -> list[Row]:
    """The series whose hash offset is below the ratio (or, for a negative ratio, at or above
    1 + ratio), so that limit_ratio(r) and limit_ratio(r - 1) split a set in two."""
    if any(r != r for r in param):
        raise execution("Ratio value is NaN")
    ratios = [max(-1.0, min(1.0, r)) for r in param]
    out: list[Row] = []
    for labels, vals in deadline.paced(rows, size):
        offset = sample_offset(labels)
        picked = [v if v is not None and ((r > 0 and offset < r) or (r < 0 and offset >= 1.0 + r)) else None
                  for v, r in zip(vals, ratios, strict=True)]
        if picked.count(None) != size:
            out.append((labels, picked))
    return out


# --- count_values ---------------------------------------------------------------------------

def _count_values(rows: list[Row], grouping: tuple[str, ...], without: bool, label: str,
                  size: int, deadline: Deadline) -> list[Row]:
    if not is_valid_label_name(label):
        raise execution(f"invalid label name {quote(label)}")
    key = group_key(grouping if without else (*grouping, label), without)
    counts: dict[Labels, list] = {}
    for i in deadline.paced(range(size), len(rows)):
        for labels, vals in rows:
            v = vals[i]
            if v is None:
                continue
            k = key(set_label(labels, label, format_float_f(v)))
            slot = counts.get(k)
            if slot is None:
                slot = counts[k] = [None] * size
            slot[i] = (slot[i] or 0.0) + 1.0
    return list(counts.items())
