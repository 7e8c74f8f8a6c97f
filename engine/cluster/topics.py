"""WebSocket topics whose events happen on one replica but concern the whole service, relayed to the
others through Redis pub/sub (``metrics-service:events``): each replica's stream carries them all.

``notifications``: only the leader delivers, so a console on a follower saw no delivery attempt;
``audit``: each replica records the requests it served. Topics with their own sharing are not relayed
(``alerts``: engine/cluster/alertsync.py; ``health``: each replica applies every check's result) nor
are each host's own figures. Publishing never waits on Redis: events go out from background tasks, at
most MAX_IN_FLIGHT at once, the rest dropped and counted (``cluster_stream_events_dropped_total``)
while Redis is slow or down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from engine.cluster.lease import PREFIX
from engine.cluster.pubsub import ChannelListener
from engine.events import EventBus
from engine.logs import log_fields
from engine.tsdb.types import Family

CHANNEL = PREFIX + "events"
TOPICS = frozenset({"notifications", "audit"})
MAX_IN_FLIGHT = 1000
log = logging.getLogger(__name__)


class TopicRelay:
    def __init__(self, url: str, origin: str, bus: EventBus, topics: frozenset[str] = TOPICS) -> None:
        import redis.asyncio as aioredis  # loaded only when REDIS_URL is set
        self.origin = origin
        self.bus = bus
        self.topics = topics
        self.client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.listener = ChannelListener(self.client, CHANNEL, self.receive, lambda: None, "stream events", url)
        self.dropped = 0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._failing = False

    async def start(self) -> None:
        """Listen (returns once listening, or after a few seconds if Redis does not answer), then relay
        this replica's events."""
        await self.listener.start()
        self.bus.forward = self.send

    async def stop(self) -> None:
        self.bus.forward = None
        await self.listener.stop()
        pending = list(self._in_flight)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.client.aclose()

    def send(self, topic: str, ts: float, data: Any) -> None:
        """The bus's hook for every event published here: relay the topics that concern every replica."""
        if topic not in self.topics:
            return
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            self.dropped += 1
            return
        message = json.dumps({"origin": self.origin, "topic": topic, "ts": ts, "data": data})
        task = asyncio.get_running_loop().create_task(self._publish(message))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _publish(self, message: str) -> None:
        import redis
        try:
            await self.client.publish(CHANNEL, message)
        except (redis.RedisError, OSError) as exc:
            self.dropped += 1
            if not self._failing:
                self._failing = True
                log.warning("stream events not relayed to other replicas: Redis does not answer",
                            extra=log_fields(error=str(exc)))
        else:
            self._failing = False

    def families(self) -> list[Family]:
        """The server's own metric of the relay (added to its self-metrics)."""
        dropped = Family("cluster_stream_events_dropped_total", "counter",
                         "Stream events not relayed to the other replicas (Redis slow or down).")
        dropped.add(self.dropped, {})
        return [dropped]

    def receive(self, data: bytes | str) -> None:
        """Another replica's event, handed to this replica's subscribers only (never relayed again)."""
        try:
            event = json.loads(data)
            origin, topic, ts, body = event["origin"], event["topic"], float(event["ts"]), event["data"]
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("unreadable stream event from another replica skipped: %s", exc)
            return
        if origin != self.origin and topic in self.topics:
            self.bus.deliver(topic, ts, body)
