"""A long-lived part on a thread with its own asyncio loop, so it never shares a loop with the caller:
the embedded server beside the console's UI (console/embedded.py), the demo platform beside either
(demo/runner.py). Neither stalls the other, and each is reached over 127.0.0.1 as a remote one would be.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class LoopThread(Generic[T]):
    """``start()`` runs ``opening`` on a new daemon thread's loop, ``wait_ready()`` gives what it
    returned (or re-raises what stopped it), ``stop()`` runs ``closing`` there and ends the thread.

    ``after_failed_start`` (if any) runs when ``opening`` raised, to release what it had opened.
    ``what`` names the part in the start-up timeout's message ("the demo platform").
    """

    def __init__(self, name: str, what: str, opening: Callable[[], Coroutine[Any, Any, T]],
                 closing: Callable[[], Coroutine[Any, Any, object]],
                 after_failed_start: Callable[[], Coroutine[Any, Any, object]] | None = None) -> None:
        self.what = what
        self.loop: asyncio.AbstractEventLoop | None = None
        self.opened: T | None = None
        self._opening = opening
        self._closing = closing
        self._after_failed_start = after_failed_start
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread; the caller may do other work while the part opens."""
        self._thread.start()

    def wait_ready(self, timeout: float) -> T | None:
        """What ``opening`` returned once it has; re-raises what stopped it."""
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.what} did not start within {timeout:.0f} s")
        if self._error is not None:
            raise self._error
        return self.opened

    def stop(self, timeout: float) -> None:
        """Run ``closing`` on the thread's loop, then stop the loop and end the thread."""
        loop = self.loop
        if loop is None or not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._closing(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)

    def _main(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self.opened = loop.run_until_complete(self._opening())
        except BaseException as exc:  # reported to the caller by wait_ready
            self._error = exc
            self._ready.set()
            if self._after_failed_start is not None:
                loop.run_until_complete(self._after_failed_start())
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
