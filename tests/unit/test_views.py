"""System view and charts on deterministic samples: the arithmetic users read off the panels, all of
it through PromQL (the same expressions the console sends)."""

from __future__ import annotations

import pytest

from engine.charts import chart, chart_queries, rate_window
from engine.promql import QueryEngine
from engine.promql.parse import Parser
from engine.system_view import system_view
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import Family

T0 = 1_800_000_000_000


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


@pytest.fixture
def query(store):
    return QueryEngine(store)


def test_system_view_figures(query):
    view = system_view(query, T0 + 60_000)
    assert view["cpu"]["usage_percent"] == 50.0
    assert [c["usage_percent"] for c in view["cpu"]["cores"]] == [25.0, 75.0]
    assert view["memory"]["used_bytes"] == 750.0 and view["memory"]["used_percent"] == 75.0
    (fs,) = view["filesystems"]
    assert fs["used_bytes"] == 60.0 and fs["used_percent"] == 66.67  # df: used / (used + avail)
    (nic,) = view["network"]
    assert nic["device"] == "eth0" and nic["receive_bytes_per_second"] == 1000.0
    assert view["load"]["load1"] == 12.5


def test_a_counter_reset_counts_as_a_restart(store, query):
    ref = store.ref((("__name__", "node_context_switches_total"),))
    for t, v in ((0, 100.0), (10_000, 110.0), (20_000, 4.0)):
        store.append(ref, T0 + t, v)
    assert system_view(query, T0 + 20_000)["context_switches_per_second"] == 0.4  # irate: 4 over 10 s


def test_cpu_and_load_charts_on_a_grid(query):
    body = chart(query, "cpu", T0 + 30_000, T0 + 60_000, 10_000)
    assert (body["type"], body["start"], body["end"], body["step"]) == ("cpu", (T0 + 30_000) / 1000,
                                                                        (T0 + 60_000) / 1000, 10.0)
    total = body["series"][0]
    assert total["labels"] == {"cpu": "total"}
    assert total["points"] == [[(T0 + t) / 1000, pytest.approx(50.0)] for t in (30_000, 40_000, 50_000, 60_000)]
    assert [s["labels"] for s in body["series"][1:]] == [{"cpu": "0"}, {"cpu": "1"}]
    assert [p[1] for p in body["series"][2]["points"]] == pytest.approx([75.0] * 4)
    load = chart(query, "load", T0, T0 + 60_000, 30_000)
    assert load["series"] == [{"labels": {"window": "1m"}, "points": [[T0 / 1000, 0.5], [(T0 + 30_000) / 1000, 6.5],
                                                                     [(T0 + 60_000) / 1000, 12.5]]}]


def test_memory_and_network_charts(query):
    mem = {s["labels"]["kind"]: s["points"] for s in chart(query, "memory", T0, T0 + 10_000, 5_000)["series"]}
    assert mem["used"][-1][1] == 750.0 and mem["total"][-1][1] == 1000.0
    net = chart(query, "network", T0 + 20_000, T0 + 20_000, 5_000)["series"]
    assert net == [{"labels": {"device": "eth0", "direction": "receive"},
                    "points": [[(T0 + 20_000) / 1000, pytest.approx(1000.0)]]}]


def test_a_ratio_of_nothing_is_left_out_of_the_json(store, query):
    cpu = Family("node_cpu_seconds_total", "counter", "cpu", "seconds")
    for mode in ("idle", "user"):
        cpu.add(0.0, {"cpu": "9", "mode": mode})
    for k in range(13, 20):  # a core whose counters stand still: 0 / 0
        store.ingest("frozen", [cpu], T0 + k * 5000)
    per_core = chart(query, "cpu", T0 + 95_000, T0 + 95_000, 5_000)["series"][1:]
    assert {"labels": {"cpu": "9"}, "points": []} in per_core


def test_rate_windows_are_valid_promql_durations_for_any_step():
    assert [rate_window(s) for s in (0.1, 10, 15, 10.25, 3600)] == ["20s", "20s", "30s", "20500ms", "7200s"]
    for step in (0.1, 10.25, 3600):
        for expr, _ in chart_queries("cpu", step):
            Parser().parse(expr)


def test_a_saturated_host_charts_at_most_100_percent(tmp_path):
    """No idle time: busy / total is 1 in exact arithmetic, but these rates sum to 100.00000000000001
    in floats (found by search); a percentage chart stays within 0..100."""
    s = Store(SQLiteBackend(tmp_path))
    s.open()
    for k in range(13):
        cpu = Family("node_cpu_seconds_total", "counter", "cpu", "seconds")
        for mode, rate in (("user", 0.998), ("system", 1.466), ("softirq", 1.77)):
            cpu.add(k * rate, {"cpu": "0", "mode": mode})
        cpu.add(50.0, {"cpu": "0", "mode": "idle"})
        cpu.add(7.0, {"cpu": "0", "mode": "iowait"})
        s.ingest("system", [cpu], T0 + k * 5000)
    body = chart(QueryEngine(s), "cpu", T0 + 30_000, T0 + 60_000, 10_000)
    s.backend.close()
    points = [v for series in body["series"] for _, v in series["points"]]
    assert points and all(0 <= v <= 100 for v in points) and max(points) == 100
