"""Definitions made through the API -- rules, health checks, notification channels, scrape targets --
kept in Redis (REDIS_URL): one source of truth for every replica instead of each data dir's files.

Each kind is one hash, ``metrics-service:shared:<kind>``, mapping an item's id to its JSON document;
kinds that hold credentials are sealed with the secrets key (engine/secretbox.py), so every replica
needs the same ``SECRETS_KEY``. A write is one MULTI that also publishes the kind's name on
``metrics-service:shared:changes``; every other replica then reads that kind again and applies it
(``SharedSync``), and after a lost connection it reads every kind again, so a missed message is never a
lasting difference. While Redis does not answer, each replica keeps serving the copy it read last and
writes raise ``SharedStateUnavailable`` (the API answers 503).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from engine.cluster.pubsub import ChannelListener
from engine.logs import log_fields
from engine.secretbox import SecretBox, SecretsKeyError
from engine.tsdb.backend import StoreError

PREFIX = "metrics-service:shared:"
CHANGES = PREFIX + "changes"
log = logging.getLogger(__name__)
Docs = dict[str, dict[str, Any]]
_PUT = """
local present = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
if (ARGV[4] == 'new' and present) or (ARGV[4] == 'existing' and not present) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1
"""
_DELETE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
"""
Apply = Callable[[Docs], Awaitable[None] | None]


class SharedStateUnavailable(StoreError):
    """Redis does not answer: shared definitions cannot be read or changed right now (503)."""


class SharedDocs:
    """One kind's documents in Redis. Blocking (redis-py): owners call it from their worker threads."""

    def __init__(self, client: Any, kind: str, origin: str, box: SecretBox | None) -> None:
        """``box``: seals every document (kinds holding credentials); None stores plain JSON."""
        self.client = client
        self.kind = kind
        self.key = PREFIX + kind
        self.origin = origin
        self.box = box
        self._put = client.register_script(_PUT)
        self._delete = client.register_script(_DELETE)

    def _call(self, job: Callable[[], Any]) -> Any:
        import redis
        try:
            return job()
        except (redis.RedisError, OSError) as exc:
            raise SharedStateUnavailable(f"shared {self.kind} in Redis cannot be reached: {exc}") from None

    def load(self) -> Docs:
        """Every document of the kind, by id; an unreadable one is logged and left out."""
        out: Docs = {}
        for raw_id, raw in self._call(lambda: self.client.hgetall(self.key)).items():
            item_id = raw_id.decode()
            try:
                text = raw.decode()
                doc = json.loads(self.box.open(text, f"shared {self.kind} {item_id!r} in Redis")
                                 if self.box is not None else text)
                if not isinstance(doc, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, SecretsKeyError) as exc:
                log.warning("unreadable shared definition skipped",
                            extra=log_fields(kind=self.kind, id=item_id, error=str(exc)))
                continue
            out[item_id] = doc
        return out

    def put(self, item_id: str, doc: dict[str, Any], only: str = "") -> bool:
        """Write one document and tell the other replicas, in one script. ``only``: ``new`` writes
        it only if no other replica made one with this id meanwhile, ``existing`` only if none
        deleted it meanwhile; False when it was not written for that reason."""
        text = json.dumps(doc, ensure_ascii=False)
        value = self.box.seal(text) if self.box is not None else text
        return bool(self._call(lambda: self._put(keys=[self.key, CHANGES], args=[item_id, value, self._notice(),
                                                                                    only])))

    def delete(self, item_id: str) -> bool:
        """Delete one document and tell the other replicas; False when there was none."""
        return bool(self._call(lambda: self._delete(keys=[self.key, CHANGES], args=[item_id, self._notice()])))

    def _notice(self) -> str:
        return json.dumps({"origin": self.origin, "kind": self.kind})


class SharedState:
    """The shared kinds of one replica and the listener that applies the other replicas' changes."""

    def __init__(self, url: str, origin: str, box: SecretBox) -> None:
        import redis  # loaded only when REDIS_URL is set
        import redis.asyncio as aioredis
        self.origin = origin
        self.box = box
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._async = aioredis.from_url(url, socket_connect_timeout=2)
        self.listener = ChannelListener(self._async, CHANGES, self._changed, self._refresh_all,
                                        "shared definitions", url)
        self._kinds: dict[str, tuple[SharedDocs, Apply]] = {}
        self._asked: dict[str, int] = {}
        self._read: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def docs(self, kind: str, *, sealed: bool) -> SharedDocs:
        """The collection of one kind (``sealed``: it holds credentials)."""
        return SharedDocs(self.client, kind, self.origin, self.box if sealed else None)

    def watch(self, docs: SharedDocs, apply: Apply) -> None:
        """``apply(documents)`` (a function or coroutine function) after another replica changed the kind."""
        self._kinds[docs.kind] = (docs, apply)
        self._asked[docs.kind] = self._read[docs.kind] = 0
        self._locks[docs.kind] = asyncio.Lock()

    async def start(self) -> None:
        """Listen, and return once listening (or after a few seconds if Redis does not answer)."""
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
        pending = list(self._pending)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._async.aclose()
        self.client.close()

    def _refresh_all(self) -> None:
        """Subscribed (again): read every kind, for what changed while we were not listening."""
        for kind in self._kinds:
            self._refresh_soon(kind)

    def _changed(self, data: bytes | str) -> None:
        try:
            change = json.loads(data)
            origin, kind = change["origin"], change["kind"]
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("unreadable shared change skipped: %s", exc)
            return
        if origin != self.origin and kind in self._kinds:
            self._refresh_soon(kind)

    def _refresh_soon(self, kind: str) -> None:
        self._asked[kind] += 1
        task = asyncio.get_running_loop().create_task(self._refresh(kind, self._asked[kind]))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _refresh(self, kind: str, asked: int) -> None:
        """Read the kind and apply it, once for every change announced before the read started."""
        docs, apply = self._kinds[kind]
        async with self._locks[kind]:
            if self._read[kind] >= asked:
                return  # a read that started after this change was announced has applied it
            self._read[kind] = self._asked[kind]
            try:
                found = await asyncio.to_thread(docs.load)
                done = apply(found)
                if inspect.isawaitable(done):
                    await done
            except SharedStateUnavailable as exc:
                log.warning("shared definitions not read", extra=log_fields(kind=kind, error=str(exc)))
                self._read[kind] = 0  # read again at the next change or reconnection
            except Exception:
                log.exception("applying shared definitions failed", extra=log_fields(kind=kind))
