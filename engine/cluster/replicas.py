"""This replica in the cluster: its heartbeat key, the leader lease's loop, and the cluster's view.

Each replica keeps ``metrics-service:cluster:replica:<id>`` alive with a TTL; a replica whose key
expired has left. One task renews the heartbeat and the lease every few seconds, tells the engine
when this replica starts or stops leading, and reads the live members, by which scrape targets and
health checks are divided (engine/cluster/work.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable
from typing import Any

from engine.cluster.lease import PREFIX, LeaderLease
from engine.cluster.work import assignments, owner
from engine.logs import log_fields
from engine.settings import redact_uris
from engine.timefmt import rfc3339

log = logging.getLogger(__name__)
REPLICA_PREFIX = PREFIX + "replica:"


class ClusterUnavailable(RuntimeError):
    """Redis does not answer: the cluster's view cannot be read."""


def replica_id() -> str:
    """Unique among live processes: the host name (a pod's name on Kubernetes) and the process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Cluster:
    def __init__(self, url: str, lease_s: float, now: Callable[[], float],
                 on_leading: Callable[[bool], None], on_members: Callable[[], None] = lambda: None) -> None:
        """``on_leading(True)`` when this replica's term starts, ``on_leading(False)`` when it ends;
        ``on_members()`` when the live members changed (the work is divided again)."""
        import redis.asyncio as aioredis  # loaded only when REDIS_URL is set
        self.id = replica_id()
        self.url = url
        self.now = now
        self.started_at = now()
        self.address = ""
        self.on_leading = on_leading
        self.lease_s = lease_s
        timeout = max(0.2, lease_s / 10)
        self.client = aioredis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.lease = LeaderLease(self.client, self.id, lease_s)
        self.heartbeat_ms = max(1000, int(3 * self.lease.retry_s * 1000))
        self.on_members = on_members
        self.members: tuple[str, ...] = (self.id,)
        """The live members as last read from Redis: what this replica's share of the work follows.
        Kept while Redis does not answer, so each replica goes on with the share it had."""
        self._leading = False
        self._failing = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def leading(self) -> bool:
        """May this replica do the leader's work right now (evaluate rules, send notifications)?"""
        return self.lease.held()

    async def start(self) -> None:
        await self._step()  # the first answer before the ruler's first evaluation
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cluster")

    async def stop(self) -> None:
        """Leave: release the lease and the heartbeat so the others notice at once."""
        import redis
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._set_leading(False)
        with contextlib.suppress(redis.RedisError, OSError):
            await self.lease.release()
            await self.client.delete(REPLICA_PREFIX + self.id)
        await self.client.aclose()

    async def stand_down(self) -> None:
        """End this term now (its start failed here): the lease is released, so the next step, on
        this replica or another, starts a new term that takes the shared state again."""
        import redis
        with contextlib.suppress(redis.RedisError, OSError):
            await self.lease.release()  # not held from its first line, whether Redis answers or not
        self._set_leading(False)

    async def _run(self) -> None:
        """Steps until ``stop``: the flag ends the loop even when a cancellation arrives inside a
        Redis call and the client swallows it (seen with redis-py 8.1: ``stop`` then waited forever)."""
        while not self._stopping:
            wait = await self._step()
            if not self._stopping:
                await asyncio.sleep(wait)

    async def _step(self) -> float:
        import redis
        try:
            await self.client.set(REPLICA_PREFIX + self.id, json.dumps(self._entry()), px=self.heartbeat_ms)
            wait = await self.lease.step()
            members = tuple(sorted({self.id, *(e["id"] for e in await self.replicas())}))
        except (redis.RedisError, OSError) as exc:
            if not self._failing:
                self._failing = True
                log.warning("cluster: Redis does not answer; leading only until the lease's deadline",
                            extra=log_fields(redis_url=redact_uris(self.url), error=str(exc)))
            wait = self.lease.retry_s
        else:
            if self._failing:
                self._failing = False
                log.info("cluster: Redis answers again", extra=log_fields(redis_url=redact_uris(self.url)))
            if members != self.members:
                log.info("cluster: members changed; work divided again", extra=log_fields(members=list(members)))
                self.members = members
                self.on_members()
        self._set_leading(self.lease.held())
        return wait

    def owns(self, key: str) -> bool:
        """Does this replica run the scrape target or health check ``key`` (work.target_key, check_key)?"""
        return len(self.members) == 1 or owner(key, self.members) == self.id

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        if leading:
            log.info("cluster: this replica leads", extra=log_fields(replica=self.id, token=self.lease.token))
        else:
            log.info("cluster: this replica stopped leading", extra=log_fields(replica=self.id))
        self.on_leading(leading)

    def _entry(self) -> dict[str, Any]:
        return {"id": self.id, "address": self.address, "startedAt": rfc3339(self.started_at),
                "lastSeen": rfc3339(self.now())}

    async def replicas(self) -> list[dict[str, Any]]:
        """Live replicas (their heartbeat has not expired), by id."""
        keys = [key async for key in self.client.scan_iter(match=REPLICA_PREFIX + "*", count=100)]
        values = await self.client.mget(keys) if keys else []
        out = []
        for value in values:
            with contextlib.suppress(ValueError, TypeError):
                entry = json.loads(value)
                if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                    out.append(entry)
        return sorted(out, key=lambda e: e["id"])

    async def view(self, keys: Iterable[str]) -> dict[str, Any]:
        """``GET /api/cluster``'s answer (ClusterUnavailable when Redis does not answer). ``assignments``
        divides ``keys`` as this replica acts on them: by the members of its last step."""
        import redis
        try:
            return {"self": self.id, "leader": await self.lease.leader(), "replicas": await self.replicas(),
                    "assignments": assignments(keys, self.members)}
        except (redis.RedisError, OSError) as exc:
            raise ClusterUnavailable(f"Redis does not answer: {exc}") from None
