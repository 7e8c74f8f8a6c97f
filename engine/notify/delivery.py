"""Per-channel delivery workers over the outbox: oldest first, retries with exponential backoff and
jitter until NOTIFY_MAX_AGE, health per channel, and the notifier's metrics.

Each channel has its own task and sends one notification at a time, so order is kept per channel
and a slow or failing receiver only delays its own queue: the ruler and other channels never wait.
A notification is marked sent in the outbox after the receiver accepted it; one killed in between is
sent again after a restart (at-least-once; the payload's idempotency key lets a receiver drop it),
never twice within one process (``_sent``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.logs import log_fields
from engine.notify.outbox import Outbox
from engine.notify.transport import Result
from engine.timefmt import rfc3339
from engine.tsdb.types import Family

log = logging.getLogger(__name__)
T = TypeVar("T")
UNHEALTHY_AFTER = 3
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
IDLE_POLL_S = 5.0


@dataclass
class Health:
    consecutive_failures: int = 0
    last_error: str | None = None
    last_attempt_at: float | None = None
    last_success_at: float | None = None

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures < UNHEALTHY_AFTER

    def to_json(self) -> dict[str, Any]:
        def t(v: float | None) -> str | None:
            return None if v is None else rfc3339(v)
        return {"healthy": self.healthy, "consecutiveFailures": self.consecutive_failures,
                "lastError": self.last_error, "lastAttemptAt": t(self.last_attempt_at),
                "lastSuccessAt": t(self.last_success_at)}


Sender = Callable[[str, Any, float], Awaitable[Result]]
"""send(channel name, payload, now) -> Result; raises KeyError when the channel no longer exists."""


class Delivery:
    def __init__(self, outbox: Outbox, pool: ThreadPoolExecutor, now: Callable[[], float], send: Sender,
                 max_age: float, on_attempt: Callable[[dict[str, Any]], None],
                 retry_initial: float = 1.0, retry_max: float = 300.0) -> None:
        self.outbox = outbox
        self.pool = pool
        self.now = now
        self.send = send
        self.max_age = max_age
        self.on_attempt = on_attempt
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.health: dict[str, Health] = {}
        self.queue: dict[str, int] = {}
        self.totals: dict[tuple[str, str], int] = {}
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._sent: set[int] = set()
        """Accepted by their receiver but not yet recorded as sent (the write failed): never sent again."""

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def enqueued(self, counts: dict[str, int]) -> None:
        """New rows were committed: wake (or start) their channels' workers."""
        for channel, n in counts.items():
            self.queue[channel] = self.queue.get(channel, 0) + n
            self.ensure(channel)
            self._wake[channel].set()

    def wake(self) -> None:
        """Every worker looks at its queue again now (a retry may be due on a clock that jumped)."""
        for event in self._wake.values():
            event.set()

    def ensure(self, channel: str) -> None:
        if channel not in self._tasks or self._tasks[channel].done():
            self._wake.setdefault(channel, asyncio.Event())
            self.health.setdefault(channel, Health())
            self._tasks[channel] = asyncio.get_running_loop().create_task(self._worker(channel),
                                                                        name=f"notify-{channel}")

    async def start(self) -> None:
        """Resume what a previous process left pending."""
        counts = await self._db(self.outbox.pending_counts)
        self.queue = dict(counts)
        for channel in counts:
            self.ensure(channel)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _wait(self, channel: str, seconds: float) -> None:
        event = self._wake[channel]
        try:
            await asyncio.wait_for(event.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass
        event.clear()

    async def _worker(self, channel: str) -> None:
        while True:
            try:
                row = await self._db(self.outbox.next_pending, channel)
            except Exception:
                log.exception("reading the outbox failed", extra=log_fields(channel=channel))
                await self._wait(channel, IDLE_POLL_S)
                continue
            if row is None:
                self.queue[channel] = 0
                await self._wait(channel, IDLE_POLL_S)
                continue
            if row["id"] in self._sent:  # marked sent in memory; its write failed: never twice in one process
                await self._mark(row, "sent", row["attempts"], None, None, self.now())
                continue
            delay = row["next_attempt_at"] - self.now()
            if delay > 0:
                await self._wait(channel, min(delay, IDLE_POLL_S))
                continue
            await self._attempt(channel, row)

    async def _attempt(self, channel: str, row: dict[str, Any]) -> None:
        started = self.now()
        try:
            result = await self.send(channel, row["payload"], started)
        except KeyError:
            result = Result(False, error=f"channel {channel!r} no longer exists", permanent=True)
        except Exception as exc:  # a bug in a sender must not stop the channel's queue
            log.exception("sending a notification failed", extra=log_fields(channel=channel))
            result = Result(False, error=f"{type(exc).__name__}: {exc}")
        now = self.now()
        attempts = row["attempts"] + 1
        health = self.health.setdefault(channel, Health())
        health.last_attempt_at = now
        if result.ok:
            self._sent.add(row["id"])
            health.consecutive_failures, health.last_error, health.last_success_at = 0, None, now
            self._count(channel, "sent")
            self._observe(now - row["created_at"])
            self.queue[channel] = max(0, self.queue.get(channel, 1) - 1)
            await self._mark(row, "sent", attempts, None, result.to_json(), now)
            return
        health.consecutive_failures += 1
        health.last_error = result.error
        if health.consecutive_failures == UNHEALTHY_AFTER:
            log.warning("notification channel unhealthy", extra=log_fields(channel=channel, error=result.error))
        give_up = result.permanent or now - row["created_at"] >= self.max_age
        if give_up:
            self._count(channel, "failed")
            self.queue[channel] = max(0, self.queue.get(channel, 1) - 1)
            error = result.error if result.permanent else f"given up after {attempts} attempts: {result.error}"
            await self._mark(row, "failed", attempts, error, result.to_json(), now)
            return
        self._count(channel, "retry")
        backoff = min(self.retry_max, self.retry_initial * 2 ** min(attempts - 1, 30))
        delay = max(result.retry_after or 0.0, backoff * random.uniform(0.5, 1.0))
        row["next_attempt_at"] = min(now + delay, row["created_at"] + self.max_age)
        await self._mark(row, "pending", attempts, result.error, result.to_json(), now)

    async def _mark(self, row: dict[str, Any], status: str, attempts: int, error: str | None,
                    response: dict[str, Any] | None, now: float) -> None:
        try:
            await self._db(self.outbox.record_attempt, row["id"], status, attempts, now, row["next_attempt_at"],
                           error, response)
            self._sent.discard(row["id"])
        except Exception:
            log.exception("recording a delivery attempt failed", extra=log_fields(id=row["id"]))
            await asyncio.sleep(1.0)  # the disk may be full: do not spin
            return
        row.update(status=status, attempts=attempts, last_attempt_at=now, last_error=error, response=response,
                   sent_at=now if status == "sent" else row.get("sent_at"))
        self.on_attempt(row)

    def _count(self, channel: str, status: str) -> None:
        self.totals[(channel, status)] = self.totals.get((channel, status), 0) + 1

    def _observe(self, seconds: float) -> None:
        self.latency_sum += seconds
        for i, le in enumerate(LATENCY_BUCKETS):
            if seconds <= le:
                self.latency[i] += 1
                return
        self.latency[-1] += 1

    def families(self) -> list[Family]:
        total = Family("notifications_total", "counter", "Notification delivery attempts, by channel and outcome "
                       "(sent, retry, failed).")
        for (channel, status), n in sorted(self.totals.items()):
            total.add(n, {"channel": channel, "status": status})
        hist = Family("notification_latency_seconds", "histogram",
                      "From a notification's creation to its delivery.", "seconds")
        cumulative = 0
        for le, n in zip(LATENCY_BUCKETS, self.latency, strict=False):
            cumulative += n
            hist.add(cumulative, {"le": repr(le)}, "_bucket")
        count = cumulative + self.latency[-1]
        hist.add(count, {"le": "+Inf"}, "_bucket")
        hist.add(self.latency_sum, {}, "_sum")
        hist.add(count, {}, "_count")
        queue = Family("notification_queue_length", "gauge", "Notifications waiting in the outbox, by channel.")
        for channel, n in sorted(self.queue.items()):
            queue.add(n, {"channel": channel})
        return [total, hist, queue]
