"""In-process event bus with bounded, coalescing per-subscriber queues."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    topic: str
    ts: float
    data: Any
    text: str | None = None
    """A message already encoded for one subscriber (a snapshot or an error)."""

    def encoded(self, kind: str = "update") -> str:
        """The event as a JSON message, serialised once however many subscribers send it."""
        if self.text is not None:
            return self.text
        cache = self.__dict__.setdefault("_encoded", {})
        text = cache.get(kind)
        if text is None:
            text = cache[kind] = json.dumps({"type": kind, "topic": self.topic, "ts": self.ts, "data": self.data})
        return text


class Subscription:
    """A subscriber's queue. When full, a new event replaces queued events of its topic (the
    newest state wins); only if none is queued does the oldest event go, so a stalled reader
    never blocks the publisher or grows without bound."""

    def __init__(self, bus: EventBus, topics: Iterable[str], maxsize: int) -> None:
        self._bus = bus
        self.topics: set[str] = set(topics)
        self.maxsize = maxsize
        self._queue: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.dropped = 0
        """Events this subscriber will never get: replaced in a full queue or by a newer one of their
        topic when a paced stream sends only the latest state."""

    def put(self, event: Event, force: bool = False) -> None:
        """Queue an event of a subscribed topic (any topic when ``force``)."""
        if not force and event.topic not in self.topics:
            return
        q = self._queue
        if len(q) >= self.maxsize:
            before = len(q)
            kept = [e for e in q if e.topic != event.topic]
            if len(kept) == before:
                kept.pop(0)
            self.dropped += before - len(kept)
            q.clear()
            q.extend(kept)
        q.append(event)
        self._ready.set()

    async def get(self) -> Event:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def pending(self) -> int:
        return len(self._queue)

    def newest(self, event: Event) -> Event:
        """The newest queued update of ``event``'s topic, or ``event`` when none came since; the
        older ones leave the queue (a paced stream sends only the latest state)."""
        same = [e for e in self._queue if e.topic == event.topic and e.text is None]
        if not same:
            return event
        self._queue = deque(e for e in self._queue if e.topic != event.topic or e.text is not None)
        self.dropped += len(same)  # ``event`` and all but the newest queued one are never sent
        return same[-1]

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._subs: list[Subscription] = []
        self.forward: Callable[[str, float, Any], None] | None = None
        """Also called with every event published here: the relay to other replicas (REDIS_URL)."""

    def subscribe(self, topics: Iterable[str] = ()) -> Subscription:
        sub = Subscription(self, topics, self.maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, topic: str, ts: float, data: Any) -> None:
        self.deliver(topic, ts, data)
        if self.forward is not None:
            self.forward(topic, ts, data)

    def deliver(self, topic: str, ts: float, data: Any) -> None:
        """Hand an event to this process's subscribers only (one relayed from another replica)."""
        event = Event(topic, ts, data)
        for sub in self._subs:
            sub.put(event)

    def wants(self, topic: str) -> bool:
        """Is anyone subscribed to this topic? Lets producers skip building unused payloads."""
        return any(topic in sub.topics for sub in self._subs)
