"""System view and charts on deterministic samples: the arithmetic users read off the panels."""

from __future__ import annotations

import pytest

from engine.charts import chart
from engine.rates import counter_rate
from engine.system_view import system_view
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import Family

T0 = 1_800_000_000_000


def test_counter_rate_counts_a_reset_as_a_restart():
    assert counter_rate([0, 10_000], [5.0, 25.0]) == 2.0
    assert counter_rate([0, 10_000, 20_000], [100.0, 110.0, 4.0]) == pytest.approx(14.0 / 20.0)
    assert counter_rate([0], [1.0]) is None


def cycle(k: int) -> list[Family]:
    cpu = Family("node_cpu_seconds_total", "counter", "cpu", "seconds")
    # core 0: 25 % busy; core 1: 75 % busy (5 s intervals)
    for core, busy in (("0", 1.25), ("1", 3.75)):
        cpu.add(k * busy, {"cpu": core, "mode": "user"})
        cpu.add(k * (5 - busy), {"cpu": core, "mode": "idle"})
    mem = [Family(f"node_memory_{f}_bytes", "gauge", f, "bytes") for f in ("MemTotal", "MemAvailable")]
    mem[0].add(1000.0)
    mem[1].add(250.0)
    fs = [Family(f"node_filesystem_{f}_bytes", "gauge", f, "bytes") for f in ("size", "free", "avail")]
    for fam, v in zip(fs, (100.0, 40.0, 30.0), strict=True):
        fam.add(v, {"mountpoint": "/", "device": "/dev/vda1", "fstype": "ext4"})
    net = Family("node_network_receive_bytes_total", "counter", "rx", "bytes")
    net.add(k * 5000.0, {"device": "eth0"})
    load = Family("node_load1", "gauge", "load")
    load.add(0.5 + k)
    return [cpu, *mem, *fs, net, load]


@pytest.fixture
def store(tmp_path):
    s = Store(SQLiteBackend(tmp_path))
    s.open()
    for k in range(13):  # one minute at 5 s
        s.ingest("system", cycle(k), T0 + k * 5000)
    yield s
    s.backend.close()


def test_system_view_figures(store):
    view = system_view(store, T0 + 60_000)
    assert view["cpu"]["usage_percent"] == 50.0
    assert [c["usage_percent"] for c in view["cpu"]["cores"]] == [25.0, 75.0]
    assert view["memory"]["used_bytes"] == 750.0 and view["memory"]["used_percent"] == 75.0
    (fs,) = view["filesystems"]
    assert fs["used_bytes"] == 60.0 and fs["used_percent"] == 66.67  # df: used / (used + avail)
    (nic,) = view["network"]
    assert nic["device"] == "eth0" and nic["receive_bytes_per_second"] == 1000.0
    assert view["load"]["load1"] == 12.5


def test_cpu_and_load_charts_on_a_grid(store):
    body = chart(store, "cpu", T0 + 30_000, T0 + 60_000, 10_000, 20_000)
    total = body["series"][0]
    assert total["labels"] == {"cpu": "total"}
    assert total["points"] == [[(T0 + t) / 1000, 50.0] for t in (30_000, 40_000, 50_000, 60_000)]
    assert [s["labels"] for s in body["series"][1:]] == [{"cpu": "0"}, {"cpu": "1"}]
    load = chart(store, "load", T0, T0 + 60_000, 30_000, 20_000)
    assert load["series"][0]["points"] == [[T0 / 1000, 0.5], [(T0 + 30_000) / 1000, 6.5], [(T0 + 60_000) / 1000, 12.5]]
    assert load["series"][1] == {"labels": {"window": "5m"}, "points": []}


def test_memory_and_network_charts(store):
    mem = {s["labels"]["kind"]: s["points"] for s in chart(store, "memory", T0, T0 + 10_000, 5_000, 20_000)["series"]}
    assert mem["used"][-1][1] == 750.0 and mem["total"][-1][1] == 1000.0
    net = chart(store, "network", T0 + 20_000, T0 + 20_000, 5_000, 20_000)["series"]
    assert net == [{"labels": {"device": "eth0", "direction": "receive"}, "points": [[(T0 + 20_000) / 1000, 1000.0]]}]
