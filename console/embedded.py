"""Embedded mode: the engine and server on a thread with their own asyncio loop.

Collection, storage and request handling then never stall the UI loop (and the UI never stalls
them); the console reaches the server over 127.0.0.1 exactly as it would a remote one.
"""

from __future__ import annotations

import asyncio
import threading

from engine.clock import Clock
from engine.settings import Settings
from server.runner import RunningServer, start_server

STOP_TIMEOUT_S = 15.0


class EmbeddedServer:
    """``start()``, ``wait_ready()`` for the URL (or the start-up error), ``stop()`` to persist and close."""

    def __init__(self, settings: Settings, clock: Clock | None = None, *, collect_system: bool = True,
                 start_schedules: bool = True) -> None:
        self.settings = settings
        self._clock = clock
        self._options = {"collect_system": collect_system, "start_schedules": start_schedules}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.running: RunningServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="embedded-server", daemon=True)

    def start(self) -> None:
        """Start the thread; the caller may do other work (import the UI) while the server opens."""
        self._thread.start()

    def wait_ready(self, timeout: float = 60.0) -> str:
        """The server's URL once it listens; re-raises what stopped it from starting."""
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the embedded server did not start within {timeout:.0f} s")
        if self._error is not None:
            raise self._error
        assert self.running is not None
        return self.running.url

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop schedules, persist everything pending, close the store, end the thread."""
        loop, running = self.loop, self.running
        if loop is None or running is None or not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(running.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)

    def _main(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self.running = loop.run_until_complete(start_server(self.settings, self._clock, **self._options))
        except BaseException as exc:  # reported to the caller by wait_ready
            self._error = exc
            self._ready.set()
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
