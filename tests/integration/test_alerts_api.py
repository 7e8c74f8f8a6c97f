"""Alerts, acknowledgements, manual resolution, silences and rules over the real HTTP API.

The server runs on a fixed clock with no system collection; rule groups are evaluated explicitly
at chosen times, so every state change is deterministic.
"""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import httpx
import pytest

from engine.clock import FixedClock
from engine.tsdb.types import Family
from server.runner import start_server
from tests.integration.conftest import make_settings
from tests.integration.replicas import until

T0 = 1_800_000_000.0


@pytest.fixture
async def env(tmp_path):
    extra = tmp_path / "extra.rules.yaml"
    extra.write_text("groups:\n- name: extra\n  rules:\n  - record: job:up:sum\n    expr: sum(up)\n")
    clock = FixedClock(T0)
    server = await start_server(make_settings(tmp_path, rules_files=str(extra)), clock, collect_system=False,
                                start_schedules=False)
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers={"X-User": "alice@ops"}) as client:
        yield server, client, clock, extra
    await server.stop()


def temp(server, clock, value, room="a"):
    fam = Family("temp_celsius", "gauge", "Room temperature.")
    fam.add(value, {"room": room})
    server.engine.store.ingest(f"test:{room}", [fam], int(clock.now() * 1000))


async def step(server, clock, seconds=10.0):
    clock.advance(seconds)
    await server.engine.ruler.evaluate_all(clock.now())


async def make_rule(client, **overrides):
    body = {"name": "HighTemp", "metricName": "temp_celsius", "condition": ">", "threshold": 50,
            "duration": "0s", "severity": "critical", "annotations": {"summary": "{{ $labels.room }} is hot"},
            "notificationChannels": [{"type": "slack", "destination": "#alerts"}]}
    body.update(overrides)
    r = await client.post("/api/alerts/rules", json=body)
    assert r.status_code == 201, r.text
    return r.json()["rule"]


async def firing(client):
    return (await client.get("/api/alerts")).json()["alerts"]


async def test_rule_created_in_simple_form_fires_and_is_listed(env):
    server, client, clock, _ = env
    rule = await make_rule(client)
    assert rule["expr"] == "temp_celsius > 50" and rule["editable"] is True
    assert rule["notificationChannels"] == [{"type": "slack", "destination": "#alerts"}]
    temp(server, clock, 60)
    await step(server, clock)
    (alert,) = await firing(client)
    assert alert["state"] == "firing" and alert["severity"] == "critical" and alert["value"] == 60
    assert alert["labels"] == {"alertname": "HighTemp", "room": "a", "severity": "critical"}
    assert alert["annotations"] == {"summary": "a is hot"}
    assert alert["acknowledgement"] is None and alert["silencedBy"] == []
    rules = (await client.get("/api/alerts/rules")).json()["rules"]
    mine = next(r for r in rules if r["id"] == rule["id"])
    assert mine["state"] == "firing" and mine["health"] == "ok" and mine["activeAlerts"] == 1
    prom = (await client.get("/api/v1/alerts")).json()
    assert prom["status"] == "success" and prom["data"]["alerts"][0]["labels"]["alertname"] == "HighTemp"
    groups = (await client.get("/api/v1/rules")).json()["data"]["groups"]
    assert any(r["name"] == "HighTemp" and r["state"] == "firing" for g in groups for r in g["rules"])


async def test_acknowledge_keeps_firing_and_records_who(env):
    server, client, clock, _ = env
    await make_rule(client)
    temp(server, clock, 60)
    await step(server, clock)
    (alert,) = await firing(client)
    r = await client.post(f"/api/alerts/{alert['id']}/acknowledge", json={"comment": "on it", "expiresIn": "30m"})
    assert r.status_code == 200, r.text
    ack = r.json()["alert"]["acknowledgement"]
    assert ack["by"] == "alice@ops" and ack["comment"] == "on it" and ack["expiresAt"]
    temp(server, clock, 61)
    await step(server, clock)
    (still,) = await firing(client)
    assert still["id"] == alert["id"] and still["state"] == "firing" and still["acknowledgement"]["by"] == "alice@ops"
    detail = (await client.get(f"/api/alerts/{alert['id']}")).json()["alert"]
    assert [e["event"] for e in detail["timeline"]] == ["pending", "firing", "acknowledged"]
    clock.advance(1800)  # the acknowledgement expires
    temp(server, clock, 62)
    await step(server, clock)
    (later,) = await firing(client)
    assert later["acknowledgement"] is None


async def test_manual_resolve_starts_a_new_instance_while_the_condition_holds(env):
    server, client, clock, _ = env
    await make_rule(client, duration="20s")
    temp(server, clock, 60)
    await step(server, clock)
    temp(server, clock, 60)
    await step(server, clock, 20)
    (alert,) = await firing(client)
    assert alert["state"] == "firing"
    r = await client.post(f"/api/alerts/{alert['id']}/resolve", json={"comment": "fixed the fan"})
    assert r.json()["alert"]["state"] == "resolved" and r.json()["alert"]["resolvedBy"] == "alice@ops"
    assert await firing(client) == []
    temp(server, clock, 60)
    await step(server, clock)
    (again,) = await firing(client)
    assert again["id"] != alert["id"] and again["state"] == "pending"
    r = await client.post(f"/api/alerts/{alert['id']}/acknowledge", json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "alert_resolved"
    resolved = (await client.get("/api/alerts", params={"state": "resolved"})).json()["alerts"]
    assert [a["id"] for a in resolved] == [alert["id"]]


async def test_silence_marks_matching_alerts_and_expires(env):
    server, client, clock, _ = env
    await make_rule(client)
    temp(server, clock, 60, "a")
    temp(server, clock, 70, "b")
    await step(server, clock)
    r = await client.post("/api/alerts/silences", json={
        "matchers": [{"name": "room", "value": "b", "isRegex": False}], "duration": "1h", "comment": "maintenance"})
    assert r.status_code == 201, r.text
    silence = r.json()["silence"]
    assert silence["createdBy"] == "alice@ops" and silence["status"]["state"] == "active"
    by_room = {a["labels"]["room"]: a for a in await firing(client)}
    assert by_room["b"]["silencedBy"] == [silence["id"]] and by_room["a"]["silencedBy"] == []
    r = await client.delete(f"/api/alerts/silences/{silence['id']}")
    assert r.json()["silence"]["status"]["state"] == "expired"
    by_room = {a["labels"]["room"]: a for a in await firing(client)}
    assert by_room["b"]["silencedBy"] == []
    listed = (await client.get("/api/alerts/silences")).json()["silences"]
    assert [s["id"] for s in listed] == [silence["id"]]


@pytest.mark.parametrize("body,field", [
    ({"name": "X", "metricName": "m", "condition": "=>", "threshold": 1}, "condition"),
    ({"name": "X", "metricName": "m", "condition": ">", "threshold": "high"}, "threshold"),
    ({"name": "X", "expr": "rate(m[5m]", "for": "1m"}, "expr"),
    ({"name": "X", "expr": "m > 1", "for": "soon"}, "for"),
    ({"metricName": "m", "condition": ">", "threshold": 1}, "name"),
])
async def test_invalid_rule_bodies_are_400_naming_the_field(env, body, field):
    _, client, _, _ = env
    r = await client.post("/api/alerts/rules", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_rule" and err["details"]["field"] == field


async def test_bad_requests_get_clear_errors(env):
    _, client, _, _ = env
    r = await client.post("/api/alerts/rules", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.json()["error"]["code"] == "invalid_json"
    r = await client.post("/api/alerts/nope/acknowledge", json={})
    assert r.status_code == 404
    r = await client.post("/api/alerts/silences", json={"matchers": [], "duration": "1h"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "matchers"
    r = await client.post("/api/alerts/silences", json={"matchers": ["room=~\"(\""], "duration": "1h"})
    assert r.status_code == 400
    r = await client.get("/api/alerts", params={"state": "burning"})
    assert r.status_code == 400 and r.json()["error"]["details"]["parameter"] == "state"


async def test_rules_from_files_are_read_only(env):
    _, client, _, _ = env
    rules = (await client.get("/api/alerts/rules")).json()["rules"]
    default = next(r for r in rules if r["name"] == "HighCPUUsage")
    assert default["editable"] is False and "rules.yaml" in default["readOnlyReason"]
    r = await client.put(f"/api/alerts/rules/{default['id']}", json={"name": "X", "expr": "up", "for": "1m"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "read_only_rule"


async def test_update_and_delete_a_managed_rule(env):
    server, client, clock, _ = env
    rule = await make_rule(client)
    r = await client.put(f"/api/alerts/rules/{rule['id']}", json={"name": "HighTemp", "expr": "temp_celsius > 90",
                                                                 "for": "1m", "labels": {"severity": "warning"}})
    assert r.status_code == 200 and r.json()["rule"]["expr"] == "temp_celsius > 90"
    r = await client.delete(f"/api/alerts/rules/{rule['id']}")
    assert r.status_code == 200
    assert (await client.get(f"/api/alerts/rules/{rule['id']}")).status_code == 404


async def test_deleting_a_rule_resolves_its_alerts_and_stores_why(env):
    server, client, clock, _ = env
    rule = await make_rule(client)
    temp(server, clock, 60)
    await step(server, clock)
    (alert,) = await firing(client)
    assert (await client.delete(f"/api/alerts/rules/{rule['id']}")).status_code == 200
    assert await firing(client) == []
    resolved = (await client.get("/api/alerts?state=resolved")).json()["alerts"]
    assert [(a["id"], a["state"]) for a in resolved] == [(alert["id"], "resolved")]
    timeline = (await client.get(f"/api/alerts/{alert['id']}")).json()["alert"]["timeline"]
    assert timeline[-1]["event"] == "resolved" and timeline[-1]["detail"] == "rule removed"


async def test_a_broken_reload_keeps_the_previous_rules(env):
    server, client, _, extra = env
    before = len((await client.get("/api/alerts/rules")).json()["rules"])
    extra.write_text("groups:\n- name: extra\n  rules:\n  - record: job:up:sum\n    expr: sum(up\n")
    r = await client.post("/api/alerts/rules/reload")
    assert r.status_code == 400
    assert any("extra.rules.yaml:5" in e for e in r.json()["error"]["details"]["errors"])
    listing = (await client.get("/api/alerts/rules")).json()
    assert len(listing["rules"]) == before and "extra.rules.yaml" in listing["lastReloadError"]


async def test_alerts_topic_streams_state_changes(env):
    server, client, clock, _ = env
    await make_rule(client)
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["alerts"]})
        snapshot = await ws.receive_json(timeout=10)
        assert snapshot["type"] == "snapshot" and snapshot["data"] == {"alerts": []}
        temp(server, clock, 60)
        await step(server, clock)
        events = [(await ws.receive_json(timeout=10))["data"]["event"] for _ in range(2)]
        assert events == ["pending", "firing"]
        alert_id = (await firing(client))[0]["id"]
        await client.post(f"/api/alerts/{alert_id}/acknowledge", json={})
        ack = await ws.receive_json(timeout=10)
        assert ack["data"]["event"] == "acknowledged" and ack["data"]["alert"]["id"] == alert_id


async def test_alert_state_survives_a_restart_without_new_events(tmp_path):
    clock = FixedClock(T0)
    settings = make_settings(tmp_path)
    server = await start_server(settings, clock, collect_system=False, start_schedules=False)
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers={"X-User": "bob"}) as client:
        await make_rule(client)
        temp(server, clock, 60)
        await step(server, clock)
        (alert,) = await firing(client)
        await client.post(f"/api/alerts/{alert['id']}/acknowledge", json={"comment": "mine"})
    await server.runner.cleanup()  # no clean engine stop: as after a crash, only what was committed remains
    server.engine.store.backend.close()
    server.engine.book.db.close()
    server.engine.lock.release()  # the kernel drops it when a process dies

    again = await start_server(settings, clock, collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=again.url, timeout=10) as client:
            temp(again, clock, 65)
            await step(again, clock)
            (after,) = await firing(client)
            assert after["id"] == alert["id"] and after["state"] == "firing"
            assert after["acknowledgement"]["by"] == "bob"
            timeline = (await client.get(f"/api/alerts/{alert['id']}")).json()["alert"]["timeline"]
            assert [e["event"] for e in timeline] == ["pending", "firing", "acknowledged"]
    finally:
        await again.stop()


async def test_annotation_templates_can_query_scalars_and_vectors(env):
    server, client, clock, _ = env
    await make_rule(client, annotations={
        "rooms": '{{ query "count(temp_celsius)" | first | value }} rooms',
        "scalar": '{{ query "scalar(vector(3))" | first | value }}',
        "url": "{{ $externalURL }}"})
    temp(server, clock, 60)
    await step(server, clock)
    (alert,) = await firing(client)
    assert alert["annotations"]["rooms"] == "1 rooms"
    assert alert["annotations"]["scalar"] == "3"
    assert alert["annotations"]["url"] == server.url


async def test_a_template_over_its_budget_stores_a_short_error_and_reports_it(env):
    server, client, clock, _ = env
    huge = '{{ printf "%9999999d" 1 }}' * 10  # 100 MB without the cap
    rule = await make_rule(client, annotations={"summary": "{{ $labels.room }} is hot", "huge": huge})
    temp(server, clock, 60)
    await step(server, clock)
    response = await client.get("/api/alerts")
    assert len(response.content) < 100_000
    (alert,) = response.json()["alerts"]
    assert alert["annotations"]["summary"] == "a is hot"
    cut = alert["annotations"]["huge"]
    assert cut.startswith("<error expanding template: error executing template __alert_HighTemp: ") and len(cut) < 1000
    assert "width or precision 9999999 exceeds the limit of 16384 bytes" in cut
    mine = next(r for r in (await client.get("/api/alerts/rules")).json()["rules"] if r["id"] == rule["id"])
    assert mine["health"] == "err" and "exceeds the limit of 16384 bytes" in mine["lastError"]
    data_dir = server.engine.settings.data_dir
    assert sum(f.stat().st_size for f in data_dir.glob("alerts.db*")) < 1_000_000


SILENCE = {"matchers": [{"name": "room", "value": "a"}], "duration": "1h", "comment": "works"}


@pytest.fixture
async def on_redis(tmp_path, redis_server):
    """A server keeping its alert state in the test's own redis-server: (that process, server, client)."""
    proc, port = redis_server
    server = await start_server(make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0"),
                                FixedClock(T0), collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30, headers={"X-User": "alice@ops"}) as client:
            yield proc, server, client
    finally:
        await server.stop()


async def test_alert_routes_answer_503_while_redis_holding_the_alert_state_is_down(on_redis):
    proc, _, client = on_redis
    r = await client.post("/api/alerts/silences", json=SILENCE)
    assert r.status_code == 201, r.text
    silence = r.json()["silence"]
    proc.kill()
    proc.wait()
    sid = silence["id"]
    for method, path, json in [("GET", "/api/alerts/0123abcd", None),
                               ("GET", "/api/alerts?state=resolved", None),
                               ("POST", "/api/alerts/0123abcd/acknowledge", {"comment": "mine"}),
                               ("POST", "/api/alerts/0123abcd/resolve", {}),
                               ("POST", "/api/alerts/silences", SILENCE),
                               ("PUT", f"/api/alerts/silences/{sid}", {**SILENCE, "comment": "changed"}),
                               ("DELETE", f"/api/alerts/silences/{sid}", None)]:
        r = await client.request(method, path, json=json)
        assert r.status_code == 503, (method, path, r.text)
        error = r.json()["error"]
        assert error["code"] == "unavailable" and "Redis" in error["message"], (method, path, error)
        assert error["details"] == {"path": path.split("?")[0], "method": method}
    assert (await client.get("/api/alerts/silences")).json()["silences"] == [silence]
    assert (await client.get("/api/alerts")).status_code == 200  # live alerts are kept in memory


async def test_a_hung_redis_holds_only_the_alert_requests_not_the_server(on_redis):
    proc, server, client = on_redis
    assert (await client.post("/api/alerts/silences", json=SILENCE)).status_code == 201
    os.kill(proc.pid, signal.SIGSTOP)  # hung, not refusing: its socket takes commands unanswered
    try:
        calls = [("GET", "/api/alerts/0123abcd", None), ("GET", "/api/alerts?state=resolved", None),
                 ("POST", "/api/alerts/0123abcd/acknowledge", {"comment": "mine"}),
                 ("POST", "/api/alerts/silences", SILENCE)]
        pending = [asyncio.create_task(client.request(m, p, json=j)) for m, p, j in calls]
        pool = server.engine.book.db.client.connection_pool

        async def waiting_on_redis() -> bool:
            return bool(pool._in_use_connections)  # a command sent, its answer awaited
        await until(waiting_on_redis, "an alert request seen waiting on Redis while the loop runs", 10)
        live = await client.get("/livez")
        assert live.status_code == 200
        assert not [c for c, t in zip(calls, pending, strict=True) if t.done()], "the loop waited on Redis"
        for (method, path, _), response in zip(calls, await asyncio.gather(*pending), strict=True):
            assert response.status_code == 503, (method, path, response.text)
            assert response.json()["error"]["code"] == "unavailable"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert (await client.get("/api/alerts/0123abcd")).status_code == 404
    assert (await client.post("/api/alerts/silences", json=SILENCE)).status_code == 201


async def test_a_leader_whose_redis_hangs_stands_down_without_holding_the_server(tmp_path, redis_server):
    proc, port = redis_server
    server = await start_server(make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0", leader_lease="1s"),
                                collect_system=False)
    cluster, pool = server.engine.cluster, server.engine.book.db.client.connection_pool
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            async def leads() -> bool:
                return cluster.leading()
            await until(leads, "this replica leading")
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                async def reading_again() -> bool:  # a term that ends takes the shared alert state again
                    return not cluster.leading() and bool(pool._in_use_connections)
                await until(reading_again, "the ended term reading the alert state while the loop runs", 10)
                assert (await client.get("/livez")).status_code == 200
                assert pool._in_use_connections, "the loop waited for Redis to answer or time out"
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            await until(leads, "this replica leading again once Redis answers")
            assert (await client.get("/api/alerts?state=resolved")).status_code == 200
    finally:
        await server.stop()


async def test_a_rule_twice_is_refused_without_the_other_rules_id_in_the_message(env):
    _, client, _, _ = env
    first = await make_rule(client)
    r = await client.post("/api/alerts/rules", json={"name": "HighTemp", "metricName": "temp_celsius",
                                                      "condition": ">", "threshold": 60, "severity": "critical"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["message"] == 'name: a rule named "HighTemp" with the same labels exists', error
    assert error["details"] == {"field": "name", "existingRuleId": first["id"]}
