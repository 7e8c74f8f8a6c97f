"""Health check results shared between replicas: each check runs on one replica (work sharing,
engine/cluster/work.py), which publishes every result on Redis; every other replica applies it as if
it had run the check itself (state, history, probe_* series, ``health`` events). So every replica's
health API, metrics and uptime figures show every check, and the leader's rules see every
``probe_success``.

Results are published from a bounded queue by one task: a slow or absent Redis never holds a check's
run; results that do not fit are dropped (the next run brings a newer one). A replica that was not
listening misses results only until each check's next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from engine.cluster.lease import PREFIX
from engine.health.checkers.base import Result
from engine.logs import log_fields
from engine.settings import redact_uris

log = logging.getLogger(__name__)
CHANNEL = PREFIX + "health-results"
QUEUE_LIMIT = 10_000
RETRY_S = 1.0
START_WAIT_S = 5.0
Apply = Callable[[str, Result, float], None]


class HealthResults:
    def __init__(self, url: str, origin: str, apply: Apply) -> None:
        """``apply(name, result, at)``: take another replica's result of check ``name`` run at ``at``."""
        import redis.asyncio as aioredis  # loaded only when REDIS_URL is set
        self.url = url
        self.origin = origin
        self.apply = apply
        self.client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.dropped = 0
        self._queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_LIMIT)
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Listen and publish; return once listening (or after START_WAIT_S if Redis does not answer)."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="health-results-in"),
                       loop.create_task(self._publish(), name="health-results-out")]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), START_WAIT_S)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.aclose()

    def publish(self, name: str, result: Result, at: float) -> None:
        """Queue this replica's result of a check for the others (never blocks)."""
        message = json.dumps({"origin": self.origin, "name": name, "at": at, "result": dataclasses.asdict(result)},
                             default=str)
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _publish(self) -> None:
        import redis
        failing = False
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for message in batch:
                        pipe.publish(CHANNEL, message)
                    await pipe.execute()
                if failing:
                    failing = False
                    log.info("health results published to other replicas again")
            except (redis.RedisError, OSError) as exc:
                self.dropped += len(batch)
                if not failing:
                    failing = True
                    log.warning("health results not published: Redis does not answer",
                                extra=log_fields(redis_url=redact_uris(self.url), error=str(exc)))
                await asyncio.sleep(RETRY_S)

    async def _listen(self) -> None:
        import redis
        failing = False
        while True:
            try:
                async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._listening.set()
                    if failing:
                        failing = False
                        log.info("health results from other replicas received again")
                    async for message in pubsub.listen():
                        self.receive(message["data"])
            except (redis.RedisError, OSError) as exc:
                if not failing:
                    failing = True
                    log.warning("health results from other replicas not received: Redis does not answer",
                                extra=log_fields(redis_url=redact_uris(self.url), error=str(exc)))
                await asyncio.sleep(RETRY_S)

    def receive(self, data: bytes | str) -> None:
        """One published result; another replica's is applied, ours is already in."""
        try:
            message: dict[str, Any] = json.loads(data)
            if message["origin"] == self.origin:
                return
            name, at = str(message["name"]), float(message["at"])
            result = Result(**message["result"])
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("unreadable health result from another replica skipped: %s", exc)
            return
        self.apply(name, result, at)
