"""GET /api/metrics/application and /business, and their WebSocket topics, on a platform with known figures.

The figures are checked twice: against values worked out by hand from the samples (tests/service_data.py),
and against Prometheus itself: the views' own PromQL expressions, over the same input series, go through
`promtool test rules` expecting exactly what our API answered.
"""

from __future__ import annotations

import json
import subprocess

import aiohttp
import httpx
import pytest
import yaml

from engine.clock import FixedClock, to_ms
from engine.service_views import application_queries, business_queries
from server.runner import start_server
from tests.conftest import promtool_path
from tests.integration.conftest import make_settings
from tests.service_data import EVAL_OFFSET_S, INTERVAL_S, SAMPLES, families, platform

T0 = 1_800_000_000.0


@pytest.fixture
async def fed(tmp_path):
    clock = FixedClock(T0)
    running = await start_server(make_settings(tmp_path), clock, collect_system=False, start_schedules=False)
    try:
        defs = platform()
        for k in range(SAMPLES):  # stored from the owning loop, as a collection cycle would
            running.engine.store.ingest("platform", families(defs, k), to_ms(T0 + INTERVAL_S * k))
        clock.set(T0 + EVAL_OFFSET_S)
        yield running
    finally:
        await running.stop()


async def get(running, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
        return await http.get(path, params=params)


def close(got: object, want: object) -> bool:
    """Equal, with floats compared to 1e-9 relative, through nested lists and dicts."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(close(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(close, got, want))
    if isinstance(want, float) and isinstance(got, (int, float)):
        return got == pytest.approx(want, rel=1e-9)
    return got == want


def by_service(body: dict) -> dict[str, dict]:
    return {s["service"]: s for s in body["services"]}


async def test_application_figures_per_service(fed):
    r = await get(fed, "/api/metrics/application")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["range_seconds"] == 300 and body["step_seconds"] == 10
    services = by_service(body)
    assert set(services) == {"booking", "payment", "node"}
    b = services["booking"]
    assert b["requests_per_second"] == pytest.approx(3.0)
    assert b["latency_seconds"] == pytest.approx({"p50": 0.1375, "p90": 0.5, "p95": 0.75, "p99": 0.95})
    assert b["error_ratio_4xx"] == pytest.approx(0.2 / 3) and b["error_ratio_5xx"] == pytest.approx(0.2 / 3)
    assert b["status_codes"] == pytest.approx({"200": 2.6, "404": 0.2, "503": 0.2})
    assert b["active_connections"] == 7
    assert b["db"]["queries_per_second"] == pytest.approx(1.2)
    # 12 queries per 10 s: 5 under 10 ms, 7 more under 100 ms; the 95th (rank 11.4) interpolates
    assert b["db"]["p95_seconds"] == pytest.approx(0.01 + 0.09 * (11.4 - 5) / 7)
    assert close(b["db"]["operations"], [
        {"operation": "insert", "queries_per_second": 0.2, "p95_seconds": 0.01 + 0.09 * 0.95},
        {"operation": "select", "queries_per_second": 1.0, "p95_seconds": 0.01 + 0.09 * (9.5 - 5) / 5}])
    assert close(b["cache"], {"hit_ratio": 0.9, "requests_per_second": 1.0, "by_result": {"hit": 0.9, "miss": 0.1}})
    assert (b["up"], b["up_source"], b["targets"]) == (True, "scrape", {"up": 1, "total": 2})
    history = b["history"]["requests_per_second"]
    assert len(history) == 31 and history[-1][0] == T0 + 1200  # 30 steps of 10 s ending at the last whole step
    assert all(v == pytest.approx(3.0) for _, v in history)
    p = services["payment"]
    assert (p["up"], p["requests_per_second"], p["error_ratio_5xx"]) == (False, pytest.approx(1.0), 0.0)
    assert p["latency_seconds"] == {"p50": None, "p90": None, "p95": None, "p99": None}  # no histogram: unknown
    assert p["cache"] == {"hit_ratio": None, "requests_per_second": None, "by_result": {}}
    n = services["node"]
    assert (n["up"], n["targets"], n["requests_per_second"]) == (True, {"up": 1, "total": 1}, None)


async def test_the_server_itself_is_a_service(fed):
    await get(fed, "/livez")
    await fed.engine.collect()  # stores the server's own http_* series, service="metrics-service"
    fed.engine.clock.set(fed.engine.clock.now() + 30)
    await get(fed, "/livez")
    await fed.engine.collect()
    own = by_service((await get(fed, "/api/metrics/application", range="1m")).json())["metrics-service"]
    assert (own["up"], own["up_source"], own["targets"]) == (True, "self", None)
    assert own["requests_per_second"] > 0 and own["latency_seconds"]["p50"] is not None


async def test_business_figures(fed):
    r = await get(fed, "/api/metrics/business", range="10m")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["range_seconds"] == 600 and body["step_seconds"] == 20
    bookings = body["bookings"]
    assert {k: bookings[k] for k in ("created", "completed", "cancelled")} == pytest.approx(
        {"created": 360, "completed": 180, "cancelled": 60})
    assert close(bookings["by_service"], {"booking": {"created": 360.0, "completed": 180.0, "cancelled": 60.0}})
    created = dict(map(tuple, bookings["history"]["created"]))
    assert len(created) == 31 and all(v == pytest.approx(12) for v in created.values())  # 6 per 10 s, per 20 s step
    assert close(body["revenue"]["by_service"], [{"service": "payment", "currency": "EUR", "amount": 3000.0},
                                                 {"service": "payment", "currency": "USD", "amount": 1200.0}])
    assert body["active_users"]["total"] == 50 and body["active_users"]["by_service"] == {"booking": 42, "web": 8}
    [checkout] = body["funnels"]
    assert checkout["funnel"] == "checkout"
    assert close(checkout["steps"], [
        {"step": "search", "count": 600.0, "of_first": 1.0, "of_previous": 1.0},
        {"step": "select", "count": 300.0, "of_first": 0.5, "of_previous": 0.5},
        {"step": "pay", "count": 120.0, "of_first": 0.2, "of_previous": 0.4}])
    satisfaction = body["satisfaction"]
    assert satisfaction["average"] == pytest.approx(3.6) and satisfaction["count"] == pytest.approx(600)
    assert close(satisfaction["distribution"], [
        {"le": 1.0, "count": 60.0}, {"le": 2.0, "count": 60.0}, {"le": 3.0, "count": 120.0},
        {"le": 4.0, "count": 180.0}, {"le": 5.0, "count": 180.0}, {"le": "+Inf", "count": 0.0}])


async def test_an_empty_store_answers_empty_views(tmp_path):
    running = await start_server(make_settings(tmp_path), FixedClock(T0), collect_system=False,
                                 start_schedules=False)
    try:
        assert (await get(running, "/api/metrics/application")).json()["services"] == []
        business = (await get(running, "/api/metrics/business")).json()
        assert business["bookings"]["created"] is None and business["funnels"] == []  # no data, not 0 bookings
        assert business["satisfaction"] == {"average": None, "count": None, "distribution": []}
    finally:
        await running.stop()


@pytest.mark.parametrize("path", ["/api/metrics/application", "/api/metrics/business"])
@pytest.mark.parametrize("value", ["abc", "0", "-5m", "1y2y", "3650d"])
async def test_a_bad_range_is_a_400_naming_it(fed, path, value):
    r = await get(fed, path, range=value)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_parameter" and error["message"].startswith("range: ")
    assert error["details"] == {"parameter": "range", "value": value}


# -- Prometheus agrees -----------------------------------------------------------------------------


def _expectations(expr: str, answer: dict[tuple[tuple[str, str], ...], float]) -> dict:
    return {"expr": expr, "eval_time": f"{EVAL_OFFSET_S}s",
            "exp_samples": [{"labels": "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}", "value": v}
                            for labels, v in answer.items()]}


@pytest.mark.promtool
async def test_prometheus_computes_the_same_figures(fed, tmp_path):
    """Each expression of both views, evaluated by promtool over the same samples, equals ours (to a
    millionth: summing in another order may change the last bit)."""
    now = fed.engine.clock.now()
    tests = []
    for view in [*application_queries("5m").values(), *business_queries("10m").values()]:
        expr = f"round({view}, 0.000001)"
        result = await fed.engine.run_query(lambda e=expr: fed.engine.query.instant(e, now).value)
        tests.append(_expectations(expr, {tuple(sorted(s.labels.items())): s.value for s in result}))
    assert sum(len(t["exp_samples"]) for t in tests) > 40
    path = tmp_path / "views_test.yaml"
    path.write_text(yaml.safe_dump({"tests": [{
        "interval": f"{INTERVAL_S}s", "input_series": [d.promtool() for d in platform()],
        "promql_expr_test": tests}]}))
    result = subprocess.run([promtool_path(), "test", "rules", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# -- WebSocket topics ----------------------------------------------------------------------------


async def test_the_topics_deliver_snapshots_and_updates_after_each_cycle(fed):
    api = by_service((await get(fed, "/api/metrics/application")).json())
    async with aiohttp.ClientSession() as session, session.ws_connect(fed.url.replace("http", "ws") + "/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["application", "business"]})
        first = [json.loads((await ws.receive(timeout=10)).data) for _ in range(2)]
        assert [(m["type"], m["topic"]) for m in first] == [("snapshot", "application"), ("snapshot", "business")]
        assert by_service(first[0]["data"]) == api
        # the default range, 1 h, holds all 20 min: 720, extrapolated by 5 s to the window's end
        assert first[1]["data"]["bookings"]["created"] == pytest.approx(720 * 1205 / 1200)
        await fed.engine.collect()
        updates = {}
        while len(updates) < 2:
            m = json.loads((await ws.receive(timeout=10)).data)
            updates[m["topic"]] = m
        assert {m["type"] for m in updates.values()} == {"update"}
        assert by_service(updates["application"]["data"])["booking"]["requests_per_second"] == pytest.approx(3.0)
        await ws.send_json({"type": "unsubscribe", "topics": ["application", "business"]})
        await ws.send_json({"type": "ping"})
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "pong"
        assert not fed.engine.bus.wants("application")  # nothing computed for nobody
