"""A test group's input series, fed into a fresh store tick by tick as promtool's lazy loader does.

promtool appends the samples up to each evaluation tick just before evaluating the rules at that
tick, so a rule never sees a sample from its future (not even through ``offset -5m`` or ``@``), and
samples after the last tick are never loaded at all.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator

from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import Labels
from engine.unittest.notation import NotationError, canonical, parse_series
from engine.unittest.testfile import UnitTestGroup

_FLUSH_EVERYTHING_MS = 10**13  # a "now" far past any test's samples: every chunk window closes


def input_series(group: UnitTestGroup, path: str) -> dict[Labels, list[float | None]]:
    """Each input series' samples by labels; a later definition of the same series replaces an earlier one."""
    out: dict[Labels, list[float | None]] = {}
    for i, item in enumerate(group.input_series):
        where = f"{path}: input_series[{i}] (line {item.line}) {item.series!r}"
        try:
            desc = parse_series(f"{item.series} {item.values}")
        except NotationError as exc:
            raise NotationError(f"{where}: {exc}") from None
        labels = canonical(desc.labels)
        names = [name for name, _ in labels]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise NotationError(f"{where}: label name {duplicates[0]!r} is not unique")
        if not labels:
            raise NotationError(f"{where}: a series needs at least one label with a value")
        out[labels] = desc.values
    return out


class InputStore:
    """A store in a temporary directory that takes the input series a tick at a time.

    With ``from_disk`` every sample before the current tick is flushed to SQLite chunks (one
    window per evaluation interval) before the rules run, and everything is flushed before the
    ``promql_expr_test`` queries, so queries read back from disk what the head would have answered.
    """

    def __init__(self, store: Store, series: dict[Labels, list[float | None]], interval_ms: int,
                 from_disk: bool) -> None:
        self.store = store
        self.from_disk = from_disk
        self._interval_ms = interval_ms
        self._pending = [(store.ref(labels), values, 0) for labels, values in series.items()]

    def load_until(self, t_ms: int) -> None:
        """Append every input sample at or before ``t_ms`` not appended yet (a missing interval puts
        them all at time 0, where the store keeps only the first, as promtool 2.42 does)."""
        left = []
        for ref, values, i in self._pending:
            while i < len(values) and i * self._interval_ms <= t_ms:
                if values[i] is not None:
                    self.store.append(ref, i * self._interval_ms, values[i])
                i += 1
            if i < len(values):
                left.append((ref, values, i))
        self._pending = left
        if self.from_disk:
            self.store.flush(t_ms)

    def loading_done(self) -> None:
        """No more samples will come: with ``from_disk`` the rest goes to disk too."""
        if self.from_disk:
            self.store.flush(_FLUSH_EVERYTHING_MS)


@contextlib.contextmanager
def input_store(series: dict[Labels, list[float | None]], interval_ms: int, evaluation_interval_ms: int,
               from_disk: bool) -> Iterator[InputStore]:
    """An :class:`InputStore` for one test group, its directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ruletest-") as data_dir:
        store = Store(SQLiteBackend(data_dir), head_retention_ms=0, window_ms=evaluation_interval_ms,
                      close_grace_ms=0)
        store.open()
        try:
            yield InputStore(store, series, interval_ms, from_disk)
        finally:
            store.backend.close()
