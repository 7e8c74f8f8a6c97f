"""Alert changes other replicas committed to Redis, taken into this replica's alert book as they happen.

Each write to the shared alert state publishes what it changed (engine/cluster/alertstore.py); this
replica applies the message to its book, which announces it on the local event bus: a console on this
replica sees an acknowledgement made on another one at once. After a lost connection the book reads
the shared state again, so a missed message is never a lasting difference.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from engine.alerts.book import AlertBook
from engine.alerts.db import decode_silence
from engine.alerts.model import AlertInstance, TimelineEvent
from engine.cluster.alertstore import CHANGES
from engine.cluster.pubsub import ChannelListener

log = logging.getLogger(__name__)


class AlertSync:
    def __init__(self, url: str, origin: str, book: AlertBook, resync: Callable[[], None]) -> None:
        """``resync()``: read the shared state again (the book, and the ruler's alerts if leading)."""
        import redis.asyncio as aioredis  # loaded only when REDIS_URL is set
        self.origin = origin
        self.book = book
        self.client = aioredis.from_url(url, socket_connect_timeout=2)
        # what was published before we were listening: read the shared state again
        self.listener = ChannelListener(self.client, CHANGES, self.apply, resync, "alert changes", url)

    async def start(self) -> None:
        """Listen, and return once listening (or after a few seconds if Redis does not answer)."""
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
        await self.client.aclose()

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
