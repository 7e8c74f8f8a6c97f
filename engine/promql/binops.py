"""Binary operators: arithmetic, comparisons (filtering or ``bool``) and set operators, with
Prometheus's vector matching (``on``/``ignoring``, ``group_left``/``group_right``) and its errors.

Series are paired by join signature once; only signatures where several series share a side
need the step-by-step checks Prometheus does for every step.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

from engine.promql import gomath
from engine.promql import nodes as n
from engine.promql.deadline import Deadline
from engine.promql.errors import execution
from engine.promql.format import labels_string
from engine.promql.labels import NAME, drop_name, get, match_key
from engine.promql.rows import Row, merge_same_labels, several_names
from engine.tsdb.types import Labels

ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": gomath.div,
    "%": gomath.mod,
    "^": gomath.pow_,
    "atan2": math.atan2,
}

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


def scalar_scalar(op: str, lhs: list[float], rhs: list[float]) -> list[float]:
    if op in ARITHMETIC:
        return list(map(ARITHMETIC[op], lhs, rhs))
    cmp = COMPARISONS[op]
    return [1.0 if cmp(a, b) else 0.0 for a, b in zip(lhs, rhs, strict=True)]


def vector_scalar(op: str, rows: list[Row], scalar: list[float], scalar_left: bool,
                  return_bool: bool, deadline: Deadline) -> list[Row]:
    """Vector with scalar: arithmetic and ``bool`` drop the name; a filter keeps the vector's value."""
    out: list[Row] = []
    if op in ARITHMETIC:
        f = ARITHMETIC[op]
        for labels, vals in deadline.paced(rows, len(scalar)):
            if scalar_left:
                res = [None if v is None else f(s, v) for v, s in zip(vals, scalar, strict=True)]
            else:
                res = [None if v is None else f(v, s) for v, s in zip(vals, scalar, strict=True)]
            out.append((drop_name(labels), res))
    else:
        cmp = COMPARISONS[op]
        if scalar_left:
            cmp = _swapped(cmp)
        for labels, vals in deadline.paced(rows, len(scalar)):
            if return_bool:
                res = [None if v is None else (1.0 if cmp(v, s) else 0.0)
                       for v, s in zip(vals, scalar, strict=True)]
                out.append((drop_name(labels), res))
            else:
                res = [v if v is not None and cmp(v, s) else None for v, s in zip(vals, scalar, strict=True)]
                if res.count(None) != len(res):
                    out.append((labels, res))
        if not return_bool:
            return out
    return merge_same_labels(out) if several_names(rows) else out


def _swapped(cmp: Callable[[float, float], bool]) -> Callable[[float, float], bool]:
    return lambda v, s: cmp(s, v)


# --- set operators --------------------------------------------------------------------------

def _presence(rows: list[Row], size: int, key) -> dict[tuple, list[bool]]:
    """Per join signature, whether any of its series has a value at each step."""
    present: dict[tuple, list[bool]] = {}
    for labels, vals in rows:
        sig = key(labels)
        flags = present.get(sig)
        if flags is None:
            present[sig] = [v is not None for v in vals]
        else:
            for i, v in enumerate(vals):
                if v is not None:
                    flags[i] = True
    return present


def set_operation(op: str, lhs: list[Row], rhs: list[Row], on: bool, matching: tuple[str, ...],
                  size: int, deadline: Deadline) -> list[Row]:
    """``and``/``or``/``unless``; labels (name included) come through unchanged."""
    key = match_key(matching, on)
    if op == "or":
        seen = _presence(lhs, size, key)
        out = list(lhs)
        for labels, vals in deadline.paced(rhs, size):
            flags = seen.get(key(labels))
            if flags is None:
                out.append((labels, vals))
                continue
            kept = [None if f else v for v, f in zip(vals, flags, strict=True)]
            if kept.count(None) != size:
                out.append((labels, kept))
        return merge_same_labels(out)
    other = _presence(rhs, size, key)
    out = []
    for labels, vals in deadline.paced(lhs, size):
        flags = other.get(key(labels))
        if op == "and":
            if flags is None:
                continue
            kept = [v if f else None for v, f in zip(vals, flags, strict=True)]
        else:
            if flags is None:
                out.append((labels, vals))
                continue
            kept = [None if f else v for v, f in zip(vals, flags, strict=True)]
        if kept.count(None) != size:
            out.append((labels, kept))
    return out


# --- vector matching ------------------------------------------------------------------------

class _Matching:
    """One vector-vector operation: how values combine and how result labels are built."""

    def __init__(self, node: n.Binary) -> None:
        self.op = node.op
        self.card = node.card
        self.on = node.on
        self.matching = node.matching
        self.include = node.include
        self.return_bool = node.return_bool
        self.arith = ARITHMETIC.get(node.op)
        self.cmp = COMPARISONS.get(node.op)
        self.swapped = node.card == n.ONE_TO_MANY
        self._labels: dict[tuple[Labels, Labels], Labels] = {}

    def value(self, many: float, one: float) -> tuple[float, bool]:
        """The result and whether it is kept, with the operands back in written order."""
        lv, rv = (one, many) if self.swapped else (many, one)
        if self.arith is not None:
            return self.arith(lv, rv), True
        keep = self.cmp(lv, rv)
        if self.return_bool:
            return (1.0 if keep else 0.0), True
        return lv, keep

    def labels(self, many: Labels, one: Labels) -> Labels:
        key = (many, one)
        found = self._labels.get(key)
        if found is None:
            found = self._labels[key] = self._result_labels(many, one)
        return found

    def _result_labels(self, many: Labels, one: Labels) -> Labels:
        out = dict(many)
        if self.arith is not None or self.return_bool:
            out.pop(NAME, None)
        if self.card == n.ONE_TO_ONE:
            if self.on:
                out = {k: v for k, v in out.items() if k in self.matching}
            else:
                for name in self.matching:
                    out.pop(name, None)
        for name in self.include:
            value = get(one, name)
            if value:
                out[name] = value
            else:
                out.pop(name, None)
        return tuple(sorted(out.items()))

    def match_labels(self, labels: Labels) -> Labels:
        names = set(self.matching)
        if self.on:
            return tuple(p for p in labels if p[0] in names)
        return tuple(p for p in labels if p[0] not in names and p[0] != NAME)


def vector_vector(node: n.Binary, lhs: list[Row], rhs: list[Row], size: int, deadline: Deadline) -> list[Row]:
    """Arithmetic or comparison between two vectors (one-to-one, many-to-one, one-to-many)."""
    m = _Matching(node)
    many, one = (rhs, lhs) if m.swapped else (lhs, rhs)
    key = match_key(node.matching, node.on)
    one_by_sig: dict[tuple, list[int]] = {}
    for j, (labels, _) in enumerate(one):
        one_by_sig.setdefault(key(labels), []).append(j)
    many_by_sig: dict[tuple, list[int]] = {}
    for j, (labels, _) in enumerate(many):
        many_by_sig.setdefault(key(labels), []).append(j)
    many_any = None
    for indexes in one_by_sig.values():
        if len(indexes) > 1:
            if many_any is None:
                many_any = _any_present(many, size)
            _check_one_side(m, one, indexes, many_any, size)
    out: list[Row] = []
    for sig, many_indexes in deadline.paced(many_by_sig.items(), size):
        one_indexes = one_by_sig.get(sig)
        if one_indexes is None:
            continue
        if len(one_indexes) == 1 and len(many_indexes) == 1:
            out.extend(_pair(m, many[many_indexes[0]], one[one_indexes[0]]))
        else:
            out.extend(_group_steps(m, [many[i] for i in many_indexes], [one[i] for i in one_indexes], size))
    return merge_same_labels(out)


def _any_present(rows: list[Row], size: int) -> list[bool]:
    flags = [False] * size
    for _, vals in rows:
        for i, v in enumerate(vals):
            if v is not None:
                flags[i] = True
    return flags


def _check_one_side(m: _Matching, one: list[Row], indexes: list[int], many_any: list[bool],
                    size: int) -> None:
    """Two series of the "one" side present at a step where the other side has data."""
    for i in range(size):
        if not many_any[i]:
            continue
        present = [one[j] for j in indexes if one[j][1][i] is not None]
        if len(present) > 1:
            side = "left" if m.swapped else "right"
            first, second = sorted((present[0][0], present[1][0]))  # Prometheus 3 sorts them
            raise execution(
                f"found duplicate series for the match group {labels_string(m.match_labels(second))} on the "
                f"{side} hand-side of the operation: [{labels_string(first)}, {labels_string(second)}]"
                ";many-to-many matching not allowed: matching labels must be unique on one side")


def _pair(m: _Matching, many_row: Row, one_row: Row) -> list[Row]:
    many_labels, many_vals = many_row
    one_labels, one_vals = one_row
    f = m.arith
    if f is not None and not m.swapped:
        vals = [None if a is None or b is None else f(a, b) for a, b in zip(many_vals, one_vals, strict=True)]
    else:
        vals = []
        for a, b in zip(many_vals, one_vals, strict=True):
            if a is None or b is None:
                vals.append(None)
                continue
            value, keep = m.value(a, b)
            vals.append(value if keep else None)
    if vals.count(None) == len(vals):
        return []
    return [(m.labels(many_labels, one_labels), vals)]


def _group_steps(m: _Matching, many: list[Row], one: list[Row], size: int) -> list[Row]:
    """A signature shared by several series: Prometheus's per-step matching and its errors."""
    results: dict[Labels, list] = {}
    for i in range(size):
        rs = next((r for r in one if r[1][i] is not None), None)
        if rs is None:
            continue
        seen: set[Labels] = set()
        for labels, vals in many:
            a = vals[i]
            if a is None:
                continue
            metric = m.labels(labels, rs[0])
            if m.card == n.ONE_TO_ONE:
                if seen:
                    raise execution("multiple matches for labels: many-to-one matching must be explicit "
                                    "(group_left/group_right)")
            elif metric in seen:
                raise execution("multiple matches for labels: grouping labels must ensure unique matches")
            seen.add(metric)
            value, keep = m.value(a, rs[1][i])
            if keep:
                slot = results.get(metric)
                if slot is None:
                    slot = results[metric] = [None] * size
                slot[i] = value
    return list(results.items())
