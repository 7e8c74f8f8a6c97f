"""Label-set operations on the store's canonical form: a tuple of (name, value) sorted by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.tsdb.types import Labels

NAME = "__name__"
BUCKET = "le"


def get(labels: Labels, name: str) -> str:
    for k, v in labels:
        if k == name:
            return v
    return ""


_DROPPED_WITH_NAME = frozenset((NAME, "__type__", "__unit__"))


def drop_name(labels: Labels) -> Labels:
    """The label set without ``__name__`` and, as Prometheus ≥ 3.5 does, without the metadata
    labels ``__type__``/``__unit__`` that go with it (usually a cheap slice)."""
    if labels and labels[0][0] == NAME and (len(labels) == 1 or labels[1][0] not in _DROPPED_WITH_NAME):
        return labels[1:]
    return tuple(p for p in labels if p[0] not in _DROPPED_WITH_NAME)


def metric_name(labels: Labels) -> str:
    if labels and labels[0][0] == NAME:
        return labels[0][1]
    return get(labels, NAME)


def set_label(labels: Labels, name: str, value: str) -> Labels:
    """Set one label; an empty value removes it, as Prometheus's label builder does."""
    out = [p for p in labels if p[0] != name]
    if value != "":
        out.append((name, value))
        out.sort()
    return tuple(out)


def without(labels: Labels, names: frozenset[str]) -> Labels:
    """Drop the listed labels and ``__name__`` (``without``/``ignoring`` semantics)."""
    return tuple(p for p in labels if p[0] not in names and p[0] != NAME)


def match_key(names: Iterable[str], on: bool) -> Callable[[Labels], tuple]:
    """The join signature of ``on(...)`` or ``ignoring(...)`` vector matching, as a function."""
    listed = frozenset(names)
    if on:
        ordered = tuple(sorted(listed))
        return lambda labels: tuple(get(labels, n) for n in ordered)
    return lambda labels: without(labels, listed)


def is_valid_label_name(name: str) -> bool:
    """Prometheus 3 accepts any non-empty UTF-8 label name (invalid bytes, kept as surrogate
    escapes, are refused)."""
    if name.isascii():
        return name != ""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
