"""GET /ws: a WebSocket stream of engine events (protocol in README, "Live stream")."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from engine.engine import Engine
from engine.events import Event, Subscription
from server.keys import ENGINE

routes = web.RouteTableDef()
OPEN_SOCKETS = web.AppKey("open_sockets", set)

HEARTBEAT_S = 20.0


class Session:
    """One client: a reader for its requests and a writer draining its own bounded queue."""

    def __init__(self, engine: Engine, ws: web.WebSocketResponse) -> None:
        self.engine = engine
        self.ws = ws
        self.sub: Subscription = engine.bus.subscribe(())

    def reply(self, text: str, topic: str = "") -> None:
        """Queue a message for this client only, in order with its events."""
        self.sub.put(Event(topic, 0.0, None, text), force=True)

    def error(self, code: str, message: str, details: Any = None) -> None:
        self.reply(json.dumps({"type": "error", "error": {"code": code, "message": message, "details": details}}))

    def handle(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError as exc:
            self.error("invalid_json", f"message is not JSON: {exc}")
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self.error("invalid_message", 'expected an object with a "type" field')
            return
        kind = msg["type"]
        if kind == "ping":
            self.reply(json.dumps({"type": "pong", "ts": self.engine.clock.now()}))
            return
        if kind not in ("subscribe", "unsubscribe"):
            self.error("unknown_type", f"unknown message type {kind!r}",
                       {"allowed": ["subscribe", "unsubscribe", "ping"]})
            return
        topics = msg.get("topics")
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            self.error("invalid_topics", '"topics" must be a list of strings')
            return
        unknown = [t for t in topics if t not in self.engine.TOPICS]
        if unknown:
            self.error("unknown_topic", f"unknown topic(s): {', '.join(unknown)}",
                       {"allowed": list(self.engine.TOPICS)})
        known = [t for t in topics if t in self.engine.TOPICS]
        if kind == "unsubscribe":
            self.sub.topics -= set(known)
            return
        now = self.engine.clock.now()
        for topic in known:
            self.sub.topics.add(topic)
            self.reply(Event(topic, now, self.engine.snapshot(topic)).encoded("snapshot"), topic)

    async def writer(self) -> None:
        while True:
            event = await self.sub.get()
            await self.ws.send_str(event.encoded())


@routes.get("/ws")
async def stream(request: web.Request) -> web.WebSocketResponse:
    engine: Engine = request.app[ENGINE]
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=64 * 1024)
    await ws.prepare(request)
    session = Session(engine, ws)
    writer = asyncio.create_task(session.writer())
    sockets = request.app[OPEN_SOCKETS]
    sockets.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                session.handle(msg.data)
            elif msg.type == WSMsgType.BINARY:
                session.error("invalid_message", "binary messages are not supported")
    finally:
        sockets.discard(ws)
        writer.cancel()
        session.sub.close()
    return ws


async def close_streams(app: web.Application) -> None:
    """On shutdown, tell stream clients the server is going away instead of waiting for them."""
    for ws in list(app.get(OPEN_SOCKETS, ())):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
