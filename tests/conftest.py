"""Shared fixtures: real stores on temporary directories, real servers on free ports."""

from __future__ import annotations

import gc
import multiprocessing
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from tests.backends import BACKENDS, Storage, storage_for


def promtool_path() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus'; .ci/run installs it)")
    return path


def finishes(fn: Callable[..., Any], *args: Any, timeout: float = 60.0) -> Any:
    """fn(*args) run in a forked child process: its result, or a test failure once timeout seconds
    pass without one. For code that may never end while holding the GIL (a backtracking regex),
    which no thread or signal in the test's own process could interrupt."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_send_result, args=(sender, fn, args), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            pytest.fail(f"{fn.__name__}{args!r:.200} did not finish in {timeout:g} s")
        try:
            ok, value = receiver.recv()
        except EOFError:
            pytest.fail(f"{fn.__name__} ended its process without a result")
    finally:
        child.kill()
        child.join()
    if not ok:
        pytest.fail(f"{fn.__name__} raised in the child process: {value}")
    return value


def _send_result(sender: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    gc.freeze()  # the parent's objects are never collected here: their finalizers (temporary
    # directories, database connections) must not run in the child
    try:
        sender.send((True, fn(*args)))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        sender.send((False, repr(exc)))


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """Where a test's data lives, once per backend: SQLite in tmp_path, and a MongoDB database of its
    own when MONGODB_URI is set (that case is skipped otherwise, with the reason)."""
    place: Storage = storage_for(request.param, tmp_path)
    try:
        yield place
    finally:
        place.drop()
