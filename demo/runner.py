"""Running the demo platform: until a signal (``metrics-service demo``) or on a thread of its own
beside the console (``metrics-service --demo``), so its traffic never runs on the UI's loop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from demo.options import DemoOptions
from demo.platform import DemoPlatform
from engine.loopthread import LoopThread

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

    def __init__(self, server_url: str, options: DemoOptions | None = None, token: str | None = None) -> None:
        self.platform = DemoPlatform(server_url, options, token)
        self._thread = LoopThread("demo-platform", "the demo platform", self.platform.start, self.platform.stop,
                                  after_failed_start=self.platform.stop)

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float = 30.0) -> DemoPlatform:
        self._thread.wait_ready(timeout)
        return self.platform

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the traffic and the services, unregister them, end the thread."""
        self._thread.stop(timeout)
