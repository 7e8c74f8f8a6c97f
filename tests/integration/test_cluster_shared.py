"""API-made rules, health checks, notification channels and scrape targets shared by replicas through a
real redis-server (engine/cluster/shared.py): made on one replica, listed on the others; deleted on
another, gone everywhere; credentials sealed in Redis; writes refused with 503 while Redis is down,
reads still answered from the last copy."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import aiohttp
import httpx
import redis

from tests.integration.conftest import free_port, start_redis
from tests.integration.receivers import Recorder
from tests.integration.replicas import Replica, until

KEY = "x" * 40
SHARED = "metrics-service:shared:"
PROPAGATION_S = 10.0
"""How long a change may take to show on another replica here (the design's figure is well under a
second; the deadline leaves room for a loaded test machine)."""


def definitions(hook: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per kind: the collection's path and a body carrying a credential (rules have none)."""
    return {
        "rules": ("/api/alerts/rules", {"name": "SharedHighCpu", "metricName": "node_load1", "condition": ">",
                                        "threshold": 1000, "severity": "warning"}),
        "checks": ("/api/health/services", {"name": "shared-web", "url": f"{hook}/ok",
                                            "headers": {"Authorization": "Bearer check-s3cret"}}),
        "channels": ("/api/notifications/channels", {"name": "shared-team", "type": "webhook", "url": f"{hook}/t",
                                                     "secret": "channel-s3cret"}),
        "targets": ("/api/targets", {"job": "shared-job", "url": f"{hook}/metrics", "bearerToken": "target-s3cret"}),
    }


async def listed(replica: Replica, kind: str) -> set[str]:
    """The names (ids for targets) of the API-made items of a kind this replica lists."""
    async with httpx.AsyncClient(base_url=replica.url, timeout=5) as client:
        if kind == "rules":
            return {r["id"] for r in (await client.get("/api/alerts/rules")).json()["rules"] if r["editable"]}
        if kind == "checks":
            return {s["name"] for s in (await client.get("/api/health/services")).json()["services"]
                    if s["source"] == "api"}
        if kind == "channels":
            return {c["name"] for c in (await client.get("/api/notifications/channels")).json()["channels"]
                    if c["source"] == "api"}
        return {e["id"] for e in (await client.get("/api/targets")).json()["entries"]}


def item_id(kind: str, answer: dict[str, Any]) -> str:
    return {"rules": lambda: answer["rule"]["id"], "checks": lambda: answer["service"]["name"],
            "channels": lambda: answer["channel"]["name"], "targets": lambda: answer["entry"]["id"]}[kind]()


async def test_definitions_made_on_one_replica_are_listed_on_the_others_and_deleted_everywhere(replicas,
                                                                                               redis_server):
    a, b, c = (replicas(name, SECRETS_KEY=KEY) for name in ("a", "b", "c"))
    for member in (a, b, c):
        await until(member.cluster, f"replica {member.url} answering")
    made = {}
    async with httpx.AsyncClient(base_url=a.url, timeout=10) as client:
        for kind, (path, body) in definitions("http://127.0.0.1:9").items():
            r = await client.post(path, json=body)
            assert r.status_code == 201, (kind, r.text)
            made[kind] = item_id(kind, r.json())
    for kind, made_id in made.items():
        for other in (b, c):
            await until(partial(_has, other, kind, made_id), f"{kind} made on a listed on {other.url}",
                        PROPAGATION_S)

    raw = redis.Redis(port=redis_server[1])
    for kind, secret in (("checks", "check-s3cret"), ("channels", "channel-s3cret"), ("targets", "target-s3cret")):
        stored = raw.hget(SHARED + kind, made[kind])
        assert stored is not None and stored.startswith(b"enc:v1:"), kind
        assert secret.encode() not in stored, f"{kind}: the credential is in Redis in clear"
    assert b"SharedHighCpu" in raw.hget(SHARED + "rules", made["rules"])  # no credential: plain JSON

    async with httpx.AsyncClient(base_url=b.url, timeout=10) as client:
        web = (await client.get("/api/health/services/shared-web")).json()["service"]
        assert web["check"]["headers"] == {"Authorization": "***"}  # b opened the sealed document
        for kind in ("checks", "rules", "channels", "targets"):  # the check first: the rule does not use it
            path = definitions("")[kind][0]
            r = await client.delete(f"{path}/{made[kind]}")
            assert r.status_code in (200, 204), (kind, r.text)
    for kind, made_id in made.items():
        for other in (a, c):
            await until(partial(_lacks, other, kind, made_id), f"{kind} deleted on b gone on {other.url}",
                        PROPAGATION_S)
    for kind in made:
        assert raw.hlen(SHARED + kind) == 0, kind
    raw.close()


async def test_a_name_made_on_two_replicas_at_once_is_made_once_and_the_winner_is_kept(replicas):
    a, b = (replicas(name, SECRETS_KEY=KEY) for name in ("a", "b"))
    for member in (a, b):
        await until(member.cluster, f"replica {member.url} answering")
    async with httpx.AsyncClient(timeout=10) as client:
        for kind in ("checks", "channels"):
            path, body = definitions("http://127.0.0.1:9")[kind]
            answers = await asyncio.gather(*(client.post(m.url + path, json={**body, "url": f"http://127.0.0.1:9/{i}"})
                                             for i, m in enumerate((a, b))))
            assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
            won = next(i for i, r in enumerate(answers) if r.status_code == 201)
            for member in (a, b):
                await until(partial(_has, member, kind, body["name"]), f"{kind} listed on {member.url}", PROPAGATION_S)
            if kind == "checks":
                for member in (a, b):
                    shown = (await client.get(f"{member.url}{path}/{body['name']}")).json()["service"]
                    assert shown["check"]["url"] == f"http://127.0.0.1:9/{won}", member.url


async def test_with_redis_down_writes_answer_503_and_reads_serve_the_last_copy(replicas, redis_server):
    a, b = (replicas(name, SECRETS_KEY=KEY) for name in ("a", "b"))
    for member in (a, b):
        await until(member.cluster, f"replica {member.url} answering")
    bodies = definitions("http://127.0.0.1:9")
    made = {}
    async with httpx.AsyncClient(base_url=a.url, timeout=10) as client:
        for kind in ("checks", "channels"):
            path, body = bodies[kind]
            r = await client.post(path, json=body)
            assert r.status_code == 201, r.text
            made[kind] = item_id(kind, r.json())
    for kind, made_id in made.items():
        await until(partial(_has, b, kind, made_id), f"{kind} listed on b", PROPAGATION_S)

    redis_server[0].kill()
    redis_server[0].wait()
    async with httpx.AsyncClient(base_url=b.url, timeout=30) as client:
        for kind, (path, body) in bodies.items():
            r = await client.post(path, json={**body, "name": f"{body.get('name', 'x')}-2"}
                                  if kind != "targets" else body)
            assert r.status_code == 503, (kind, r.status_code, r.text)
            error = r.json()["error"]
            assert error["code"] == "unavailable" and "Redis" in error["message"] and "details" in error, kind
        r = await client.delete(f"{bodies['channels'][0]}/{made['channels']}")
        assert r.status_code == 503, r.text
        for kind, made_id in made.items():
            assert made_id in await listed(b, kind), f"{kind}: the last copy is no longer served"
        assert (await client.get("/api/alerts/rules")).status_code == 200
        assert (await client.get("/api/targets")).status_code == 200
    # the refused writes were audited; their stream events could not be relayed and are counted
    await until(partial(_relay_dropped, b), "b counting the stream events it could not relay", PROPAGATION_S)


async def test_a_replica_started_while_redis_is_down_reads_the_definitions_once_it_answers(tmp_path):
    port = free_port()
    durable = ("--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path))
    server = start_redis(port, *durable)
    members: list[Replica] = []
    try:
        a = Replica(tmp_path, "a", port, SECRETS_KEY=KEY).start()
        members.append(a)
        await until(a.cluster, "replica a answering")
        path, body = definitions("http://127.0.0.1:9")["checks"]
        async with httpx.AsyncClient(timeout=10) as client:
            assert (await client.post(a.url + path, json=body)).status_code == 201
        server.kill()
        server.wait()

        b = Replica(tmp_path, "b", port, SECRETS_KEY=KEY).start()
        members.append(b)
        await until(lambda: b.get(path), "replica b answering without Redis")
        assert body["name"] not in await listed(b, "checks")
        server = start_redis(port, *durable)  # the same data, read back from its append-only file
        await until(partial(_has, b, "checks", body["name"]), "the check listed on b once Redis answers",
                    PROPAGATION_S)
    finally:
        for member in members:
            member.stop()
        server.kill()
        server.wait()


async def _relay_dropped(replica: Replica) -> bool:
    async with httpx.AsyncClient(base_url=replica.url, timeout=5) as client:
        text = (await client.get("/metrics")).text
    values = [float(line.split()[-1]) for line in text.splitlines()
              if line.startswith("cluster_stream_events_dropped_total")]
    return bool(values) and values[0] > 0


async def _has(replica: Replica, kind: str, made_id: str) -> bool:
    return made_id in await listed(replica, kind)


async def _lacks(replica: Replica, kind: str, made_id: str) -> bool:
    return made_id not in await listed(replica, kind)


async def test_a_follower_stream_carries_the_leader_deliveries_and_audit_events(replicas):
    hook = await Recorder().start()
    try:
        notify = {"EVALUATION_INTERVAL": "1s",
                  "NOTIFICATIONS": "{channels: [{name: hook, type: webhook, url: '" + hook.url + "'}], "
                                   "route: {receiver: hook, group_by: ['...'], group_wait: 0s, group_interval: 1s}}"}
        members = [replicas(name, **notify) for name in ("a", "b")]
        leader_id = await until(lambda: _agreed_leader(members), "two replicas agreeing on a leader")
        leader = next(m for m in members if m.id == leader_id)
        follower = next(m for m in members if m is not leader)
        async with aiohttp.ClientSession() as session, session.ws_connect(follower.url + "/ws") as ws:
            await ws.send_json({"type": "subscribe", "topics": ["notifications", "audit"]})
            seen: dict[str, dict] = {}
            while len(seen) < 2:  # the two snapshots
                message = await ws.receive_json(timeout=30)
                if message["type"] == "snapshot":
                    seen[message["topic"]] = message
            async with session.post(leader.url + "/api/alerts/rules", json={"name": "Relayed", "expr": "vector(1)"}) \
                    as r:
                assert r.status == 201, await r.text()

            async def relayed() -> tuple[dict, dict]:
                audit = delivery = None
                while audit is None or delivery is None:
                    message = await ws.receive_json()
                    data = message.get("data") or {}
                    if message["type"] != "update":
                        continue
                    if message["topic"] == "audit" and data.get("route") == "/api/alerts/rules":
                        audit = data
                    if message["topic"] == "notifications" and any(
                            a["name"] == "Relayed" for a in data.get("notification", {}).get("alerts", [])):
                        delivery = data
                return audit, delivery
            audit, delivery = await asyncio.wait_for(relayed(), 60)
        assert audit["method"] == "POST" and audit["status"] == 201
        assert delivery["event"] == "delivery" and delivery["notification"]["channel"] == "hook"
        assert any(a["labels"]["alertname"] == "Relayed" for r in hook.accepted for a in r.json()["alerts"])
    finally:
        await hook.stop()


async def _agreed_leader(members: list[Replica]) -> str | None:
    views = [await m.cluster() for m in members]
    leaders = {v["leader"] for v in views}
    return views[0]["leader"] if len(leaders) == 1 and len(views[0]["replicas"]) == len(members) else None


async def test_rules_changed_elsewhere_are_taken_off_the_event_loop_while_a_rule_write_waits(tmp_path, redis_server):
    """A rule write waiting on a Redis that holds writes (CLIENT PAUSE WRITE) holds the rules' lock on
    the rules thread; the shared rules read again meanwhile (after the listeners reconnect) wait
    behind it on that thread, not on the event loop: /livez answers while the write is still held."""
    from server.runner import start_server
    from tests.integration.conftest import make_settings

    port = redis_server[1]
    server = await start_server(make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0"),
                                collect_system=False)
    watcher = redis.Redis(port=port)
    path, body = definitions("http://127.0.0.1:9")["rules"]
    body = {**body, "annotations": {"description": "d" * 4000}}  # its write stands out among the blocked
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            reads = _reads(watcher)
            watcher.execute_command("CLIENT", "PAUSE", "10000", "WRITE")
            for listening in [c for c in watcher.client_list() if int(c["sub"]) > 0]:
                watcher.client_kill_filter(_id=listening["id"])  # subscribed again: every kind read again
            write = asyncio.create_task(client.post(path, json=body))
            await until(partial(_rule_write_held, watcher), "the rule write held by the pause")
            await until(partial(_read_since, watcher, reads + 1 + 4), "the shared kinds read again (and the write's)")
            assert (await client.get("/livez")).status_code == 200
            assert await _rule_write_held(watcher), "/livez answered only once the rule write had given up"
            assert (await write).status_code == 503
    finally:
        watcher.execute_command("CLIENT", "UNPAUSE")
        watcher.close()
        await server.stop()


def _reads(watcher: redis.Redis) -> int:
    """HGETALL calls so far: how the shared definitions are read."""
    return watcher.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0)


async def _read_since(watcher: redis.Redis, calls: int) -> bool:
    return _reads(watcher) >= calls


async def _rule_write_held(watcher: redis.Redis) -> bool:
    """A blocked script call carrying the rule's 4000-character description."""
    return any("b" in c["flags"] and c["cmd"] == "evalsha" and int(c["argv-mem"]) > 4000
               for c in watcher.client_list())
