"""Replicas sharing a real redis-server: one leader evaluates, another takes over after SIGKILL, and a
paused leader (SIGSTOP) does no leader's work once its lease is gone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import aiohttp

from tests.integration.receivers import Recorder
from tests.integration.replicas import Replica, until


async def test_alone_the_process_is_the_whole_cluster(client):
    view = (await client.get("/api/cluster")).json()
    assert view["leader"] == view["self"]
    assert [r["id"] for r in view["replicas"]] == [view["self"]]
    assert view["assignments"] == {}


async def agreed(members: list[Replica]) -> str | None:
    """The leader every member names, once all of them list exactly these members."""
    views = [await m.cluster() for m in members]
    ids = sorted(m.id for m in members)
    if all(v["leader"] == views[0]["leader"] and sorted(r["id"] for r in v["replicas"]) == ids for v in views):
        return views[0]["leader"]
    return None


async def test_one_leader_evaluates_and_another_takes_over_after_sigkill(replicas):
    members = [replicas(name) for name in ("a", "b", "c")]
    leader_id = await until(lambda: agreed(members), "three replicas agreeing on a leader")
    leader = next(m for m in members if m.id == leader_id)
    followers = [m for m in members if m is not leader]
    await until(leader.last_evaluation, "the leader evaluating")
    for follower in followers:
        assert await follower.last_evaluation() is None, "a follower evaluated a rule"
    view = await leader.cluster()
    assert {r["address"] for r in view["replicas"]} == {m.url for m in members}

    leader.stop()  # SIGKILL: no release of the lease
    new_id = await until(lambda: _agreed_other(followers, leader_id), "the survivors agreeing on a new leader")
    new_leader = next(m for m in followers if m.id == new_id)
    await until(new_leader.last_evaluation, "the new leader evaluating")
    other = next(m for m in followers if m is not new_leader)
    assert await other.last_evaluation() is None, "the remaining follower evaluated a rule"


async def test_a_paused_leader_stands_down_without_evaluating(replicas):
    members = [replicas(name) for name in ("a", "b")]
    leader_id = await until(lambda: agreed(members), "two replicas agreeing on a leader")
    paused = next(m for m in members if m.id == leader_id)
    other = next(m for m in members if m is not paused)
    await until(paused.last_evaluation, "the leader evaluating")

    os.kill(paused.proc.pid, signal.SIGSTOP)
    stopped_at = time.time()
    await until(lambda: _leads(other), "the other replica taking over")
    await until(other.last_evaluation, "the new leader evaluating")
    os.kill(paused.proc.pid, signal.SIGCONT)
    resumed_at = time.time()

    await until(lambda: _names_leader(paused, other.id), "the resumed replica naming the new leader")
    # the new leader keeps evaluating (two more turns) while the resumed one, if it were still
    # acting on its old term, would have evaluated on its first scheduled turn after resuming
    await until(lambda: _evaluated_after(other, resumed_at + 2), "the new leader evaluating after the resume")
    last = await paused.last_evaluation()
    assert last is not None and last < stopped_at, "the paused leader evaluated after its lease was gone"


async def test_an_acknowledgement_on_one_replica_reaches_every_replica_and_its_stream(replicas):
    members = [replicas(name) for name in ("a", "b", "c")]
    leader_id = await until(lambda: agreed(members), "three replicas agreeing on a leader")
    acker, watcher = [m for m in members if m.id != leader_id]
    alert = await until(acker.firing, "the leader's alert listed by a follower")
    assert (await watcher.firing())["id"] == alert["id"]
    async with aiohttp.ClientSession() as session, session.ws_connect(watcher.url + "/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["alerts"]})
        assert (await ws.receive_json(timeout=30))["type"] == "snapshot"
        async with session.post(f"{acker.url}/api/alerts/{alert['id']}/acknowledge", json={"comment": "mine"}) as r:
            assert r.status == 200, await r.text()

        async def acknowledged() -> dict:
            while True:
                message = await ws.receive_json()
                data = message.get("data") or {}
                if message["type"] == "update" and data.get("event") == "acknowledged":
                    return data
        event = await asyncio.wait_for(acknowledged(), 30)
    assert event["alert"]["id"] == alert["id"] and event["alert"]["acknowledgement"]["comment"] == "mine"
    for member in members:
        seen = await member.get(f"/api/alerts/{alert['id']}")
        assert seen["alert"]["acknowledgement"]["comment"] == "mine", member.id


async def test_the_new_leader_carries_on_the_alert_without_notifying_it_again(replicas, redis_server):
    """Once the leader has logged a notification in Redis, the next leader does not send it again.
    (A leader killed between delivering and logging notifies again, at least once as Alertmanager
    does, with the same idempotency key: the kill waits for the log, or the test would race it.)"""
    import redis.asyncio as aioredis

    from engine.cluster.nflog import KEY

    log = aioredis.from_url(f"redis://127.0.0.1:{redis_server[1]}/0")

    async def logged() -> bool:
        return any(json.loads(v)[0] for v in (await log.hgetall(KEY)).values())

    hook = await Recorder().start()
    try:
        notify = {"NOTIFICATIONS": "{channels: [{name: hook, type: webhook, url: '" + hook.url + "'}], "
                                   "route: {receiver: hook, group_by: ['...'], group_wait: 0s, group_interval: 1s}}"}
        members = [replicas(name, **notify) for name in ("a", "b")]
        leader_id = await until(lambda: agreed(members), "two replicas agreeing on a leader")
        leader = next(m for m in members if m.id == leader_id)
        survivor = next(m for m in members if m is not leader)
        await hook.wait_for(1, timeout=60)
        await until(logged, "the leader's notification log in Redis")
        alert = await leader.firing()
        leader.stop()
        killed_at = time.time()
        await until(lambda: _leads(survivor), "the survivor taking over")
        # three seconds of the new leader's evaluations (1 s interval, group_interval 1 s): a second
        # "firing" notification would have been sent by then
        await until(lambda: _evaluated_after(survivor, killed_at + 3), "the new leader evaluating")
        await until(lambda: _notified(survivor), "the new leader's notification log settled")
        carried = await survivor.firing()
        assert carried["id"] == alert["id"], "the new leader started a new alert instance"
        firing = [a for r in hook.accepted for a in r.json()["alerts"] if a["status"] == "firing"]
        assert len(firing) == 1, f"notified {len(firing)} times"
    finally:
        await hook.stop()
        await log.aclose()


async def _notified(replica: Replica) -> bool:
    """The replica's notifier has flushed past its first ticks as leader (its delivery log answers)."""
    return isinstance((await replica.get("/api/notifications"))["notifications"], list)


async def _agreed_other(members: list[Replica], old: str) -> str | None:
    leader = await agreed(members)
    return leader if leader not in (None, old) else None


async def _leads(replica: Replica) -> bool:
    view = await replica.cluster()
    return view["leader"] == view["self"]


async def _names_leader(replica: Replica, leader_id: str) -> bool:
    return (await replica.get("/api/cluster"))["leader"] == leader_id


async def _evaluated_after(replica: Replica, t: float) -> bool:
    last = await replica.last_evaluation()
    return last is not None and last > t


async def test_a_message_whose_handling_fails_does_not_stop_the_listener(redis_server):
    """A bug or an unexpected document in one replica's message must not end the subscription: the
    messages after it still arrive (the listener would otherwise stop for good, silently)."""
    import redis.asyncio as aioredis

    from engine.cluster.pubsub import ChannelListener

    url = f"redis://127.0.0.1:{redis_server[1]}/0"
    received: list[bytes] = []
    arrived = asyncio.Event()

    def receive(data: bytes) -> None:
        if data == b"bad":
            raise KeyError("degradedLatency")
        received.append(data)
        arrived.set()

    client = aioredis.from_url(url)
    listener = ChannelListener(client, "test:channel", receive, lambda: None, "test messages", url)
    await listener.start()
    try:
        await client.publish("test:channel", b"bad")
        await client.publish("test:channel", b"good")
        await asyncio.wait_for(arrived.wait(), 10)
        assert received == [b"good"]
    finally:
        await listener.stop()
        await client.aclose()


class _Proxy:
    """A TCP proxy to Redis that can go deaf: ``cut()`` keeps every open connection but forwards
    nothing more on it (a half-open connection, as after a network partition or a peer gone without
    a reset); connections made after the cut work."""

    def __init__(self, port: int, hold: bytes | None = None) -> None:
        """``hold``: the first bytes to Redis that contain it wait there until ``release()``."""
        self.port = port
        self.cut_before = 0
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.hold = hold
        self.holding = asyncio.Event()
        self.released = asyncio.Event()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.cut_before = self.accepted

    def release(self) -> None:
        self.released.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        number = self.accepted
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if self.hold is not None and self.hold in data and dst is up_writer:
                    self.holding.set()
                    await self.released.wait()
                if number > self.cut_before:
                    dst.write(data)
                    await dst.drain()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer), return_exceptions=True)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


async def test_a_listener_catches_up_only_once_redis_has_taken_its_subscription(redis_server):
    """``subscribed`` (the catch-up, read on another connection) runs after Redis confirmed the
    SUBSCRIBE: before it, a change published in between would be neither caught up nor heard. The
    proxy holds the SUBSCRIBE; the listener's start waits for it (and gives up waiting after
    START_WAIT_S) without having caught up."""
    import redis.asyncio as aioredis

    from engine.cluster.pubsub import ChannelListener

    proxy = _Proxy(redis_server[1], hold=b"SUBSCRIBE")
    url = f"redis://127.0.0.1:{await proxy.start()}/0"
    caught_up: list[bool] = []
    done = asyncio.Event()

    def subscribed() -> None:
        caught_up.append(proxy.released.is_set())
        done.set()

    client = aioredis.from_url(url, socket_connect_timeout=2)
    listener = ChannelListener(client, "test:confirm", lambda data: None, subscribed, "test messages", url)
    try:
        await listener.start()
        assert proxy.holding.is_set() and caught_up == []
        proxy.release()
        await asyncio.wait_for(done.wait(), 10)
        assert caught_up == [True]
    finally:
        await listener.stop()
        await client.aclose()
        await proxy.stop()


async def test_a_listener_on_a_connection_gone_deaf_subscribes_again(redis_server):
    """A connection that stays open but carries nothing (no reset ever comes) is noticed by an
    unanswered ping: the listener connects again, catches up (``subscribed``) and hears what is
    published after. Without the ping it would wait on the dead connection for good."""
    import redis.asyncio as aioredis

    from engine.cluster.pubsub import ChannelListener

    proxy = _Proxy(redis_server[1])
    url = f"redis://127.0.0.1:{await proxy.start()}/0"
    direct = aioredis.from_url(f"redis://127.0.0.1:{redis_server[1]}/0")
    received: list[bytes] = []
    arrived, resubscribed = asyncio.Event(), asyncio.Event()
    subscriptions = 0

    def subscribed() -> None:
        nonlocal subscriptions
        subscriptions += 1
        if subscriptions == 2:
            resubscribed.set()

    def receive(data: bytes) -> None:
        received.append(data)
        arrived.set()

    client = aioredis.from_url(url, socket_connect_timeout=2)
    listener = ChannelListener(client, "test:deaf", receive, subscribed, "test messages", url, ping_s=0.2)
    await listener.start()
    try:
        await direct.publish("test:deaf", b"before")
        await asyncio.wait_for(arrived.wait(), 10)
        proxy.cut()
        arrived.clear()
        await direct.publish("test:deaf", b"lost")  # published to a connection that carries nothing
        await asyncio.wait_for(resubscribed.wait(), 10)
        await direct.publish("test:deaf", b"after")
        await asyncio.wait_for(arrived.wait(), 10)
        assert received == [b"before", b"after"]
    finally:
        await listener.stop()
        await client.aclose()
        await direct.aclose()
        await proxy.stop()
