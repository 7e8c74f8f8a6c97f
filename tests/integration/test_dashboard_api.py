"""GET /api/dashboard/summary and /realtime on a platform with known figures (tests/service_data.py),
and GET /api/dashboards, /api/dashboards/{uid} over the shipped files and a DASHBOARDS_DIR."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from engine.clock import FixedClock, to_ms
from engine.dashboard_view import _services
from engine.dashboards import MAX_DASHBOARD_BYTES
from server.runner import start_server
from tests.integration.conftest import make_settings
from tests.service_data import EVAL_OFFSET_S, INTERVAL_S, SAMPLES, _g, families, platform

T0 = 1_800_000_000.0
"""08:00:00 UTC: "today" holds the whole 20-minute history."""
ALERTS = [_g("ALERTS", 1, alertname=name, alertstate=state, severity=severity)
          for name, state, severity in (("A", "firing", "critical"), ("B", "firing", "critical"),
                                        ("C", "firing", "warning"), ("D", "pending", "warning"))]


@pytest.fixture
async def fed(tmp_path):
    clock = FixedClock(T0)
    running = await start_server(make_settings(tmp_path), clock, collect_system=False, start_schedules=False)
    try:
        defs = [*platform(), *ALERTS]
        for k in range(SAMPLES):
            running.engine.store.ingest("platform", families(defs, k), to_ms(T0 + INTERVAL_S * k))
        clock.set(T0 + EVAL_OFFSET_S)
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            yield client
    finally:
        await running.stop()


async def test_the_summary_gives_the_front_pages_figures(fed):
    r = await fed.get("/api/dashboard/summary")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["host"]["hostname"] and "cpu_percent" in body["host"]
    # booking has one of two targets up, payment none, node its only one; no health checks
    assert body["services"] == {"total": 3, "up": 2, "degraded": 0, "down": 1, "unknown": 0, "down_names": ["payment"]}
    assert body["alerts"] == {"firing": 3, "by_severity": {"critical": 2, "warning": 1}}
    # 4 req/s in all (booking 3, payment 1), 0.2 of them 5xx
    assert body["requests"]["per_second"] == pytest.approx(4.0)
    assert body["requests"]["error_ratio"] == pytest.approx(0.05)
    # increase since midnight: the counters start at 0 (no extrapolation before the first sample) and
    # the last sample is 5 s before now (extrapolated by 5 s): 120 steps * 1205/1200
    today = body["today"]
    assert today["since"] == "2027-01-15T00:00:00.000Z"
    assert today["bookings"] == pytest.approx({"created": 723.0, "completed": 361.5, "cancelled": 120.5})
    assert today["revenue"] == pytest.approx({"EUR": 6025.0, "USD": 2410.0})


async def test_realtime_gives_the_last_minutes_figures_in_one_answer(fed):
    r = await fed.get("/api/dashboard/realtime")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["window_seconds"] == 60
    assert body["requests_per_second"] == pytest.approx(4.0)
    assert body["error_ratio"] == pytest.approx(0.05)
    assert body["p95_seconds"] == pytest.approx(0.75)
    assert body["bookings_per_minute"] == pytest.approx(36.0)
    assert body["active_users"] == pytest.approx(50.0)
    assert body["alerts"] == {"firing": 0, "unacknowledged": 0}  # the alert book's, not stored ALERTS series
    assert body["services_down"] == 0
    assert set(body["system"]) >= {"cpu_percent", "memory_used_percent", "load1"}


async def test_figures_with_no_data_are_null(tmp_path):
    running = await start_server(make_settings(tmp_path), FixedClock(T0), collect_system=False,
                                 start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            summary = (await client.get("/api/dashboard/summary")).json()
            realtime = (await client.get("/api/dashboard/realtime")).json()
    finally:
        await running.stop()
    assert summary["requests"] == {"window_seconds": 300, "per_second": None, "error_ratio": None}
    assert summary["today"]["bookings"] == {"created": 0, "completed": 0, "cancelled": 0}
    assert summary["alerts"] == {"firing": 0, "by_severity": {}}
    assert realtime["requests_per_second"] is None and realtime["p95_seconds"] is None


def test_a_service_is_down_when_its_check_or_all_its_targets_are():
    checks = {"booking": "up", "payment": "degraded", "redis": "down", "cache": "unknown"}
    targets = {("booking",): 2.0, ("payment",): 1.0, ("cache",): 1.0, ("web",): 1.0}
    up = {("booking",): 0.0, ("payment",): 1.0, ("cache",): 1.0, ("web",): 1.0}
    assert _services(checks, targets, up) == {"total": 5, "up": 2, "degraded": 1, "down": 2, "unknown": 0,
                                              "down_names": ["booking", "redis"]}


# -- the dashboard files ----------------------------------------------------------------------------


@pytest.fixture
async def with_dir(tmp_path):
    folder = tmp_path / "dashboards"
    folder.mkdir()
    running = await start_server(make_settings(tmp_path, dashboards_dir=str(folder)), collect_system=False,
                                 start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            yield folder, client
    finally:
        await running.stop()


async def test_the_shipped_dashboards_are_listed_and_served(with_dir):
    _, client = with_dir
    listed = (await client.get("/api/dashboards")).json()["dashboards"]
    assert {d["title"] for d in listed} == {"System", "Business", "Application Performance", "Alerts & Health"}
    assert all(d["source"] == "builtin" and d["error"] is None and d["file"].endswith(".json") for d in listed)
    system = next(d for d in listed if d["title"] == "System")
    assert "node_exporter" in system["tags"]
    r = await client.get(f"/api/dashboards/{system['uid']}")
    assert r.status_code == 200
    assert r.json()["title"] == "System" and r.json()["panels"]


async def test_a_dashboards_dir_adds_files_replaces_by_uid_and_lists_bad_files_with_their_error(with_dir):
    folder, client = with_dir
    mine = {"uid": "metrics-service-system", "title": "My system", "tags": ["mine"], "panels": []}
    (folder / "system.json").write_text(json.dumps(mine))
    (folder / "exported.json").write_text(json.dumps({"dashboard": {"title": "Node Exporter Full", "panels": []}}))
    (folder / "broken.json").write_text('{"title": "half')
    (folder / "list.json").write_text("[1, 2]")
    (folder / "untitled.json").write_text('{"uid": "x"}')
    (folder / "baduid.json").write_text('{"uid": "../etc", "title": "t"}')
    (folder / "latin1.json").write_bytes(b'{"title": "caf\xe9"}')
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "huge.json").write_text(" " * (MAX_DASHBOARD_BYTES + 1))
    (folder / "notes.txt").write_text("not a dashboard")
    os.mkfifo(folder / "fifo.json")  # opening it would wait for a writer forever

    r = await client.get("/api/dashboards")
    assert r.status_code == 200
    listed = {(d["source"], d["file"]): d for d in r.json()["dashboards"]}
    custom = {f: d for (s, f), d in listed.items() if s == "dashboards_dir"}
    assert set(custom) == {"system.json", "exported.json", "broken.json", "list.json", "untitled.json",
                           "baduid.json", "latin1.json", "deep.json", "huge.json"}
    errors = {f: d["error"] for f, d in custom.items() if d["error"]}
    assert errors["broken.json"].startswith("not JSON")
    assert errors["list.json"] == "not a JSON object"
    assert errors["untitled.json"] == "no title"
    assert errors["baduid.json"].startswith("uid '../etc'")
    assert errors["latin1.json"] == "not UTF-8"
    assert errors["deep.json"].startswith("not JSON")
    assert errors["huge.json"] == f"larger than {MAX_DASHBOARD_BYTES} bytes"
    assert set(errors) == {"broken.json", "list.json", "untitled.json", "baduid.json", "latin1.json", "deep.json",
                           "huge.json"}
    assert custom["exported.json"]["uid"] == "exported" and custom["system.json"]["tags"] == ["mine"]
    assert listed[("builtin", "system-metrics.json")]["error"] == (
        "uid metrics-service-system replaced by dashboards_dir system.json")

    assert (await client.get("/api/dashboards/metrics-service-system")).json()["title"] == "My system"
    assert (await client.get("/api/dashboards/exported")).json()["title"] == "Node Exporter Full"
    for uid in ("x", "broken", "nope", "..%2Fetc", "a" * 41):
        r = await client.get(f"/api/dashboards/{uid}")
        assert r.status_code == 404, uid
        assert r.json()["error"]["code"] == "not_found"


async def test_a_missing_dashboards_dir_leaves_the_shipped_ones(tmp_path):
    running = await start_server(make_settings(tmp_path, dashboards_dir=str(tmp_path / "nowhere")),
                                 collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            listed = (await client.get("/api/dashboards")).json()["dashboards"]
    finally:
        await running.stop()
    assert len(listed) == 4 and {d["source"] for d in listed} == {"builtin"}
