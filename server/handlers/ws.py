"""GET /ws: a WebSocket stream of engine events (protocol in README, "Live stream")."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from engine.engine import Engine
from engine.events import Event, Subscription
from engine.promql.errors import QueryError
from server.auth import Principal, principal_of
from server.bodies import BodyError, parse_json
from server.keys import ENGINE

routes = web.RouteTableDef()
OPEN_SOCKETS = web.AppKey("open_sockets", set)

HEARTBEAT_S = 20.0
ADMIN_TOPICS = frozenset({"audit"})
"""Topics only an admin may subscribe to."""
MAX_MESSAGE_BYTES = 64 * 1024
"""A subscribe message needs a few hundred bytes; bigger ones are closed by aiohttp with 1009."""
CLOSE_EXPIRED = 4001
"""Close code (private range) of a socket whose token has expired: reconnect with a new one."""


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up: the average a client may spend, plus a short burst."""

    def __init__(self, rate: float, burst: float, now: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._now = now
        self._stamp = now()

    def take(self, n: float = 1.0) -> bool:
        """Spend ``n`` tokens if there are that many; False (nothing spent) otherwise."""
        now = self._now()
        self.tokens = min(self.burst, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True


class Session:
    """One client: a reader for its requests and a writer draining its own bounded queue.

    Each message spends one token of the client's bucket and each snapshot one more (snapshots are
    the expensive part), so neither a message storm nor a subscribe storm outruns
    WS_MAX_MESSAGES_PER_SECOND; a client that runs out is closed with 1008."""

    def __init__(self, engine: Engine, principal: Principal | None) -> None:
        self.engine = engine
        self.principal = principal
        rate = engine.settings.ws_max_messages_per_second
        self.bucket = TokenBucket(rate, burst=max(rate, 1 + len(engine.TOPICS)))  # a full subscribe fits
        self.sub: Subscription = engine.subscribe()
        self.interval = engine.settings.websocket_broadcast_interval
        self._sent_at: dict[str, float] = {}

    def reply(self, text: str, topic: str = "") -> None:
        """Queue a message for this client only, in order with its events."""
        self.sub.put(Event(topic, 0.0, None, text), force=True)

    def error(self, code: str, message: str, details: Any = None) -> None:
        self.reply(json.dumps({"type": "error", "error": {"code": code, "message": message, "details": details}}))

    @property
    def limit_reason(self) -> str:
        return f"over {self.bucket.rate:g} messages per second"

    async def handle(self, data: str | bytes) -> bool:
        """Answer one client message; False when the client is over its rate (the caller closes it)."""
        if not self.bucket.take():
            return False
        if not isinstance(data, str):
            self.error("invalid_message", "binary messages are not supported")
            return True
        try:
            msg = parse_json(data.encode("utf-8", "surrogatepass"))
        except BodyError as exc:
            self.error(exc.code, f"message: {exc.message}", exc.details)
            return True
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self.error("invalid_message", 'expected an object with a "type" field')
            return True
        kind = msg["type"]
        if kind == "ping":
            self.reply(json.dumps({"type": "pong", "ts": self.engine.clock.now()}))
            return True
        if kind not in ("subscribe", "unsubscribe"):
            self.error("unknown_type", f"unknown message type {kind!r}",
                       {"allowed": ["subscribe", "unsubscribe", "ping"]})
            return True
        topics = msg.get("topics")
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            self.error("invalid_topics", '"topics" must be a list of strings')
            return True
        unknown = [t for t in topics if t not in self.engine.TOPICS]
        if unknown:
            self.error("unknown_topic", f"unknown topic(s): {', '.join(unknown)}",
                       {"allowed": list(self.engine.TOPICS)})
        known = [t for t in dict.fromkeys(topics) if t in self.engine.TOPICS]
        if self.principal is None or not self.principal.may("admin"):
            forbidden = [t for t in known if t in ADMIN_TOPICS]
            if forbidden and kind == "subscribe":
                self.error("forbidden_topic", f"topic(s) {', '.join(forbidden)} need the admin role",
                           {"topics": forbidden})
            known = [t for t in known if t not in ADMIN_TOPICS]
        if kind == "unsubscribe":
            self.sub.topics -= set(known)
            return True
        if not self.bucket.take(len(known)):
            return False
        now = self.engine.clock.now()
        for topic in known:
            self.sub.topics.add(topic)
            try:
                data = await self.engine.snapshot(topic)
            except QueryError as exc:  # a view's queries over QUERY_TIMEOUT or QUERY_MAX_SAMPLES
                self.error(f"query_{exc.error_type}", f"{topic}: {exc.message}", {"topic": topic})
                continue
            self.reply(Event(topic, now, data).encoded("snapshot"), topic)
        return True

    async def next_event(self) -> Event:
        """The next message to send. With WEBSOCKET_BROADCAST_INTERVAL, an update of a topic sent
        less than the interval ago waits out the rest of it and goes as the newest state by then."""
        event = await self.sub.get()
        if self.interval and event.text is None:
            wait = self._sent_at.get(event.topic, -self.interval) + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                event = self.sub.newest(event)
            self._sent_at[event.topic] = time.monotonic()
        return event

    async def writer(self, ws: web.WebSocketResponse) -> None:
        while True:
            event = await self.next_event()
            await ws.send_str(event.encoded())


@routes.get("/ws")
async def stream(request: web.Request) -> web.WebSocketResponse:
    engine: Engine = request.app[ENGINE]
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    session = Session(engine, principal_of(request))
    writer = asyncio.create_task(session.writer(ws))
    sockets = request.app[OPEN_SOCKETS]
    sockets.add(ws)
    expires_at = session.principal.expires_at if session.principal is not None else None
    try:
        # The token's end, set once at connect: a socket must not outlive what the REST API refuses.
        async with asyncio.timeout(None if expires_at is None else max(0.0, expires_at - time.time())) as expiry:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) and not await session.handle(msg.data):
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=session.limit_reason.encode())
                    break
    except TimeoutError:
        if not expiry.expired():
            raise
        await ws.close(code=CLOSE_EXPIRED, message=b"token expired")
    finally:
        sockets.discard(ws)
        writer.cancel()
        session.sub.close()
    return ws


async def close_streams(app: web.Application) -> None:
    """On shutdown, tell stream clients the server is going away instead of waiting for them."""
    for ws in list(app.get(OPEN_SOCKETS, ())):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
