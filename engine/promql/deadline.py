"""A query's wall-clock limit, checked inside the evaluator's loops so that work stops with its request.

Reading the clock for every row would cost more than the rows; loops go through :meth:`paced`,
which reads it once per ~65,000 values of work (a few milliseconds of Python).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from engine.promql.errors import CANCELED, TIMEOUT, QueryError

T = TypeVar("T")

CHECK_CELLS = 1 << 16


class Deadline:
    """Raises ``QueryError(timeout)`` once ``time.monotonic()`` passes ``at``, and
    ``QueryError(canceled)`` once ``closing`` is set (the engine shuts down: running work stops)."""

    __slots__ = ("at", "closing")

    def __init__(self, at: float, closing: threading.Event | None = None) -> None:
        self.at = at
        self.closing = closing

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise QueryError(TIMEOUT, "query timed out in expression evaluation")
        if self.closing is not None and self.closing.is_set():
            raise QueryError(CANCELED, "query was canceled: the server is shutting down")

    def paced(self, items: Iterable[T], cells: int) -> Iterator[T]:
        """``items``, checking the clock before each run of them worth ``CHECK_CELLS`` values when
        each item is worth ``cells`` (a row of ``cells`` steps, a step over ``cells`` series)."""
        stride = max(1, CHECK_CELLS // max(1, cells))
        it = iter(items)
        while True:
            self.check()
            run = list(islice(it, stride))
            if not run:
                return
            yield from run
