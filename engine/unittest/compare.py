"""Comparing a query's samples with the expected ones exactly as promtool 2.42 does, and showing
the difference.

promtool sorts both sides by labels and requires equal label sets and ``==`` values: no epsilon,
and NaN never equals NaN (so a NaN result cannot be expected directly; ``count_values`` or
``x != bool x`` can test for it). ``-0`` equals ``0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.compat.strconv import format_float
from engine.promql.format import labels_string
from engine.tsdb.types import Labels


@dataclass(frozen=True, slots=True)
class Point:
    """One sample of a result: labels sorted by name (duplicates possible on the expected side)."""

    labels: Labels
    value: float

    def __str__(self) -> str:
        return f"{labels_string(self.labels)} {format_float(self.value, 'E', -1)}"


def sort_points(points: list[Point]) -> list[Point]:
    """Prometheus's ``labels.Compare`` order: pair by pair, then the shorter set first."""
    return sorted(points, key=lambda p: p.labels)


def same(expected: list[Point], got: list[Point]) -> bool:
    """promtool's ``reflect.DeepEqual`` on the sorted lists."""
    return len(expected) == len(got) and all(
        e.labels == g.labels and e.value == g.value for e, g in zip(expected, got, strict=True))


def points_string(points: list[Point]) -> str:
    """promtool's one-line form: ``nil`` for none, else samples joined by ``, ``."""
    return ", ".join(map(str, points)) if points else "nil"


def diff_lines(expected: list[Point], got: list[Point]) -> list[str]:
    """Samples only on one side, ``-`` expected and ``+`` got, in label order; equal samples are left out."""
    unmatched_got = list(got)
    only_expected = []
    for point in expected:
        match = next((g for g in unmatched_got if g.labels == point.labels and g.value == point.value), None)
        if match is None:
            only_expected.append(point)
        else:
            unmatched_got.remove(match)
    lines = [(p.labels, 0, f"- {p}") for p in only_expected] + [(p.labels, 1, f"+ {p}") for p in unmatched_got]
    out = [text for _, _, text in sorted(lines, key=lambda line: (line[0], line[1]))]
    if any(math.isnan(p.value) for p in only_expected):
        out.append("  (an expected NaN never matches in promtool 2.42: test NaN with count_values or != bool)")
    return out
