"""GET /ws over a real socket: subscribe, snapshot, live push, bad messages, slow clients."""

from __future__ import annotations

import asyncio
import json

import aiohttp


async def receive(ws, timeout=10.0) -> dict:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def until(ws, predicate, timeout=10.0) -> tuple[dict, list[dict]]:
    """Receive until a message satisfies predicate; return it and what came before."""
    before = []
    while True:
        m = await receive(ws, timeout)
        if predicate(m):
            return m, before
        before.append(m)


async def test_subscribe_gets_a_snapshot_per_topic_then_live_updates(server):
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["system", "metrics"]})
        first, second = await receive(ws), await receive(ws)
        assert {first["topic"], second["topic"]} == {"system", "metrics"}
        assert first["type"] == second["type"] == "snapshot"
        system = first if first["topic"] == "system" else second
        assert system["data"]["memory"]["total_bytes"] > 0
        update, _ = await until(ws, lambda m: m["type"] == "update" and m["topic"] == "system")
        assert update["ts"] >= system["ts"] and "cpu" in update["data"]


async def test_unsubscribe_stops_updates(server):
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["system"]})
        await receive(ws)
        await ws.send_json({"type": "unsubscribe", "topics": ["system"]})
        await ws.send_json({"type": "ping"})
        await until(ws, lambda m: m["type"] == "pong")
        cycle = server.engine.bus.subscribe(["system"])
        await asyncio.wait_for(cycle.get(), 10)  # a collection cycle published after the unsubscribe
        cycle.close()
        await ws.send_json({"type": "ping"})
        _, between = await until(ws, lambda m: m["type"] == "pong")
        assert between == []


async def test_malformed_messages_get_errors_and_the_socket_stays_open(server):
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
        cases = [
            ("not json", "invalid_json"),
            ("[" * 60_000, "invalid_json"),  # json.loads would raise RecursionError and kill the handler
            ("[1, 2]", "invalid_message"),
            ('{"type": "dance"}', "unknown_type"),
            ('{"type": "subscribe", "topics": "system"}', "invalid_topics"),
            ('{"type": "subscribe", "topics": ["gpu"]}', "unknown_topic"),
        ]
        for text, code in cases:
            await ws.send_str(text)
            m = await receive(ws)
            assert m["type"] == "error" and m["error"]["code"] == code, (text, m)
            assert m["error"]["message"]
        await ws.send_bytes(b"\x00\x01")
        assert (await receive(ws))["error"]["code"] == "invalid_message"
        await ws.send_json({"type": "ping"})
        assert (await receive(ws))["type"] == "pong"


async def test_a_stalled_client_does_not_hold_up_others(server):
    bus = server.engine.bus
    payload = "x" * 200_000  # big messages fill the stalled client's socket buffers quickly
    async with aiohttp.ClientSession() as session:
        stalled = await session.ws_connect(server.url + "/ws")
        healthy = await session.ws_connect(server.url + "/ws")
        for ws in (stalled, healthy):
            await ws.send_json({"type": "subscribe", "topics": ["metrics"]})
        await receive(stalled)
        await receive(healthy)
        for i in range(300):
            bus.publish("metrics", float(i), {"i": i, "pad": payload})
            if i % 20 == 0:
                await asyncio.sleep(0)  # let the server's writers run between bursts
        seen, _ = await until(healthy, lambda m: m["type"] == "update" and m["data"]["i"] == 299, timeout=30)
        assert seen["data"]["i"] == 299
        assert all(sub.pending() <= bus.maxsize for sub in bus._subs)
        assert any(sub.dropped > 0 for sub in bus._subs)  # the stalled one coalesced
        await stalled.close()
        await healthy.close()


async def test_stopping_the_server_closes_streams_as_going_away(tmp_path):
    from server.runner import start_server
    from tests.integration.conftest import make_settings

    server = await start_server(make_settings(tmp_path), collect_system=False, start_schedules=False)
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["metrics"]})
        await receive(ws)
        stopping = asyncio.create_task(server.stop())
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.GOING_AWAY
        await asyncio.wait_for(stopping, 10)


async def closing(ws, timeout=30.0) -> tuple[aiohttp.WSMessage, list[dict]]:
    """Receive until the server closes the socket; return the close message and what came before."""
    before = []
    async with asyncio.timeout(timeout):  # an open socket keeps getting updates: bound the whole wait
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return msg, before
            before.append(json.loads(msg.data))


async def test_a_flooding_client_is_closed_while_others_keep_their_updates(tmp_path):
    from server.runner import start_server
    from tests.integration.conftest import make_settings

    server = await start_server(make_settings(tmp_path, ws_max_messages_per_second=10))
    try:
        async with aiohttp.ClientSession() as session:
            healthy = await session.ws_connect(server.url + "/ws")
            await healthy.send_json({"type": "subscribe", "topics": ["metrics"]})
            assert (await receive(healthy))["type"] == "snapshot"
            flooder = await session.ws_connect(server.url + "/ws")
            storm = json.dumps({"type": "subscribe", "topics": ["system", "metrics", "alerts"]})
            for _ in range(300):
                await flooder.send_str(storm)
            close, before = await closing(flooder)
            assert close.type == aiohttp.WSMsgType.CLOSE
            assert close.data == aiohttp.WSCloseCode.POLICY_VIOLATION and "per second" in close.extra
            assert len([m for m in before if m["type"] == "snapshot"]) < 300
            last_ts = 0.0
            for _ in range(3):  # the well-behaved client keeps getting each collection cycle
                update, _ = await until(healthy, lambda m, after=last_ts: m["type"] == "update" and m["ts"] > after)
                last_ts = update["ts"]
            await healthy.send_json({"type": "ping"})
            await until(healthy, lambda m: m["type"] == "pong")
            await healthy.close()
    finally:
        await server.stop()


async def test_an_oversized_message_closes_the_socket_as_too_big(server):
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
        await ws.send_str(json.dumps({"type": "subscribe", "topics": ["system"] * 20_000}))
        close, before = await closing(ws)
        assert close.type == aiohttp.WSMsgType.CLOSE and close.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        assert before == []


async def test_snapshots_spend_the_message_budget(tmp_path):
    from server.runner import start_server
    from tests.integration.conftest import make_settings

    server = await start_server(make_settings(tmp_path, ws_max_messages_per_second=1), start_schedules=False)
    try:
        async with aiohttp.ClientSession() as session:
            pinger = await session.ws_connect(server.url + "/ws")
            for _ in range(4):  # the burst: one message for each topic's snapshot plus one
                await pinger.send_json({"type": "ping"})
            for _ in range(4):
                assert (await receive(pinger))["type"] == "pong"
            subscriber = await session.ws_connect(server.url + "/ws")
            topics = list(server.engine.TOPICS)
            for _ in range(2):  # two messages, but a snapshot per topic each: over the burst (1 + topics)
                await subscriber.send_json({"type": "subscribe", "topics": topics})
            close, before = await closing(subscriber)
            assert close.data == aiohttp.WSCloseCode.POLICY_VIOLATION
            assert len(before) <= len(topics)
            await pinger.close()
    finally:
        await server.stop()


async def test_a_socket_is_closed_when_its_token_expires_and_an_api_key_socket_stays(tmp_path):
    import time

    import jwt

    from server.auth.apikeys import add_key
    from server.auth.tokens import create_token
    from server.runner import start_server
    from tests.integration.conftest import make_settings

    settings = make_settings(tmp_path, auth_enabled="true", jwt_secret="s" * 40, jwt_leeway="1s",
                             api_keys_file=str(tmp_path / "keys.json"))
    key = add_key(settings.api_keys_file, "console", "viewer", "t")
    server = await start_server(settings, collect_system=False, start_schedules=False)
    token = create_token(settings, "alice", "viewer", 2, time.time())
    refused_from = jwt.decode(token, options={"verify_signature": False})["exp"] + 1  # exp plus JWT_LEEWAY
    try:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(server.url + f"/ws?access_token={token}") as ws, \
                session.ws_connect(server.url + "/ws", headers={"X-API-Key": key}) as keyed:
            await ws.send_json({"type": "ping"})
            assert (await receive(ws))["type"] == "pong"
            msg, _ = await closing(ws)
            assert msg.type == aiohttp.WSMsgType.CLOSE and (msg.data, msg.extra) == (4001, "token expired")
            assert time.time() >= refused_from  # not while the REST API still takes the token
            await keyed.send_json({"type": "ping"})
            assert (await receive(keyed))["type"] == "pong"  # an API key does not expire
    finally:
        await server.stop()
