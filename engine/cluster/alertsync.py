"""Alert changes other replicas committed to Redis, taken into this replica's alert book as they happen.

Each write to the shared alert state publishes what it changed (engine/cluster/alertstore.py); this
replica applies the message to its book, which announces it on the local event bus: a console on this
replica sees an acknowledgement made on another one at once. After a lost connection the book reads
the shared state again, so a missed message is never a lasting difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from engine.alerts.book import AlertBook
from engine.alerts.db import decode_silence
from engine.alerts.model import AlertInstance, TimelineEvent
from engine.cluster.alertstore import CHANGES
from engine.logs import log_fields
from engine.settings import redact_uris
from engine.tsdb.backend import StoreError

log = logging.getLogger(__name__)
RETRY_S = 1.0
START_WAIT_S = 5.0


class AlertSync:
    def __init__(self, url: str, origin: str, book: AlertBook, resync: Callable[[], None]) -> None:
        """``resync()``: read the shared state again (the book, and the ruler's alerts if leading)."""
        import redis.asyncio as aioredis  # loaded only when REDIS_URL is set
        self.url = url
        self.origin = origin
        self.book = book
        self.resync = resync
        self._listening = asyncio.Event()
        self.client = aioredis.from_url(url, socket_connect_timeout=2)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen, and return once listening (or after START_WAIT_S if Redis does not answer)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alert-sync")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), START_WAIT_S)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.client.aclose()

    async def _run(self) -> None:
        import redis
        caught_up = True
        while True:
            try:
                async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANGES)
                    self.resync()  # what was published before we were listening
                    self._listening.set()
                    if not caught_up:
                        caught_up = True
                        log.info("alert changes from other replicas received again")
                    async for message in pubsub.listen():
                        self.apply(message["data"])
            except (redis.RedisError, OSError, StoreError) as exc:
                if caught_up:
                    log.warning("alert changes from other replicas not received: Redis does not answer",
                                extra=log_fields(redis_url=redact_uris(self.url), error=str(exc)))
                caught_up = False
                await asyncio.sleep(RETRY_S)

    def apply(self, data: bytes | str) -> None:
        """One published change; another replica's is applied to the book, ours is already there."""
        try:
            change = json.loads(data)
            if change["origin"] == self.origin:
                return
            instances = [AlertInstance.from_record(r) for r in change["instances"]]
            events = [TimelineEvent(*e) for e in change["events"]]
            silences = [decode_silence(json.dumps(s)) for s in change["silences"]]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("unreadable alert change from another replica skipped: %s", exc)
            return
        self.book.apply_remote(instances, events, silences)
