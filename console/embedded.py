"""Embedded mode: the engine and server on a thread with their own asyncio loop.

Collection, storage and request handling then never stall the UI loop (and the UI never stalls
them); the console reaches the server over 127.0.0.1 exactly as it would a remote one.
"""

from __future__ import annotations

import asyncio

from engine.clock import Clock
from engine.loopthread import LoopThread
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
        self._thread = LoopThread("embedded-server", "the embedded server", self._open, self._close)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The server's loop (tests run coroutines on it)."""
        return self._thread.loop

    @property
    def running(self) -> RunningServer | None:
        """The server once it listens."""
        return self._thread.opened

    def start(self) -> None:
        """Start the thread; the caller may do other work (import the UI) while the server opens."""
        self._thread.start()

    def wait_ready(self, timeout: float = 60.0) -> str:
        """The server's URL once it listens; re-raises what stopped it from starting."""
        running = self._thread.wait_ready(timeout)
        assert running is not None
        return running.url

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop schedules, persist everything pending, close the store, end the thread."""
        if self.running is not None:
            self._thread.stop(timeout)

    async def _open(self) -> RunningServer:
        return await start_server(self.settings, self._clock, **self._options)

    async def _close(self) -> None:
        assert self.running is not None
        await self.running.stop()
