"""Hostile queries against our real server on a socket (issue 8, defects 1 and 3): a query the
parser cannot take is refused and the server stays up; queries past their deadline stop and
free the query pool; readiness answers while the pool is full."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from engine.clock import FixedClock
from engine.tsdb.types import Family
from server.runner import start_server
from tests.integration.conftest import make_settings

SERIES = 50
SAMPLES = 3000  # every 15 s: 12.5 hours
# ~1.7 s of evaluation per series: minutes per query, unless it stops at its deadline.
HEAVY = {"query": "quantile_over_time(0.5, heavy[12h])", "start": "0", "end": "45000", "step": "5"}


def error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["errorType"] == error_type, body
    return body["error"]


@pytest.mark.parametrize("query", [
    "1" + "-1" * 4_000,  # 8 KB: 2.3 GB and 3 s in the parser
    "1" + "+1" * 20_000,  # killed the process with a segfault
    "(" * 20_000 + "1" + ")" * 20_000,  # passed 6 GB
], ids=["minus-chain-8k", "plus-chain-20000", "parentheses-20000"])
async def test_queries_the_parser_cannot_take_are_refused_and_the_server_stays_up(client, query):
    for path in ("/api/v1/query", "/api/v1/query_range"):
        r = await client.post(path, data={"query": query, "start": "0", "end": "60", "step": "15"})
        message = error(r, 400, "bad_data")
        assert "QUERY_MAX_DEPTH=200" in message
    r = await client.get("/livez")
    assert r.status_code == 200


async def test_large_real_queries_still_work(client):
    """150 alternatives: parsed in the parser's child process first, then answered."""
    r = await client.post("/api/v1/query", data={"query": " or ".join(f'up{{job="j{i}"}}' for i in range(150))})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"resultType": "vector", "result": []}


async def test_series_selectors_go_through_the_same_guard(client):
    r = await client.get("/api/v1/series", params={"match[]": "(" * 5_000 + "up" + ")" * 5_000})
    assert "QUERY_MAX_DEPTH" in error(r, 400, "bad_data")


async def test_api_rules_with_too_deep_an_expression_are_refused(client):
    r = await client.post("/api/alerts/rules", json={"name": "Deep", "expr": "1" + " + 1" * 5_000})
    assert r.status_code == 400, r.text
    problem = r.json()["error"]
    assert problem["code"] == "invalid_rule" and "QUERY_MAX_DEPTH=200" in problem["message"]
    assert (await client.get("/livez")).status_code == 200


@pytest.fixture
async def heavy_server(tmp_path):
    settings = make_settings(tmp_path, query_max_concurrency=4)
    running = await start_server(settings, clock=FixedClock(50_000), collect_system=False, start_schedules=False)
    try:
        for k in range(SAMPLES):
            family = Family("heavy", "gauge", "A gauge to compute over.", "")
            family.samples.extend(("heavy", {"i": str(i)}, float((k * 7 + i) % 101)) for i in range(SERIES))
            running.engine.store.ingest("app", [family], k * 15_000)
        yield running
    finally:
        await running.stop()


async def test_queries_past_their_timeout_stop_and_readiness_answers_meanwhile(heavy_server):
    """Twice QUERY_MAX_CONCURRENCY heavy range queries with timeout=3s: all answer 503 timeout,
    /readyz answers while they hold the pool, and the pool is free again afterwards."""
    async with httpx.AsyncClient(base_url=heavy_server.url, timeout=60) as client:
        heavy = [asyncio.create_task(client.post("/api/v1/query_range", data={**HEAVY, "timeout": "3s"}))
                 for _ in range(8)]
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        for response in await asyncio.gather(*heavy):
            assert "timed out" in error(response, 503, "timeout")
        cheap = await client.post("/api/v1/query", data={"query": "count(heavy)", "time": "45000"})
        assert cheap.status_code == 200, cheap.text
        assert cheap.json()["data"]["result"][0]["value"] == [45000, str(SERIES)]
