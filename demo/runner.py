"""Running the demo platform: until a signal (``metrics-service demo``) or on a thread of its own
beside the console (``metrics-service --demo``), so its traffic never runs on the UI's loop."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable

from demo.options import DemoOptions
from demo.platform import DemoPlatform

STOP_TIMEOUT_S = 20.0


async def run_until_stopped(platform: DemoPlatform, duration_s: float | None = None,
                            on_started: Callable[[], None] | None = None) -> None:
    """Start the platform, wait for SIGINT/SIGTERM (or ``duration_s``), then stop everything."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await platform.start()
        if on_started is not None:
            on_started()
        try:
            await asyncio.wait_for(stop.wait(), duration_s)
        except TimeoutError:
            pass
    finally:
        await platform.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class DemoThread:
    """``start()``, ``wait_ready()`` for the running platform (or its start-up error), ``stop()``."""

    def __init__(self, server_url: str, options: DemoOptions | None = None) -> None:
        self.platform = DemoPlatform(server_url, options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="demo-platform", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float = 30.0) -> DemoPlatform:
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the demo platform did not start within {timeout:.0f} s")
        if self._error is not None:
            raise self._error
        return self.platform

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the traffic and the services, unregister them, end the thread."""
        loop = self._loop
        if loop is None or not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.platform.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)

    def _main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.platform.start())
        except BaseException as exc:  # reported to the caller by wait_ready
            self._error = exc
            self._ready.set()
            loop.run_until_complete(self.platform.stop())
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
