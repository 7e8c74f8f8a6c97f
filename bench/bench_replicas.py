"""Three replicas on one machine sharing a redis-server of the benchmark's own (REDIS_URL).

An acknowledgement posted on replica A (a follower) → its "acknowledged" event on a WebSocket client
of replica C (median, p99 over ACKS acknowledgements of the same firing alert, measured from sending
the request). Leader SIGKILL → first evaluation by the new leader (target ≤ 15 s with the default LEADER_LEASE of
15 s), over ROUNDS failovers (a fresh replica replaces each killed one, so three stay up); and the
"firing" notifications a webhook got for one alert that fires throughout (target: exactly one, i.e.
0 duplicated, 0 lost), counted by idempotency key: a delivery retried with the same key (at-least-once,
a receiver drops it) is reported apart. Each kill also times the work's re-division: SIGKILL → every
survivor's ``GET /api/cluster`` assigning the CHECKS health checks among the survivors only (the
killed replica's heartbeat expires, then each survivor's next step reads the members).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serverproc import free_port, serve  # noqa: E402

ROUNDS = 3
ACKS = 100
CHECKS = 12
RULES = """groups:
- name: seen
  interval: 1s
  rules:
  - alert: Seen
    expr: vector(1)
"""


@contextlib.contextmanager
def redis_server():
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def get(client: httpx.AsyncClient, port: int, path: str) -> dict | None:
    try:
        r = await client.get(f"http://127.0.0.1:{port}{path}", timeout=2)
        return r.json() if r.status_code == 200 else None
    except httpx.TransportError:
        return None


async def leader_port(client: httpx.AsyncClient, ports: list[int]) -> int:
    """The port of the replica every answering replica names as leader."""
    while True:
        views = {p: await get(client, p, "/api/cluster") for p in ports}
        selves = {v["self"]: p for p, v in views.items() if v}
        leaders = {v["leader"] for v in views.values() if v}
        if len(selves) == len(ports) and len(leaders) == 1 and (lead := leaders.pop()) in selves:
            return selves[lead]
        await asyncio.sleep(0.1)


async def evaluated_after(client: httpx.AsyncClient, ports: list[int], t0: float) -> float:
    """When a survivor first evaluated the rule after ``t0`` (its own evaluation timestamp)."""
    while True:
        for p in ports:
            body = await get(client, p, "/api/alerts/rules")
            stamp = next((r["lastEvaluation"] for r in (body or {}).get("rules", []) if r["name"] == "Seen"), None)
            if stamp is not None and _ts(stamp) > t0:
                return _ts(stamp)
        await asyncio.sleep(0.05)


async def redivided(client: httpx.AsyncClient, ports: list[int], gone: str) -> float:
    """When every replica of ``ports`` first assigned every check to the replicas of ``ports`` only."""
    while True:
        views = [await get(client, p, "/api/cluster") for p in ports]
        if all(v and len(v["assignments"]) == CHECKS and gone not in v["assignments"].values()
               and {r["id"] for r in v["replicas"]} >= set(v["assignments"].values()) for v in views):
            return time.time()
        await asyncio.sleep(0.05)


async def ack_latencies(client: httpx.AsyncClient, acker: int, watcher: int) -> list[float]:
    """Seconds from sending each acknowledgement to replica ``acker`` to its event on ``watcher``'s /ws."""
    while True:
        alerts = (await get(client, acker, "/api/alerts") or {}).get("alerts", [])
        alert = next((a for a in alerts if a["name"] == "Seen" and a["state"] == "firing"), None)
        if alert is not None:
            break
        await asyncio.sleep(0.1)
    out = []
    async with aiohttp.ClientSession() as session, session.ws_connect(f"http://127.0.0.1:{watcher}/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["alerts"]})
        await ws.receive_json()  # the snapshot
        for i in range(ACKS):
            sent = time.perf_counter()
            r = await client.post(f"http://127.0.0.1:{acker}/api/alerts/{alert['id']}/acknowledge",
                                  json={"comment": f"ack {i}"})
            r.raise_for_status()
            while True:
                data = (await ws.receive_json(timeout=30)).get("data") or {}
                if data.get("event") == "acknowledged" and data["alert"]["acknowledgement"]["comment"] == f"ack {i}":
                    out.append(time.perf_counter() - sent)
                    break
    return out


def quantiles(values: list[float]) -> dict:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"n": len(values), "median_ms": round(statistics.median(values) * 1000, 1), "p99_ms": round(p99 * 1000, 1)}


async def main() -> dict:
    firing: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        key = (body.get("metricsService") or {}).get("idempotencyKey")
        firing.extend((a["generatorURL"], time.time(), key) for a in body.get("alerts", []) if a["status"] == "firing")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    failovers: list[float] = []
    redivisions: list[float] = []
    kills: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_port, contextlib.ExitStack() as stack:
        rules = Path(tmp) / "seen.rules.yaml"
        rules.write_text(RULES)
        env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "RULES_FILES": str(rules),
               "NOTIFICATIONS": "{channels: [{name: hook, type: webhook, url: 'http://127.0.0.1:" + str(hook_port)
                                + "/hook'}], route: {receiver: hook, group_by: ['...'], group_wait: 0s, "
                                  "group_interval: 1s}}",
               "HEALTH_CHECKS": json.dumps([{"name": f"redis{i}", "type": "tcp", "host": "127.0.0.1",
                                             "port": redis_port, "interval": "5s"} for i in range(CHECKS)])}
        procs = {}

        def start() -> None:
            proc, port = stack.enter_context(serve(**env))
            procs[port] = proc
        for _ in range(3):
            start()
        async with httpx.AsyncClient() as client:
            lead = await leader_port(client, list(procs))
            await evaluated_after(client, [lead], 0)
            acker, watcher = [p for p in procs if p != lead]
            acks = await ack_latencies(client, acker, watcher)
            for _ in range(ROUNDS):
                lead = await leader_port(client, list(procs))
                gone = (await get(client, lead, "/api/cluster"))["self"]
                t0 = time.time()
                kills.append(t0)
                procs.pop(lead).kill()
                evaluated, divided = await asyncio.gather(evaluated_after(client, list(procs), t0),
                                                          redivided(client, list(procs), gone))
                failovers.append(evaluated - t0)
                redivisions.append(divided - t0)
                start()
            await asyncio.sleep(3)  # group_interval 1 s: anything still to send has been sent
    await runner.cleanup()
    notified = len({key for _, _, key in firing})
    return {
        "replicas": 3, "leader_lease_s": 15, "rounds": ROUNDS,
        "failover_to_first_evaluation_s": {"median": round(statistics.median(failovers), 2),
                                           "max": round(max(failovers), 2), "all": [round(f, 2) for f in failovers],
                                           "target": 15},
        "firing_notifications": {"received": notified, "expected": 1, "duplicated": max(0, notified - 1),
                                 "redelivered_with_the_same_key": len(firing) - notified,
                                 "lost": 0 if notified else 1, "target": "0/0",
                                 "alert_instances": len({url for url, _, _ in firing}),
                                 "seconds_after_a_kill": [round(t - max([k for k in kills if k < t], default=t), 1)
                                                          for _, t, _ in firing]},
        "ack_on_follower_to_websocket_of_another": quantiles(acks),
        "work_redivision_after_sigkill_s": {"checks": CHECKS, "median": round(statistics.median(redivisions), 2),
                                            "max": round(max(redivisions), 2),
                                            "all": [round(r, 2) for r in redivisions]},
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
