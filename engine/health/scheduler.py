"""Runs each check every ``interval`` on the event loop: a fixed rate from a per-check offset (spread
over the interval, so checks do not all fire at once), a global cap on checks in flight, and a run
still going when its next one is due is skipped rather than stacked."""

from __future__ import annotations

import asyncio
import heapq
import zlib
from collections import deque
from collections.abc import Awaitable, Callable

LATENESS_SAMPLES = 5_000


class Scheduler:
    def __init__(self, run: Callable[[str], Awaitable[None]], concurrency: int) -> None:
        self._run = run
        self._intervals: dict[str, float] = {}
        self._generation: dict[str, int] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.lateness: deque[float] = deque(maxlen=LATENESS_SAMPLES)
        """Seconds between when a check was due and when it started (scheduling jitter)."""
        self.skipped = 0

    def set(self, name: str, interval: float) -> None:
        """Schedule a check (or reschedule it with a new interval); its first run is at its offset."""
        self._intervals[name] = interval
        generation = self._generation.get(name, 0) + 1
        self._generation[name] = generation
        now = asyncio.get_running_loop().time() if self._loop_task is not None else 0.0
        offset = (zlib.crc32(name.encode()) / 2**32) * min(interval, 60.0)
        heapq.heappush(self._heap, (now + offset, generation, name))
        self._wake.set()

    def remove(self, name: str) -> None:
        self._intervals.pop(name, None)
        self._generation.pop(name, None)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        base = loop.time()
        self._heap = [(base + due, gen, name) for due, gen, name in self._heap]
        heapq.heapify(self._heap)
        self._loop_task = loop.create_task(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        heap = self._heap
        while True:
            now = loop.time()
            while heap and heap[0][0] <= now:
                due, generation, name = heapq.heappop(heap)
                interval = self._intervals.get(name)
                if interval is None or self._generation.get(name) != generation:
                    continue  # removed or rescheduled
                following = due + interval
                if following <= now:  # the loop fell behind: skip the missed runs, keep the phase
                    following += interval * ((now - following) // interval + 1)
                heapq.heappush(heap, (following, generation, name))
                if name in self._running:
                    self.skipped += 1
                    continue
                self._running.add(name)
                task = loop.create_task(self._guarded(name, due))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._wake.clear()
            delay = heap[0][0] - loop.time() if heap else 3600.0
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass

    async def _guarded(self, name: str, due: float) -> None:
        try:
            async with self._slots:
                self.lateness.append(asyncio.get_running_loop().time() - due)
                await self._run(name)
        finally:
            self._running.discard(name)

    async def run_now(self, name: str) -> None:
        """Run a check out of schedule (the API's "check now"), within the same cap."""
        async with self._slots:
            await self._run(name)
