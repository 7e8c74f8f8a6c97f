"""One Redis pub/sub channel listened to for as long as the replica runs, subscribed again after a lost
connection: what every part that takes the other replicas' changes needs (alerts, shared definitions)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from engine.logs import log_fields
from engine.settings import redact_uris
from engine.tsdb.backend import StoreError

log = logging.getLogger(__name__)
RETRY_S = 1.0
START_WAIT_S = 5.0
PING_S = 5.0
"""A channel quiet this long is pinged; no answer within as long again ends the connection, and the
listener connects and subscribes again. A half-open connection (a peer or network gone without a
reset) or a paused Redis would otherwise keep it waiting for good, deaf to every later message."""


class ChannelListener:
    def __init__(self, client: Any, channel: str, receive: Callable[[bytes], None],
                 subscribed: Callable[[], None], what: str, url: str, ping_s: float = PING_S) -> None:
        """``client``: a redis.asyncio client. ``receive(data)`` for each message; ``subscribed()`` after
        each (re)subscription, to catch up with what was published while not listening. ``what``
        names the messages in the log."""
        self.client = client
        self.channel = channel
        self.receive = receive
        self.subscribed = subscribed
        self.what = what
        self.url = url
        self.ping_s = ping_s
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen, and return once listening (or after START_WAIT_S if Redis does not answer)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"listen {self.channel}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), START_WAIT_S)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _receive(self, data: bytes) -> None:
        """One message; a failure handling it is logged and the next one is listened for (an
        exception here would end the subscription for good)."""
        try:
            self.receive(data)
        except Exception:
            log.exception("%s from another replica not applied", self.what)

    async def _run(self) -> None:
        import redis
        caught_up = True
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await asyncio.wait_for(self._subscribe(pubsub), 2 * self.ping_s)
                    self.subscribed()
                    self._listening.set()
                    if not caught_up:
                        caught_up = True
                        log.info("%s from other replicas received again", self.what)
                    await self._listen(pubsub)
            except (redis.RedisError, OSError, StoreError, TimeoutError) as exc:
                if caught_up:
                    log.warning("%s from other replicas not received: Redis does not answer", self.what,
                                extra=log_fields(redis_url=redact_uris(self.url), error=str(exc)))
                caught_up = False
                await asyncio.sleep(RETRY_S)

    async def _subscribe(self, pubsub: Any) -> None:
        """Subscribe and wait for Redis's confirmation: ``subscribed`` catches up on another connection,
        and before the SUBSCRIBE is taken a change published in between would be neither caught up
        nor heard."""
        await pubsub.subscribe(self.channel)
        while (message := await pubsub.get_message(timeout=None)) is None or message["type"] != "subscribe":
            pass

    async def _listen(self, pubsub: Any) -> None:
        """Messages until the connection goes quiet and does not answer a ping (``PING_S``); anything
        heard (a message, the subscription's confirmation, a pong) shows the connection alive."""
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=self.ping_s)
            if message is not None:
                pinged = False
                if message["type"] == "message":
                    self._receive(message["data"])
            elif pinged:
                raise TimeoutError(f"no answer to a ping for {self.ping_s:g} s")
            else:
                await pubsub.ping()
                pinged = True
