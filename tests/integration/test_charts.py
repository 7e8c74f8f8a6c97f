"""The chart API and the console's charts come from the same PromQL expressions: same figures."""

from __future__ import annotations

import httpx
import pytest

from console.client import ServerClient
from engine.charts import CHART_TYPES
from engine.clock import FixedClock, to_ms
from engine.tsdb.types import Family
from server.runner import start_server
from tests.integration.conftest import make_settings

T0 = 1_800_000_000.0


def host(k: int) -> list[Family]:
    """Cycle k of a host with two cores, one disk, one NIC, a reset counter and steady gauges."""
    cpu = Family("node_cpu_seconds_total", "counter", "cpu", "seconds")
    for core, busy in (("0", 1.0 + k % 3), ("1", 4.0)):
        cpu.add(k * busy, {"cpu": core, "mode": "user"})
        cpu.add(k * (5 - busy), {"cpu": core, "mode": "idle"})
    mem = [Family(f"node_memory_{f}_bytes", "gauge", f, "bytes")
           for f in ("MemTotal", "MemAvailable", "Cached", "Buffers", "SwapTotal", "SwapFree")]
    for fam, v in zip(mem, (1000.0, 250.0 + k, 100.0, 50.0, 200.0, 150.0), strict=True):
        fam.add(v)
    disk = [Family(f"node_disk_{d}_bytes_total", "counter", d, "bytes") for d in ("read", "written")]
    for fam, rate in zip(disk, (300.0, 700.0), strict=True):
        fam.add((k % 40) * rate * 5, {"device": "vda"})  # resets every 40 cycles
    net = [Family(f"node_network_{d}_bytes_total", "counter", d, "bytes") for d in ("receive", "transmit")]
    for fam in net:
        fam.add(k * k * 10.0, {"device": "eth0"})
    load = Family("node_load1", "gauge", "load")
    load.add(0.5 + k / 100)
    return [cpu, *mem, *disk, *net, load]


@pytest.fixture
async def fed(tmp_path):
    clock = FixedClock(T0)
    running = await start_server(make_settings(tmp_path), clock, collect_system=False, start_schedules=False)
    try:
        for k in range(240):  # 20 minutes at 5 s, stored from this (the owning) loop
            running.engine.store.ingest("system", host(k), to_ms(T0 + 5 * k))
        clock.set(T0 + 5 * 239 + 2)
        yield running
    finally:
        await running.stop()


@pytest.mark.parametrize("kind", CHART_TYPES)
async def test_the_chart_api_and_the_console_agree(fed, kind):
    async with httpx.AsyncClient(base_url=fed.url, timeout=10) as http:
        r = await http.get(f"/api/dashboard/charts/{kind}", params={"range": "15m", "step": "15s"})
    assert r.status_code == 200, r.text
    api = r.json()
    console = ServerClient(fed.url)
    try:
        reply = await console.chart(kind, 900, 15)
    finally:
        await console.aclose()
    assert reply.ok, reply.error
    assert api["end"] == reply.data["end"] == (T0 + 5 * 239 + 2) // 15 * 15
    assert api["series"] == reply.data["series"]
    assert sum(len(s["points"]) for s in api["series"]) >= 50


async def test_the_console_draws_no_point_the_chart_api_leaves_out(tmp_path):
    """CPU that did not move is 0/0: no point in the API's chart, and none in the console's."""
    clock = FixedClock(T0)
    running = await start_server(make_settings(tmp_path), clock, collect_system=False, start_schedules=False)
    console = ServerClient(running.url)
    try:
        for k in range(60):
            running.engine.store.ingest("system", [host(0)[0]], to_ms(T0 + 5 * k))
        clock.set(T0 + 5 * 59)
        reply = await console.chart("cpu", 300, 15)
    finally:
        await console.aclose()
        await running.stop()
    assert reply.ok, reply.error
    assert reply.data["series"] and all(s["points"] == [] for s in reply.data["series"])


async def test_a_chart_over_the_sample_limit_is_a_422_not_a_500(tmp_path):
    clock = FixedClock(T0)
    settings = make_settings(tmp_path, query_max_samples=100)
    running = await start_server(settings, clock, collect_system=False, start_schedules=False)
    try:
        for k in range(60):
            running.engine.store.ingest("system", host(k), to_ms(T0 + 5 * k))
        clock.set(T0 + 300)
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            r = await http.get("/api/dashboard/charts/cpu", params={"range": "5m", "step": "5s"})
    finally:
        await running.stop()
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "query_execution" and error["message"].startswith("chart cpu: ")
