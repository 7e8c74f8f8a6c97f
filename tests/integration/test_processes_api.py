"""GET /api/metrics/processes and the ``processes`` stream topic, on a real socket, reading this
machine's real processes (psutil and /proc, no fixture)."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import pytest

from engine.collectors.processes import HostProcesses


async def test_top_processes_by_cpu_and_by_memory(server, client):
    by_memory = (await client.get("/api/metrics/processes", params={"sort": "memory", "limit": "500"})).json()
    assert by_memory["sort"] == "memory" and by_memory["timestamp"].endswith("Z")
    rows = by_memory["processes"]
    assert by_memory["total"] >= len(rows) >= 2
    assert [r["rss_bytes"] for r in rows] == sorted((r["rss_bytes"] for r in rows), reverse=True)
    me = next(r for r in rows if r["pid"] == os.getpid())  # this test's process runs the server
    assert me["rss_bytes"] > 10 * 2**20 and "python" in me["command"] and me["user"] not in ("", "?")
    by_cpu = (await client.get("/api/metrics/processes")).json()
    assert by_cpu["sort"] == "cpu" and 1 <= len(by_cpu["processes"]) <= 50
    cpu = [r["cpu_percent"] or 0.0 for r in by_cpu["processes"]]
    assert cpu == sorted(cpu, reverse=True) and all(c >= 0 for c in cpu)
    assert len((await client.get("/api/metrics/processes", params={"limit": "3"})).json()["processes"]) == 3


@pytest.mark.parametrize(("params", "name"), [
    ({"sort": "disk"}, "sort"), ({"sort": ""}, "sort"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
    ({"limit": "ten"}, "limit"), ({"limit": "²"}, "limit"), ({"limit": "-1"}, "limit"),
    ({"limit": "9" * 5000}, "limit"),
])
async def test_bad_parameters_are_400_naming_the_parameter(client, params, name):
    response = await client.get("/api/metrics/processes", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["details"]["parameter"] == name


async def test_the_topic_is_read_only_while_someone_follows_it(server):
    engine = server.engine
    reads = []
    host = engine.processes.source

    def counted(n: int):
        reads.append(n)
        return host(n)

    engine.processes.source = counted
    await engine.collect()
    assert reads == []  # nobody follows the topic: a collection cycle does not read processes
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["processes"]})
        snapshot = await asyncio.wait_for(ws.receive_json(), 10)
        assert snapshot["type"] == "snapshot" and snapshot["topic"] == "processes"
        assert any(p["pid"] == os.getpid() for p in snapshot["data"]["processes"])
        update = await asyncio.wait_for(ws.receive_json(), 10)  # the next collection cycle
        assert update["type"] == "update" and update["topic"] == "processes"
        await ws.send_json({"type": "unsubscribe", "topics": ["processes"]})
        for _ in range(200):
            if not engine.bus.wants("processes"):
                break
            await asyncio.sleep(0.02)
    assert not engine.bus.wants("processes")
    count = len(reads)
    await engine.collect()
    assert len(reads) == count


def test_cpu_percent_is_measured_between_two_readings():
    """0.3 s of CPU spent by this process between two readings one (injected) second apart: about 30 %."""
    clock = [100.0]
    source = HostProcesses(now=lambda: clock[0])
    cpu0 = time.process_time()
    source(5)
    while time.process_time() < cpu0 + 0.3:
        pass
    clock[0] += 1.0
    _, rows = source(5)
    spent = time.process_time() - cpu0
    me = next(r for r in rows if r.pid == os.getpid())
    assert me.cpu_percent is not None and 28 <= me.cpu_percent <= 100 * spent + 2
