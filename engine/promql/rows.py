"""The evaluator's instant-vector form: rows of labels plus one value (or None) per step."""

from __future__ import annotations

from collections.abc import Iterable

from engine.promql.errors import DUPLICATE_LABELSET, execution
from engine.promql.labels import metric_name
from engine.tsdb.types import Labels

Row = tuple[Labels, list]


def several_names(rows: Iterable[tuple]) -> bool:
    """Whether dropping ``__name__`` could make two rows' labels (their first item) equal."""
    names = set()
    for row in rows:
        names.add(metric_name(row[0]))
        if len(names) > 1:
            return True
    return False


def merge_same_labels(rows: list[Row]) -> list[Row]:
    """Rows with equal labels become one series when they are never present at the same step;
    a step where two of them are present is Prometheus's duplicate-labelset error."""
    index: dict[Labels, int] = {}
    out: list[Row] = []
    for labels, vals in rows:
        j = index.get(labels)
        if j is None:
            index[labels] = len(out)
            out.append((labels, vals))
            continue
        merged = list(out[j][1])
        for i, v in enumerate(vals):
            if v is not None:
                if merged[i] is not None:
                    raise execution(DUPLICATE_LABELSET)
                merged[i] = v
        out[j] = (labels, merged)
    return out


def assert_distinct(rows: list[Row]) -> None:
    """Range-vector functions reject equal label sets outright, whatever the steps."""
    if len({labels for labels, _ in rows}) != len(rows):
        raise execution(DUPLICATE_LABELSET)
