"""Results of the work one replica did, relayed to the others: each scrape target and health check
runs on one replica (work sharing, engine/cluster/work.py), which publishes what it got on Redis;
every other replica records it as if it had done the work itself. So every replica's store holds
every target's samples and every check's probe_* series (the leader's rules see them all), and every
replica's health API, history and events show every check: the work is divided, not its results.

A scrape is relayed as the body its owner fetched (each replica parses and relabels it with its own
copy of the same config, at the owner's scrape time); a check as its Result. Frames are published
from a bounded queue by one task, so a slow or absent Redis never holds a scrape or a check; frames
that do not fit are dropped and counted (``cluster_work_results_dropped_total``; the next run
brings newer ones). A replica that was not listening misses results only until each target's or
check's next run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from engine.cluster.lease import PREFIX
from engine.cluster.pubsub import ChannelListener
from engine.health.checkers.base import Result
from engine.logs import log_fields
from engine.settings import redact_uris
from engine.tsdb.types import Family

log = logging.getLogger(__name__)
CHANNEL = PREFIX + "results"
MAX_QUEUED_BYTES = 64 << 20
RETRY_S = 1.0
BATCH = 200
HealthApply = Callable[[str, Result, float], None]
ScrapeApply = Callable[[str, float, float, bytes | None, str, str], None]


class WorkResults:
    def __init__(self, url: str, origin: str, on_check: HealthApply, on_scrape: ScrapeApply) -> None:
        """``on_check(name, result, at)`` and ``on_scrape(key, at, duration, body, content_type, error)``
        take another replica's results."""
        import redis.asyncio as aioredis  # loaded only when REDIS_URL is set
        self.url = url
        self.origin = origin.encode()
        self.on_check = on_check
        self.on_scrape = on_scrape
        self.client = aioredis.from_url(url, socket_connect_timeout=2)
        self.dropped = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued_bytes = 0
        self.listener = ChannelListener(self.client, CHANNEL, self.receive, lambda: None, "work results", url)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Publish, and listen (returns once listening, or after a few seconds if Redis does not answer)."""
        self._task = asyncio.get_running_loop().create_task(self._publish(), name="work-results-out")
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.client.aclose()

    def families(self) -> list[Family]:
        """The server's own metric of the relay (added to its self-metrics)."""
        dropped = Family("cluster_work_results_dropped_total", "counter",
                         "Scrapes and check results not relayed to the other replicas (Redis slow or down).")
        dropped.add(self.dropped, {})
        return [dropped]

    def check_result(self, name: str, result: Result, at: float) -> None:
        """Relay this replica's result of a check (never blocks)."""
        self._put({"kind": "check", "name": name, "at": at, "result": dataclasses.asdict(result)}, b"")

    def scrape_result(self, key: str, at: float, duration: float, body: bytes | None, content_type: str,
                      error: str) -> None:
        """Relay this replica's scrape of a target: the body fetched, or None and why it failed."""
        self._put({"kind": "scrape", "key": key, "at": at, "duration": duration, "contentType": content_type,
                   "error": error, "failed": body is None}, body or b"")

    def _put(self, header: dict[str, Any], body: bytes) -> None:
        frame = b"\n".join((self.origin, json.dumps(header, default=str).encode(), body))
        if self._queued_bytes + len(frame) > MAX_QUEUED_BYTES:
            self.dropped += 1
            return
        self._queued_bytes += len(frame)
        self._queue.put_nowait(frame)

    async def _publish(self) -> None:
        import redis
        failing = False
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < BATCH:
                batch.append(self._queue.get_nowait())
            self._queued_bytes -= sum(map(len, batch))
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for frame in batch:
                        pipe.publish(CHANNEL, frame)
                    await pipe.execute()
                if failing:
                    failing = False
                    log.info("work results published to other replicas again")
            except (redis.RedisError, OSError) as exc:
                self.dropped += len(batch)
                if not failing:
                    failing = True
                    log.warning("work results not published: Redis does not answer",
                                extra=log_fields(redis_url=redact_uris(self.url), error=str(exc)))
                await asyncio.sleep(RETRY_S)

    def receive(self, frame: bytes) -> None:
        """One published frame; another replica's is recorded here, ours is already in."""
        try:
            origin, header_text, body = frame.split(b"\n", 2)
            if origin == self.origin:
                return
            header: dict[str, Any] = json.loads(header_text)
            if header["kind"] == "check":
                name, at, result = str(header["name"]), float(header["at"]), Result(**header["result"])
            elif header["kind"] == "scrape":
                scrape = (str(header["key"]), float(header["at"]), float(header["duration"]),
                          None if header["failed"] else body, str(header["contentType"]), str(header["error"]))
            else:
                return
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("unreadable work result from another replica skipped: %s", exc)
            return
        if header["kind"] == "check":
            self.on_check(name, result, at)
        else:
            self.on_scrape(*scrape)
