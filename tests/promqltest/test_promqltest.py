"""Prometheus's own PromQL conformance files (testdata/, vendored) run against our engine,
in-process on a real SQLite-backed Store, with test.go's rules: results compared with a relative
tolerance of 1e-6, unordered unless ordered is expected, and every instant query also run as a
range query from t-1m to t+1m step 1m and compared at t (as test.go does)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.promql import QueryEngine, QueryError
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import make_labels

from .loader import Case, almost_equal, parse_file
from .skips import SKIPS

DATA = Path(__file__).parent / "testdata"
CASES = [case for path in sorted(DATA.glob("*.test")) for case in parse_file(path)]
_CONTEXT_FUNCS = re.compile(r"(start|end|range|step)\(\)")


class Mismatch(AssertionError):
    """The engine's answer differs from the file's expectation."""


def _key(labels: dict[str, str]) -> tuple:
    return tuple(sorted(labels.items()))


class _Stores:
    """One store per load state of a file, built when its first case runs, kept while its cases run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.current: tuple[int, Store, QueryEngine] | None = None

    def engine(self, case: Case) -> QueryEngine:
        if self.current is None or self.current[0] != id(case.loads):
            self.close()
            store = Store(SQLiteBackend(self.root / f"s{len(list(self.root.iterdir()))}"))
            store.open()
            for load in case.loads:
                # A series given twice in one block keeps its last values (test.go's loadCmd.set).
                for labels, values in {_key(dict(lb)): (lb, vs) for lb, vs in load.series}.values():
                    labels = dict(labels)
                    ref = store.ref(make_labels(labels.pop("__name__", ""), labels))
                    for i, v in enumerate(values):
                        if v is not None:
                            store.append(ref, i * load.interval_ms, v)
            self.current = (id(case.loads), store, QueryEngine(store, lookback_ms=300_000))
        return self.current[2]

    def close(self) -> None:
        if self.current is not None:
            self.current[1].backend.close()
            self.current = None


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    holder = _Stores(tmp_path_factory.mktemp("promqltest"))
    yield holder
    holder.close()


def _check_failure(case: Case, error: QueryError) -> None:
    text = str(error)
    if case.fail_msg is not None and text != case.fail_msg:
        raise Mismatch(f"expected error {case.fail_msg!r}, got {text!r}")
    if case.fail_regex is not None and not re.search(case.fail_regex, text):
        raise Mismatch(f"expected an error matching {case.fail_regex!r}, got {text!r}")


def _compare_vector(case: Case, samples: list[tuple[dict[str, str], float]]) -> None:
    if case.expect_scalar is not None:
        raise Mismatch(f"expected scalar {case.expect_scalar}, got vector {samples}")
    seen = set()
    for pos, (labels, value) in enumerate(samples):
        key = _key(labels)
        if key not in case.expected:
            raise Mismatch(f"unexpected {labels} = {value}")
        if case.ordered and case.order.index(key) != pos:
            raise Mismatch(f"{labels} at position {pos}, expected {case.order.index(key)}")
        expected = case.expected[key][1][0]
        if not almost_equal(expected, value):
            raise Mismatch(f"{labels}: expected {expected}, got {value}")
        seen.add(key)
    if missing := [case.expected[k][0] for k in case.expected if k not in seen]:
        raise Mismatch(f"missing {missing}; got {samples}")


def _compare_matrix(case: Case, series: list, start: float, end: float, step: float) -> None:
    if case.expect_scalar is not None:
        raise Mismatch("expected a scalar, got a matrix")
    seen = set()
    for s in series:
        key = _key(s.labels)
        if key not in case.expected:
            raise Mismatch(f"unexpected {s.labels} = {s.points}")
        seen.add(key)
        values = case.expected[key][1]
        want = [(round((start + i * step) * 1000), v) for i, v in enumerate(values) if v is not None]
        if want and want[-1][0] > round(end * 1000):
            raise Mismatch(f"{len(values)} points expected beyond the range end")
        got = [(round(t * 1000), v) for t, v in s.points]
        if len(got) != len(want) or any(
                tg != tw or not almost_equal(vw, vg) for (tg, vg), (tw, vw) in zip(got, want, strict=True)):
            raise Mismatch(f"{s.labels}: expected {want}, got {got}")
    if missing := [case.expected[k][0] for k in case.expected if k not in seen]:
        raise Mismatch(f"missing {missing}")


def _compare(case: Case, result, start: float = 0, end: float = 0, step: float = 0) -> None:
    kind = result.result_type
    if kind == "scalar":
        if case.expect_scalar is None:
            raise Mismatch(f"expected a vector or matrix, got scalar {result.value[1]}")
        if not almost_equal(case.expect_scalar, result.value[1]):
            raise Mismatch(f"expected scalar {case.expect_scalar}, got {result.value[1]}")
    elif kind == "string":
        if result.value[1] != case.expect_string:
            raise Mismatch(f"expected string {case.expect_string!r}, got {result.value[1]!r}")
    elif kind == "vector":
        _compare_vector(case, [(s.labels, s.value) for s in result.value])
    else:
        if case.expect_range is not None:
            start, end, step = case.expect_range
        elif case.ordered:
            raise Mismatch("expected an ordered vector, got a matrix")
        _compare_matrix(case, result.value, start, end, step)


def _run(case: Case, engine: QueryEngine) -> None:
    try:
        if case.instant_at is None:
            result = engine.range(case.expr, case.start, case.end, case.step)
        else:
            result = engine.instant(case.expr, case.instant_at)
    except QueryError as exc:
        if not case.fail:
            raise
        _check_failure(case, exc)
        return
    if case.fail:
        raise Mismatch(f"expected an error, got {result.result_type} {result.value}")
    if case.instant_at is None:
        _compare(case, result, case.start, case.end, case.step)
        return
    _compare(case, result)
    if (case.expect_range is not None or case.expect_string is not None or case.ordered
            or _CONTEXT_FUNCS.search(case.expr)):
        return
    t = case.instant_at
    ranged = engine.range(case.expr, t - 60, t + 60, 60)
    at_t = [(s.labels, v) for s in ranged.value for pt, v in s.points if round(pt * 1000) == round(t * 1000)]
    if case.expect_scalar is not None:
        if not at_t or not almost_equal(case.expect_scalar, at_t[0][1]):
            raise Mismatch(f"range mode: expected scalar {case.expect_scalar}, got {at_t}")
        return
    try:
        _compare_vector(case, at_t)
    except Mismatch as exc:
        raise Mismatch(f"range mode: {exc}") from None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance(case: Case, stores: _Stores) -> None:
    if case.id in SKIPS:
        pytest.skip(SKIPS[case.id])
    if case.native:
        pytest.skip(f"native histograms: not yet ({case.native})")
    engine = stores.engine(case)
    try:
        _run(case, engine)
    except (Mismatch, QueryError) as exc:
        if case.reads_native:
            pytest.skip(f"native histograms: not yet ({case.reads_native})")
        raise AssertionError(f"{case.id} {case.expr}: {exc}") from None
