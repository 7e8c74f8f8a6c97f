"""The audit log on a real server: who did what to which target, refused attempts included, the
admin-only API and stream topic, and what is left out (reads, accepted metric pushes)."""

from __future__ import annotations

import time

import aiohttp
import httpx
import pytest

from engine.clock import FixedClock
from server.auth.tokens import create_token
from server.runner import start_server
from tests.integration.conftest import make_settings

SECRET = "audit-secret-" + "a" * 32


@pytest.fixture
async def secured(tmp_path):
    settings = make_settings(tmp_path, AUTH_ENABLED="true", JWT_SECRET=SECRET, RATE_LIMIT="off",
                             AUTH_FAILURE_LIMIT="off")
    running = await start_server(settings, start_schedules=False)
    running.bearer = lambda role, sub: {"Authorization": "Bearer " + create_token(settings, sub, role, 600,
                                                                                  time.time())}
    try:
        yield running
    finally:
        await running.stop()


SILENCE = {"matchers": [{"name": "alertname", "value": "DiskFull", "isRegex": False}], "duration": "1h",
           "comment": "maintenance"}


async def test_mutations_and_refusals_are_recorded_with_who_what_and_where(secured):
    admin = secured.bearer("admin", "root@ops")
    async with httpx.AsyncClient(base_url=secured.url, timeout=30) as client:
        r = await client.post("/api/alerts/silences", json=SILENCE, headers=secured.bearer("operator", "carol"))
        assert r.status_code == 201
        silence_id = r.json()["silence"]["id"]
        r = await client.delete(f"/api/alerts/silences/{silence_id}", headers=secured.bearer("viewer", "dave"))
        assert r.status_code == 403
        assert (await client.delete("/api/alerts/silences/x")).status_code == 401
        assert (await client.get("/api/alerts", headers=secured.bearer("viewer", "dave"))).status_code == 200
        r = await client.post("/api/metrics/custom", json={"name": "q", "type": "gauge", "value": 1},
                              headers=secured.bearer("ingest", "pusher"))
        assert r.status_code in (200, 201, 202)
        r = await client.post("/api/metrics/custom", json={"name": "q", "type": "gauge", "value": 1},
                              headers=secured.bearer("viewer", "dave"))
        assert r.status_code == 403

        entries = (await client.get("/api/audit", headers=admin)).json()["entries"]
        summary = [(e["actor"], e["method"], e["route"], e["target"], e["status"], e["result"]) for e in entries]
        assert summary == [
            ("dave", "POST", "/api/metrics/custom", None, 403, "denied"),
            ("unauthenticated", "DELETE", "/api/alerts/silences/{id}", "x", 401, "denied"),
            ("dave", "DELETE", "/api/alerts/silences/{id}", silence_id, 403, "denied"),
            ("carol", "POST", "/api/alerts/silences", None, 201, "ok"),
        ]  # the read and the accepted push are not audited
        first = entries[-1]
        assert first["role"] == "operator" and first["kind"] == "token" and first["remote"] == "127.0.0.1"
        assert first["time"].endswith("Z") and len(first["requestId"]) == 16

        r = await client.get("/api/audit", params={"actor": "dave", "result": "denied", "limit": "1"}, headers=admin)
        assert [(e["actor"], e["route"]) for e in r.json()["entries"]] == [("dave", "/api/metrics/custom")]
        r = await client.get("/api/audit", params={"route": "/api/alerts/silences"}, headers=admin)
        assert [e["actor"] for e in r.json()["entries"]] == ["carol"]
        r = await client.get("/api/audit", params={"since": "1h", "target": silence_id}, headers=admin)
        assert [e["status"] for e in r.json()["entries"]] == [403]


async def test_only_admins_read_the_audit_log_and_bad_filters_are_400(secured):
    async with httpx.AsyncClient(base_url=secured.url, timeout=30) as client:
        for role in ("viewer", "operator", "ingest"):
            assert (await client.get("/api/audit", headers=secured.bearer(role, "x"))).status_code == 403
        admin = secured.bearer("admin", "root")
        for params in ({"result": "maybe"}, {"limit": "0"}, {"limit": "99999999999"}, {"since": "yesterday"},
                       {"actor": "a" * 501}):
            r = await client.get("/api/audit", params=params, headers=admin)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_parameter", params


async def test_admins_follow_the_audit_topic_live(secured):
    url = secured.url.replace("http", "ws", 1) + "/ws"
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(url, headers=secured.bearer("admin", "root")) as ws:
        await ws.send_json({"type": "subscribe", "topics": ["audit"]})
        snapshot = await ws.receive_json(timeout=30)
        assert (snapshot["type"], snapshot["data"]) == ("snapshot", {"entries": []})
        async with httpx.AsyncClient(base_url=secured.url, timeout=30) as client:
            r = await client.post("/api/alerts/silences", json=SILENCE, headers=secured.bearer("operator", "carol"))
            assert r.status_code == 201
        update = await ws.receive_json(timeout=30)
        assert update["type"] == "update" and update["topic"] == "audit"
        assert (update["data"]["actor"], update["data"]["route"]) == ("carol", "/api/alerts/silences")


async def test_with_auth_off_the_actor_is_the_unverified_x_user(tmp_path):
    running = await start_server(make_settings(tmp_path), start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            r = await client.post("/api/alerts/silences", json=SILENCE, headers={"X-User": "erin@laptop"})
            assert r.status_code == 201 and r.json()["silence"]["createdBy"] == "erin@laptop"
            (entry,) = (await client.get("/api/audit")).json()["entries"]
            assert (entry["actor"], entry["kind"], entry["role"]) == ("erin@laptop", "anonymous", "admin")
    finally:
        await running.stop()


async def test_entries_older_than_alerts_ttl_are_purged(tmp_path):
    clock = FixedClock(1_800_000_000.0)
    running = await start_server(make_settings(tmp_path, ALERTS_TTL="1h"), clock, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            assert (await client.post("/api/alerts/silences", json=SILENCE)).status_code == 201
            clock.set(1_800_000_000.0 + 1800)
            assert (await client.post("/api/alerts/rules/reload")).status_code == 200
            clock.set(1_800_000_000.0 + 3601)
            running.engine.purge_audit()
            (left,) = (await client.get("/api/audit")).json()["entries"]
            assert left["route"] == "/api/alerts/rules/reload"
    finally:
        await running.stop()


async def test_a_write_refused_for_want_of_redis_is_recorded_with_the_503_it_was_answered(tmp_path, redis_server):
    """The audit status is the one the client got: a shared definition refused because Redis is down is
    answered 503 and recorded 503 (the audit takes the status from the error handler's mapping)."""
    proc, port = redis_server
    running = await start_server(make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0"),
                                 collect_system=False, start_schedules=False)
    try:
        proc.kill()
        proc.wait()
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            r = await client.post("/api/health/services", json={"name": "web", "url": "http://127.0.0.1:9/"})
            assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
            entries = (await client.get("/api/audit")).json()["entries"]
            assert [(e["method"], e["route"], e["status"]) for e in entries] == [
                ("POST", "/api/health/services", 503)]
    finally:
        await running.stop()
