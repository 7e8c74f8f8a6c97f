"""Socket.IO at /socket.io/, so the seed's JavaScript client works as written (README, "Socket.IO").

A thin translation of the /ws protocol: each Socket.IO client gets a ``ws.Session`` (the same
bounded queue, rate budget, snapshots, topic checks and admin-only topics as a /ws client), its
``subscribe``/``unsubscribe``/``ping`` events become /ws messages, and what the session queues is
emitted as Socket.IO events named for their topic. Authentication is the /ws one: the Authenticator
checks the ``auth`` payload's token (or the handshake's Authorization / X-API-Key header) and the
caller needs the viewer role. The python-socketio server is built on the first request, so a server
nobody reaches through Socket.IO never pays for loading it (about 10 MB).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from engine.engine import Engine
from engine.events import Event
from server.auth import AUTHENTICATOR, AuthError, Principal, route_role
from server.errors import ApiError
from server.handlers.ws import MAX_MESSAGE_BYTES, Session
from server.keys import ENGINE

routes = web.RouteTableDef()
PATH = "/socket.io/"
ALIASES = {"alert": "alerts", "notification": "notifications"}
"""The seed's event names used as subscription types."""
EVENT_NAMES = {"system": ("system", "metrics"), "business": ("business", "metrics"),
               "application": ("application", "metrics"), "alerts": ("alert",)}
"""The Socket.IO events a topic's messages are emitted as (any other topic: its own name). The seed's
client subscribes to ``system`` and listens to ``metrics``, so metric topics are emitted as both."""
ROLE = route_role("/ws", "GET")
"""Socket.IO is /ws under another protocol: the role ROUTE_ROLES gives /ws (viewer)."""


class SocketIo:
    """One app's Socket.IO endpoint; the python-socketio server inside is made on first use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._server: Any = None
        self._clients: dict[str, tuple[Session, asyncio.Task[None]]] = {}
        self._expiries: dict[str, asyncio.Task[None]] = {}

    @property
    def server(self) -> Any:
        if self._server is None:
            import socketio

            # cors_allowed_origins=[]: Origin and CORS are server/guards.py's, as for every route.
            # async_handlers=False: a client's events are handled in order, one at a time, so a
            # client whose output is stalled stops being read instead of piling up handler tasks.
            sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=[], async_handlers=False,
                                       max_http_buffer_size=MAX_MESSAGE_BYTES)
            sio.on("connect", self._connect)
            sio.on("disconnect", self._disconnect)
            sio.on("*", self._event)
            self._server = sio
        return self._server

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        principal = await authenticate(environ["aiohttp.request"], auth)
        session = Session(self.engine, principal)
        self._clients[sid] = (session, asyncio.create_task(self._writer(sid, session)))
        if principal.expires_at is not None:
            self._expiries[sid] = asyncio.create_task(self._expire(sid, principal.expires_at))

    async def _expire(self, sid: str, expires_at: float) -> None:
        """At the token's end (exp plus JWT_LEEWAY) say why and disconnect, as /ws closes with 4001."""
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        error = {"code": "token_expired", "message": "the token has expired: connect with a new one", "details": None}
        await self.server.emit("error", {"type": "error", "error": error}, to=sid)
        await self.server.disconnect(sid)

    async def _disconnect(self, sid: str, *reason: Any) -> None:
        expiry = self._expiries.pop(sid, None)
        if expiry is not None and expiry is not asyncio.current_task():
            expiry.cancel()
        client = self._clients.pop(sid, None)
        if client is not None:
            client[1].cancel()
            client[0].sub.close()

    async def _event(self, event: str, sid: str, *args: Any) -> Any:
        """Every client event. Returns the acknowledgement a client asked for with a callback."""
        client = self._clients.get(sid)
        if client is None:
            return None
        session = client[0]
        if event in ("subscribe", "unsubscribe"):
            data = args[0] if len(args) == 1 else None
            # a payload that names no topics is passed on as is: the session answers invalid_topics
            message = json.dumps({"type": event, "topics": _topics(data)})
        elif event == "ping":
            message = json.dumps({"type": "ping"})
        else:
            message = json.dumps({"type": event})  # Session answers unknown_type, and counts it
        if not await session.handle(message):
            await self.server.disconnect(sid)
            return {"ok": False, "error": session.limit_reason}
        return {"ok": True, "topics": sorted(session.sub.topics)}

    async def _writer(self, sid: str, session: Session) -> None:
        """Emit what the session queues, one event at a time: the next waits until engine.io has
        taken the previous one for sending, so a client that does not read keeps at most one packet
        here and the rest in its session's bounded, coalescing queue."""
        sio = self.server
        while True:
            event = await session.next_event()
            payload = _payload(event)
            for name in _event_names(payload):
                await sio.emit(name, payload, to=sid)
            await self._sent(sid)

    async def _sent(self, sid: str) -> None:
        """Wait until engine.io's writer has taken every packet queued for this client. It reads
        python-engineio's per-socket queue (pinned in pyproject.toml, since this is not its public API;
        tests/integration/test_socket_io.py fails if that changes)."""
        sio = self.server
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        socket = sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        if socket is not None:
            await socket.queue.join()

    async def close(self) -> None:
        """Disconnect every client (server shutdown)."""
        if self._server is None:
            return
        for sid in list(self._clients):
            await self._server.disconnect(sid)
        await self._server.shutdown()


async def authenticate(request: web.Request, auth: Any) -> Principal:
    """The /ws check for a Socket.IO handshake: a token or API key from the client's ``auth`` payload
    (``{token: ...}``), else from the handshake request's headers (Authorization, X-API-Key), through
    the same Authenticator; the caller must hold the viewer role. Refusals reach the client as
    ``connect_error`` with our error object."""
    authenticator = request.app[AUTHENTICATOR]
    credential = auth.get("token") if isinstance(auth, dict) else None
    try:
        if credential is not None and authenticator.enabled:
            principal: Principal | None = await authenticator.verify(str(credential))
        else:
            principal = await authenticator.authenticate(request)
    except AuthError as exc:
        raise _refused(exc.code, exc.message) from None
    if principal is None:
        raise _refused("unauthorized", "Socket.IO needs a bearer token or an API key: io(url, {auth: {token}})",
                       {"required": ROLE})
    if not principal.may(ROLE):
        raise _refused("forbidden", f"the streams need the {ROLE} role; {principal.subject} has {principal.role}",
                       {"required": ROLE, "role": principal.role})
    return principal


def _refused(code: str, message: str, details: Any = None) -> Exception:
    """A refusal the client gets as connect_error: ``err.message``, and our error object as ``err.data``."""
    import socketio

    return socketio.exceptions.ConnectionRefusedError(message, {"code": code, "message": message,
                                                                "details": details})


def _topics(data: Any) -> list[str] | None:
    """The topics of a subscribe payload: ``{type: 'system'}`` as the seed sends it, ``{types: [...]}``,
    ``{topics: [...]}`` as /ws takes them, a name or a list of names; None when it is none of these."""
    if isinstance(data, dict):
        data = data.get("type", data.get("types", data.get("topics")))
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(t, str) for t in data):
        return None
    return [ALIASES.get(t, t) for t in data]


def _payload(event: Event) -> Any:
    """An event as /ws would send it, as an object: updates are built here, while snapshots, errors
    and pongs come from the session already encoded (for this one client)."""
    if event.text is not None:
        return json.loads(event.text)
    return {"type": "update", "topic": event.topic, "ts": event.ts, "data": event.data}


def _event_names(payload: dict[str, Any]) -> tuple[str, ...]:
    if payload["type"] in ("error", "pong"):
        return (payload["type"],)
    topic = payload["topic"]
    return EVENT_NAMES.get(topic, (topic,))


SOCKET_IO = web.AppKey("socket_io", SocketIo)


@routes.get(PATH)
@routes.post(PATH)
async def endpoint(request: web.Request) -> web.StreamResponse:
    """Engine.IO's polling requests and WebSocket upgrade, handed to the python-socketio server."""
    response = await request.app[SOCKET_IO].server.handle_request(request)
    if isinstance(response, web.Response) and response.status >= 400:  # Engine.IO's refusal, in our envelope
        text = response.text.strip().strip('"') if response.body else ""
        raise ApiError(response.status, "invalid_request", f"Engine.IO: {text or response.reason}",
                       {"query": dict(request.query)})
    return response


def install(app: web.Application) -> None:
    """The endpoint's state and its shutdown; the routes are added with the other handlers'."""
    app[SOCKET_IO] = SocketIo(app[ENGINE])

    async def close(app: web.Application) -> None:
        await app[SOCKET_IO].close()
    app.on_shutdown.append(close)
