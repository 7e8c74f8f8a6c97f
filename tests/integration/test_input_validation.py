"""Values that used to be accepted and then broke things (issue 8, defect 6), on our real server.

Each refusal is a 400 naming the field; a stored row that cannot be read (written by an older
version) is skipped, never a 500 for the whole list or a failed start."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import httpx
import pytest

from engine.clock import FixedClock
from engine.tsdb.types import Family
from server.runner import start_server
from tests.conftest import promtool_path
from tests.integration.conftest import make_settings

T0 = 1_800_000_000.0
RULE = {"name": "HighTemp", "metricName": "temp_celsius", "condition": ">", "threshold": 50}
FULL_RULE = {"name": "Slow", "expr": "up == 0"}


@pytest.fixture
async def env(tmp_path):
    clock = FixedClock(T0)
    server = await start_server(make_settings(tmp_path), clock, collect_system=False, start_schedules=False)
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers={"X-User": "alice@ops"}) as client:
        yield server, client
    await server.stop()


def refused(r: httpx.Response, field: str) -> str:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["details"]["field"] == field, error
    return error["message"]


def raw_json(text: str) -> dict:
    """A body sent byte for byte, so escapes such as a lone surrogate reach the server unchanged."""
    return {"content": text.encode(), "headers": {"Content-Type": "application/json"}}


async def test_an_overflowing_threshold_is_refused_naming_it(env):
    _, client = env
    r = await client.post("/api/alerts/rules", **raw_json(json.dumps(RULE).replace("50", "1e400")))
    assert "threshold" in refused(r, "threshold")


@pytest.mark.parametrize(("body", "field"), [
    ('{"name": "Hot\\udc80", "metricName": "temp_celsius", "condition": ">", "threshold": 50}', "name"),
    ('{"name": "Hot", "expr": "up", "labels": {"team": "\\ud800x"}}', "labels.team"),
    ('{"name": "Hot", "expr": "up", "annotations": {"\\udfff": "x"}}', "annotations"),
    ('{"name": "Hot", "expr": "up", "notificationChannels": [{"type": "slack", "destination": "#\\udc80"}]}',
     "notificationChannels[0].destination"),
])
async def test_lone_surrogates_in_a_rule_are_refused_naming_the_field(env, body, field):
    server, client = env
    r = await client.post("/api/alerts/rules", **raw_json(body))
    assert "UTF-8" in refused(r, field)
    assert server.engine.managed_rules.list() == []


@pytest.mark.parametrize(("key", "value"), [
    ("for", 1e300), ("for", "293y"), ("keepFiringFor", 1e300),
    ("for", 1e308), ("keepFiringFor", 1e308),  # milliseconds past float range: round() overflowed, a 500
    ("for", 9_223_372_036.855),  # 1 ms past int64 nanoseconds, the longest being 9223372036.854 s
])
async def test_a_rule_duration_past_prometheus_range_is_refused(env, key, value):
    _, client = env
    r = await client.post("/api/alerts/rules", json={**FULL_RULE, key: value})
    assert "106751d23h47m16s854ms" in refused(r, key)


@pytest.mark.parametrize(("key", "value"), [("for", -1e308), ("keepFiringFor", -1e308), ("for", -1e300)])
async def test_a_negative_rule_duration_of_any_size_is_refused_for_its_sign(env, key, value):
    server, client = env
    assert refused(await client.post("/api/alerts/rules", json={**FULL_RULE, key: value}), key) \
        == f"{key}: must be zero or more"
    assert server.engine.managed_rules.list() == []


@pytest.mark.parametrize("value", [1e300, 1e308, -1e308])
async def test_a_simple_rule_duration_past_the_range_names_duration(env, value):
    _, client = env
    assert refused(await client.post("/api/alerts/rules", json={**RULE, "duration": value}), "duration")


async def test_long_valid_durations_pass_the_real_promtool(env):
    server, client = env
    for name, value in (("Year", "52w"), ("Longest", "106751d23h47m16s854ms"), ("Seconds", 31_449_600),
                        ("LongestInSeconds", 9_223_372_036.854)):
        r = await client.post("/api/alerts/rules", json={**FULL_RULE, "name": name, "for": value})
        assert r.status_code == 201, r.text
    path = server.engine.managed_rules.path
    assert "for: 52w" in path.read_text() and "for: 106751d23h47m16s854ms" in path.read_text()
    check = subprocess.run([promtool_path(), "check", "rules", str(path)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(("body", "field"), [
    ({"duration": 1e300}, "duration"),
    ({"duration": "293y"}, "duration"),
    ({"duration": "-5m"}, "duration"),
    ({"endsAt": 1e300}, "endsAt"),
    ({"endsAt": "10000-01-01T00:00:00Z"}, "endsAt"),
    ({"startsAt": -1e300, "endsAt": T0 + 60}, "startsAt"),
    ({"duration": "1h", "comment": "x" * 10_001}, "comment"),
])
async def test_silence_values_out_of_range_are_refused_and_nothing_is_saved(env, body, field):
    server, client = env
    r = await client.post("/api/alerts/silences", json={"matchers": [{"name": "a", "value": "b"}], **body})
    refused(r, field)
    assert server.engine.book.silences == {}
    assert (await client.get("/api/alerts/silences")).json() == {"silences": []}


async def test_an_overflowing_silence_end_in_raw_json_is_refused(env):
    _, client = env
    r = await client.post("/api/alerts/silences", **raw_json('{"matchers": ["a=b"], "endsAt": 1e400}'))
    refused(r, "endsAt")
    r = await client.post("/api/alerts/silences", **raw_json('{"matchers": ["a=\\"\\udc80\\""], "duration": "1h"}'))
    refused(r, "matchers[0]")


async def test_the_longest_silence_still_lists(env):
    _, client = env
    r = await client.post("/api/alerts/silences", json={"matchers": ["a=b"], "endsAt": "9999-12-31T23:59:59Z",
                                                         "comment": "longest"})
    assert r.status_code == 201, r.text
    (listed,) = (await client.get("/api/alerts/silences")).json()["silences"]
    assert listed["endsAt"] == "9999-12-31T23:59:59.000Z"


async def _firing_alert(server, client) -> str:
    assert (await client.post("/api/alerts/rules", json=RULE)).status_code == 201
    fam = Family("temp_celsius", "gauge", "Room temperature.")
    fam.add(60, {"room": "a"})
    server.engine.store.ingest("test:a", [fam], int(T0 * 1000))
    await server.engine.ruler.evaluate_all(T0 + 10)
    (alert,) = (await client.get("/api/alerts")).json()["alerts"]
    return alert["id"]


@pytest.mark.parametrize(("body", "field"), [
    ('{"expiresIn": 1e300}', "expiresIn"),
    ('{"expiresIn": "1e300"}', "expiresIn"),
    ('{"comment": "\\udc80"}', "comment"),
    ('{"comment": "' + "x" * 10_001 + '"}', "comment"),
])
async def test_acknowledgement_values_out_of_range_are_refused(env, body, field):
    server, client = env
    alert_id = await _firing_alert(server, client)
    refused(await client.post(f"/api/alerts/{alert_id}/acknowledge", **raw_json(body)), field)
    r = await client.get("/api/alerts")
    assert r.status_code == 200 and r.json()["alerts"][0]["acknowledgement"] is None
    if field == "comment":
        refused(await client.post(f"/api/alerts/{alert_id}/resolve", **raw_json(body)), field)


def _store_bad_rows(data_dir) -> None:
    """Rows as an older version could leave them: an end past year 9999, a regex RE2 refuses, garbage."""
    db = sqlite3.connect(data_dir / "alerts.db")
    good = {"id": "good", "matchers": [{"name": "a", "value": "b", "is_regex": False, "is_equal": True}],
            "starts_at": T0, "ends_at": T0 + 3600, "created_by": "bob", "comment": "", "updated_at": T0}
    rows = [good, {**good, "id": "far", "ends_at": T0 + 1e300},
            {**good, "id": "lookahead", "matchers": [{"name": "a", "value": "(?=x)", "is_regex": True,
                                                      "is_equal": True}]}]
    db.executemany("INSERT INTO silences (id, ends_at, record) VALUES (?, ?, ?)",
                   [(r["id"], r["ends_at"], json.dumps(r)) for r in rows] + [("junk", T0, "{not json")])
    db.execute("INSERT INTO instances (id, state, resolved_at, record) VALUES ('broken', 'firing', NULL, '[]')")
    db.execute("INSERT INTO instances (id, state, resolved_at, record) VALUES ('old', 'resolved', ?, '{}')",
               (T0 - 60,))
    db.commit()
    db.close()


async def test_bad_stored_rows_are_skipped_and_the_server_starts(tmp_path, caplog):
    settings = make_settings(tmp_path)
    server = await start_server(settings, FixedClock(T0), collect_system=False, start_schedules=False)
    await server.stop()
    _store_bad_rows(settings.data_dir)

    server = await start_server(settings, FixedClock(T0), collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            r = await client.get("/api/alerts/silences")
            assert r.status_code == 200, r.text
            assert [s["id"] for s in r.json()["silences"]] == ["good"]
            r = await client.get("/api/alerts", params={"state": "pending,firing,resolved"})
            assert r.status_code == 200 and r.json()["alerts"] == []
            assert (await client.get("/api/alerts/broken")).status_code == 404
            assert (await client.get("/api/alerts", params={"state": "resolved"})).status_code == 200
    finally:
        await server.stop()
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert sorted(r.fields["row_id"] for r in skipped) == ["broken", "far", "junk", "lookahead", "old"]


async def test_a_requester_name_that_is_not_utf8_is_refused(env):
    server, client = env
    alert_id = await _firing_alert(server, client)
    r = await client.post(f"/api/alerts/{alert_id}/acknowledge", json={}, headers={"X-User": b"bob\x80"})
    refused(r, "X-User")
    r = await client.post("/api/alerts/silences", json={"matchers": ["a=b"], "duration": "1h", "comment": "c"},
                          headers={"X-User": b"bob\xff"})
    refused(r, "X-User")
    assert (await client.get("/api/alerts")).status_code == 200
