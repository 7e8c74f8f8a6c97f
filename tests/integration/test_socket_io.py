"""Socket.IO at /socket.io/ over a real socket with python-socketio's own client: the seed's example
(subscribe {type: 'system'}, listen to 'metrics' and 'alert'), unsubscribe, authentication through
the /ws Authenticator, the Host/Origin guards, and a client that stops reading."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from typing import Any

import aiohttp
import pytest
import socketio

from server.auth.tokens import create_token
from server.handlers.socket_io import SOCKET_IO
from server.runner import start_server
from tests.integration.conftest import make_settings
from tests.integration.receivers import first_match

SECRET = "socket-io-secret-" + "0" * 32
EVENTS = ("system", "metrics", "alert", "health", "business", "error", "pong", "connect_error")


class Listener:
    """A python-socketio AsyncClient recording every event it receives, by name."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, list[Any]] = defaultdict(list)
        self._changed = asyncio.Event()
        for name in EVENTS:
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            self.events[name].append(data)
            self._changed.set()
        return record

    async def next(self, name: str, match: Any = lambda d: True, after: int = 0, timeout: float = 20.0) -> Any:
        """The first ``name`` event from index ``after`` on that matches, waiting for it."""
        return await first_match(lambda: self.events[name][after:], match, self._changed, timeout)


@pytest.fixture
async def listeners():
    made: list[Listener] = []

    async def connect(url: str, **kwargs: Any) -> Listener:
        listener = Listener()
        made.append(listener)
        await listener.client.connect(url, wait_timeout=20, **kwargs)
        return listener
    yield connect
    for listener in made:
        await listener.client.disconnect()


async def refusal(url: str, **kwargs: Any) -> Any:
    """What the server said when it refused a connection: the error object of the client's connect_error."""
    listener = Listener()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await listener.client.connect(url, wait_timeout=20, **kwargs)
    refused = await listener.next("connect_error")
    assert refused["message"] == refused["data"]["message"]
    return refused["data"]


async def test_the_seeds_example_subscribes_to_system_and_gets_metrics(server, listeners):
    client = await listeners(server.url)  # io('http://HOST:3000'): polling first, then the WebSocket upgrade
    await client.client.emit("subscribe", {"type": "system"})
    snapshot = await client.next("system")
    assert snapshot["type"] == "snapshot" and snapshot["topic"] == "system"
    assert snapshot["data"]["memory"]["total_bytes"] > 0
    update = await client.next("metrics", lambda d: d["type"] == "update" and d["topic"] == "system")
    assert "cpu" in update["data"] and update["ts"] >= snapshot["ts"]
    assert client.client.transport() == "websocket"


async def test_unsubscribe_stops_a_topic_and_acks_say_what_is_subscribed(server, listeners):
    client = await listeners(server.url, transports=["websocket"])
    assert await client.client.call("subscribe", {"types": ["system", "metrics"]}, timeout=20) == \
        {"ok": True, "topics": ["metrics", "system"]}
    await client.next("metrics", lambda d: d["type"] == "update" and d["topic"] == "system")
    assert await client.client.call("unsubscribe", {"type": "system"}, timeout=20) == \
        {"ok": True, "topics": ["metrics"]}
    seen = len(client.events["metrics"])
    # each collection publishes system before metrics: two summaries later, a system update would be here
    first = await client.next("metrics", lambda d: d["type"] == "update" and d["topic"] == "metrics", after=seen)
    await client.next("metrics", lambda d: d["type"] == "update" and d["topic"] == "metrics" and d is not first,
                      after=seen)
    system_after = [d for d in client.events["metrics"][seen:] if d["topic"] == "system"]
    assert len(system_after) <= 1  # at most the one the server queued before the unsubscribe was read
    assert all(d["ts"] <= first["ts"] for d in system_after)


async def test_alert_events_arrive_as_the_rule_fires(tmp_path, listeners):
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups:\n- name: sio\n  interval: 1s\n  rules:\n"
                     "  - alert: BookingQueueStuck\n    expr: vector(1)\n    labels: {severity: critical}\n")
    running = await start_server(make_settings(tmp_path, rules_files=str(rules)), collect_system=False)
    try:
        client = await listeners(running.url)
        await client.client.emit("subscribe", {"type": "alert"})
        snapshot = await client.next("alert")
        assert snapshot["type"] == "snapshot" and "alerts" in snapshot["data"]
        fired = await client.next("alert", lambda d: d["type"] == "update" and d["data"]["event"] == "firing")
        assert fired["data"]["alert"]["labels"]["alertname"] == "BookingQueueStuck"
        assert fired["data"]["alert"]["state"] == "firing"
    finally:
        await running.stop()


async def test_bad_payloads_and_unknown_events_get_error_events_and_the_connection_stays(server, listeners):
    client = await listeners(server.url, transports=["websocket"])
    await client.client.emit("subscribe", {"type": "weather"})
    error = await client.next("error")
    assert error["error"]["code"] == "unknown_topic" and "system" in error["error"]["details"]["allowed"]
    await client.client.emit("subscribe", {"type": 42})
    assert (await client.next("error", after=1))["error"]["code"] == "invalid_topics"
    await client.client.emit("launch", {})
    assert (await client.next("error", after=2))["error"]["code"] == "unknown_type"
    await client.client.emit("ping")
    assert (await client.next("pong"))["type"] == "pong"
    assert client.client.connected


async def test_a_flooding_client_is_disconnected_and_others_keep_their_stream(tmp_path, listeners):
    running = await start_server(make_settings(tmp_path, ws_max_messages_per_second=5), collect_system=False)
    try:
        calm = await listeners(running.url, transports=["websocket"])
        await calm.client.emit("subscribe", {"type": "health"})
        flood = await listeners(running.url, transports=["websocket"])
        gone = asyncio.Event()
        flood.client.on("disconnect", lambda *reason: gone.set())
        for _ in range(50):
            if not flood.client.connected:
                break
            await flood.client.emit("ping")
        await asyncio.wait_for(gone.wait(), 20)
        assert len(flood.events["pong"]) < 50
        await calm.client.emit("ping")
        assert (await calm.next("pong"))["type"] == "pong" and calm.client.connected
    finally:
        await running.stop()


async def test_connecting_goes_through_the_ws_authentication(tmp_path, listeners):
    settings = make_settings(tmp_path, auth_enabled="true", jwt_secret=SECRET)
    running = await start_server(settings, collect_system=False)
    try:
        assert (await refusal(running.url))["code"] == "unauthorized"
        forged = create_token(settings, "eve", "admin", 60, time.time())[:-4] + "AAAA"
        assert (await refusal(running.url, auth={"token": forged}))["code"] == "invalid_credentials"
        ingest = create_token(settings, "booking-svc", "ingest", 3600, time.time())
        refused = await refusal(running.url, auth={"token": ingest})
        assert refused["code"] == "forbidden" and refused["details"] == {"required": "viewer", "role": "ingest"}
        viewer = create_token(settings, "alice", "viewer", 3600, time.time())
        client = await listeners(running.url, auth={"token": viewer})
        await client.client.emit("subscribe", {"types": ["health", "audit"]})
        assert (await client.next("health"))["type"] == "snapshot"
        assert (await client.next("error"))["error"]["code"] == "forbidden_topic"  # audit is for admins
        by_header = await listeners(running.url, headers={"Authorization": f"Bearer {viewer}"})
        assert by_header.client.connected
    finally:
        await running.stop()


async def test_a_client_is_disconnected_when_its_token_expires(tmp_path, listeners):
    settings = make_settings(tmp_path, auth_enabled="true", jwt_secret=SECRET, jwt_leeway="1s")
    running = await start_server(settings, collect_system=False)
    try:
        client = await listeners(running.url, transports=["websocket"],
                                 auth={"token": create_token(settings, "alice", "viewer", 2, time.time())})
        gone = asyncio.Event()
        client.client.on("disconnect", lambda *reason: gone.set())
        await client.client.emit("ping")
        assert (await client.next("pong"))["type"] == "pong"
        await asyncio.wait_for(gone.wait(), 20)
        assert client.events["error"][-1]["error"]["code"] == "token_expired"
    finally:
        await running.stop()


@pytest.mark.parametrize(("headers", "status"), [({"Origin": "http://evil.example"}, 403),
                                                 ({"Host": "rebound.example"}, 421)])
async def test_host_and_origin_guards_apply(server, listeners, headers, status):
    with pytest.raises(socketio.exceptions.ConnectionError):
        await listeners(server.url, headers=headers)
    async with aiohttp.ClientSession() as session, \
            session.get(f"{server.url}/socket.io/", params={"EIO": "4", "transport": "polling"},
                        headers=headers) as r:
        assert r.status == status
        assert (await r.json())["error"]["code"] in ("origin_not_allowed", "host_not_allowed")


async def test_engine_io_refusals_use_the_error_envelope(server):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/socket.io/") as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_request"
        async with session.post(f"{server.url}/socket.io/", params={"EIO": "4", "transport": "polling",
                                                                    "sid": "nope"},
                                data="40", headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_request"


async def test_a_client_that_stops_reading_holds_one_packet_and_a_bounded_queue(server, listeners):
    bus = server.engine.bus
    payload = "x" * 200_000
    healthy = await listeners(server.url, transports=["websocket"])
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket") as stalled:
        assert (await stalled.receive_str(timeout=10)).startswith("0{")  # Engine.IO open
        await stalled.send_str("40")  # Socket.IO connect
        assert (await stalled.receive_str(timeout=10)).startswith("40{")
        await stalled.send_str(json.dumps(["subscribe", {"type": "metrics"}]).join(("42", "")))
        assert '"snapshot"' in await stalled.receive_str(timeout=10)
        await healthy.client.emit("subscribe", {"type": "metrics"})
        await healthy.next("metrics")
        for i in range(300):
            bus.publish("metrics", float(i), {"i": i, "pad": payload})
            if i % 20 == 0:
                await asyncio.sleep(0)  # let the server's writers run between bursts
        await healthy.next("metrics", lambda d: d["type"] == "update" and d["data"].get("i") == 299, timeout=60)
        assert all(sub.pending() <= bus.maxsize for sub in bus._subs)
        assert any(sub.dropped > 0 for sub in bus._subs)  # the stalled client's queue coalesced
        sockets = server.runner.app[SOCKET_IO].server.eio.sockets.values()
        assert max(s.queue.qsize() for s in sockets) <= 2  # engine.io holds a packet or two, not 300
