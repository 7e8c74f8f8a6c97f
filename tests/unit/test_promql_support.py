"""Helpers shared by the PromQL tests (no tests here): real stores filled from promtool's series
notation, and short ways to read results."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.promql import QueryEngine
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import STALE_NAN, make_labels

_SERIES = re.compile(r"([a-zA-Z_:][\w:]*)?(?:\{(.*)\})?")
_LABEL = re.compile(r'\s*([\w.]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_EXPANSION = re.compile(r"([-+]?[\w.]+?)(?:([-+][\w.]+))?x(\d+)")


def expand(values: str) -> list[float | None]:
    """promtool's notation: ``1 2 _ stale``, ``a+bxn`` / ``a-bxn`` / ``axn`` (n+1 values)."""
    out: list[float | None] = []
    for token in values.split():
        if token == "_":
            out.append(None)
        elif token == "stale":
            out.append(STALE_NAN)
        elif (m := _EXPANSION.fullmatch(token)) and m.group(1) != "_":
            start, step, n = float(m.group(1)), float(m.group(2) or 0), int(m.group(3))
            out.extend(start + i * step for i in range(n + 1))
        else:
            out.append(float(token))
    return out


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    m = _SERIES.fullmatch(text.strip())
    assert m, text
    labels = {k: v.encode().decode("unicode_escape") for k, v in _LABEL.findall(m.group(2) or "")}
    return labels.pop("__name__", m.group(1) or ""), labels


def fill(store: Store, series: dict[str, str], interval_ms: int = 60_000, start_ms: int = 0) -> None:
    for text, values in series.items():
        name, labels = parse_series(text)
        ref = store.ref(make_labels(name, labels))
        for i, v in enumerate(expand(values)):
            if v is not None:
                assert store.append(ref, start_ms + i * interval_ms, v)


def engine_factory(tmp_path: Path) -> Iterator[Callable[..., QueryEngine]]:
    """Body of each test module's ``make_engine`` fixture: a factory of engines over real
    SQLite-backed stores, closed after the test."""
    stores: list[Store] = []

    def factory(series: dict[str, str], interval_ms: int = 60_000, **options) -> QueryEngine:
        store = Store(SQLiteBackend(tmp_path / f"store{len(stores)}"))
        store.open()
        stores.append(store)
        fill(store, series, interval_ms)
        return QueryEngine(store, **options)

    yield factory
    for store in stores:
        store.backend.close()


def series_key(labels: dict[str, str]) -> str:
    """``name{a="1", b="2"}``: a readable, order-independent key for a result element."""
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def instant(engine: QueryEngine, expr: str, t: float) -> dict[str, float]:
    """An instant vector result as {series key: value}."""
    result = engine.instant(expr, t)
    assert result.result_type == "vector", result.result_type
    return {series_key(s.labels): s.value for s in result.value}


def scalar(engine: QueryEngine, expr: str, t: float) -> float:
    result = engine.instant(expr, t)
    assert result.result_type == "scalar"
    return result.value[1]


def same(a: float, b: float) -> bool:
    """Bit-level float equality that also treats NaN as equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
