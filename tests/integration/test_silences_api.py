"""Silences over the real HTTP API: a comment is required (as in Alertmanager), matchers typed in
Alertmanager's syntax, edit and extend (PUT), and what the alert's timeline and stream say."""

from __future__ import annotations

import aiohttp

from engine.alerts.silences import MAX_MATCHERS, MAX_SILENCES, Silence, SilenceMatcher
from tests.integration.test_alerts_api import env, firing, make_rule, step, temp  # noqa: F401 -- env is a fixture


async def two_rooms_firing(server, client, clock) -> dict[str, dict]:
    await make_rule(client)
    temp(server, clock, 60, "a")
    temp(server, clock, 70, "b")
    await step(server, clock)
    return {a["labels"]["room"]: a for a in await firing(client)}


async def test_a_silence_without_a_comment_is_refused_and_nothing_is_saved(env):  # noqa: F811
    _, client, _, _ = env
    for body in ({}, {"comment": ""}, {"comment": "   "}):
        r = await client.post("/api/alerts/silences", json={"matchers": ['room="b"'], "duration": "1h", **body})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"]["field"] == "comment"
    assert (await client.get("/api/alerts/silences")).json()["silences"] == []


async def test_quoted_matcher_text_silences_the_alert_and_the_timeline_says_who_and_why(env):  # noqa: F811
    server, client, clock, _ = env
    rooms = await two_rooms_firing(server, client, clock)
    r = await client.post("/api/alerts/silences", json={"matchers": ['alertname="HighTemp"', 'room=~"b|c"'],
                                                        "duration": "1h", "comment": "fan replaced"})
    assert r.status_code == 201, r.text
    silence = r.json()["silence"]
    assert [m["value"] for m in silence["matchers"]] == ["HighTemp", "b|c"] and r.json()["silencedAlerts"] == 1
    rooms = {a["labels"]["room"]: a for a in await firing(client)}
    assert rooms["b"]["silencedBy"] == [silence["id"]] and rooms["a"]["silencedBy"] == []
    timeline = (await client.get(f"/api/alerts/{rooms['b']['id']}")).json()["alert"]["timeline"]
    (event,) = [e for e in timeline if e["event"] == "silenced"]
    assert event["by"] == "alice@ops" and event["detail"] == "fan replaced"
    assert silence["id"] not in str(timeline)


async def test_extending_keeps_the_silence_and_new_matchers_replace_it(env):  # noqa: F811
    server, client, clock, _ = env
    await two_rooms_firing(server, client, clock)
    r = await client.post("/api/alerts/silences", json={"matchers": ['room="b"'], "duration": "1h",
                                                        "comment": "fan replaced"})
    first = r.json()["silence"]
    r = await client.put(f"/api/alerts/silences/{first['id']}", json={"matchers": ['room="b"'], "duration": "3h"},
                         headers={"X-User": "bob@ops"})
    assert r.status_code == 200, r.text
    extended = r.json()["silence"]
    assert extended["id"] == first["id"] and extended["endsAt"] > first["endsAt"]
    assert extended["comment"] == "fan replaced" and extended["createdBy"] == "bob@ops"

    r = await client.put(f"/api/alerts/silences/{first['id']}",
                         json={"matchers": ['room=~"a|b"'], "duration": "1h", "comment": "both rooms"})
    replacement = r.json()["silence"]
    assert r.json()["silencedAlerts"] == 2
    assert replacement["id"] != first["id"]
    states = {s["id"]: s["status"]["state"] for s in (await client.get("/api/alerts/silences")).json()["silences"]}
    assert states == {first["id"]: "expired", replacement["id"]: "active"}
    assert all(a["silencedBy"] == [replacement["id"]] for a in await firing(client))


async def test_editing_a_silence_refuses_bad_input_and_unknown_ids(env):  # noqa: F811
    _, client, _, _ = env
    r = await client.post("/api/alerts/silences", json={"matchers": ['room="b"'], "duration": "1h", "comment": "x"})
    silence_id = r.json()["silence"]["id"]
    assert r.json()["silencedAlerts"] == 0  # no alert fires: a matcher typo looks the same, and is said
    r = await client.put(f"/api/alerts/silences/{silence_id}", json={"matchers": ["room=b"], "duration": "1h",
                                                                      "comment": ""})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "comment"
    r = await client.put(f"/api/alerts/silences/{silence_id}", json={"matchers": ['room="b'], "duration": "1h"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "matchers[0]"
    r = await client.put("/api/alerts/silences/nope", json={"matchers": ["room=b"], "duration": "1h"})
    assert r.status_code == 404


async def test_each_evaluation_streams_the_alerts_new_value(env):  # noqa: F811
    server, client, clock, _ = env
    await two_rooms_firing(server, client, clock)
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["alerts"]})
        assert (await ws.receive_json(timeout=10))["type"] == "snapshot"
        temp(server, clock, 75, "b")
        await step(server, clock)
        msg = await ws.receive_json(timeout=10)
    assert msg["data"]["event"] == "updated"  # only b's value moved: one update, no timeline event
    assert msg["data"]["alert"]["labels"]["room"] == "b" and msg["data"]["alert"]["value"] == 75


async def test_a_matcher_error_counts_matchers_from_one_and_keeps_the_field_for_the_api(env):  # noqa: F811
    _, client, _, _ = env
    r = await client.post("/api/alerts/silences", json={"matchers": ['room="b"', "team=ops", "bad"],
                                                         "duration": "1h", "comment": "x"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["message"].startswith("matcher 3: cannot parse 'bad' "), error
    assert error["details"]["field"] == "matchers[2]"
    r = await client.post("/api/alerts/silences", json={"matchers": ['room=~"("'], "duration": "1h", "comment": "x"})
    assert r.json()["error"]["message"].startswith("matcher 1 value: "), r.text


async def test_a_silence_has_at_most_64_matchers_refused_before_any_is_compiled(env):  # noqa: F811
    server, client, _, _ = env
    most = [f'l{i}=~"v{i}"' for i in range(MAX_MATCHERS)]
    for matchers in (most + ['x="y"'], [f'l{i}=~"v{i}"' for i in range(40_000)]):  # the second: 870 KB
        r = await client.post("/api/alerts/silences", json={"matchers": matchers, "duration": "1h", "comment": "x"})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"]["field"] == "matchers" and "64" in r.json()["error"]["message"]
    assert server.engine.book.silences == {}
    r = await client.post("/api/alerts/silences", json={"matchers": most, "duration": "1h", "comment": "x"})
    assert r.status_code == 201, r.text
    r = await client.put(f"/api/alerts/silences/{r.json()['silence']['id']}",
                         json={"matchers": [*most, 'x="y"'], "duration": "1h"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "matchers", r.text


async def test_at_most_10000_silences_are_in_force_and_expired_ones_do_not_count(env):  # noqa: F811
    server, client, clock, _ = env
    now, book = clock.now(), server.engine.book
    for i in range(MAX_SILENCES):  # stored as the book holds them: 10,000 requests would take minutes
        silence = Silence(f"s{i}", [SilenceMatcher("room", f"r{i}")], now, now + 3600, "alice@ops", "x", now)
        book.silences[silence.id] = silence
    expired = Silence("old", [SilenceMatcher("room", "old")], now - 7200, now - 3600, "alice@ops", "x", now)
    book.silences[expired.id] = expired
    body = {"matchers": ['room="b"'], "duration": "1h", "comment": "x"}
    r = await client.post("/api/alerts/silences", json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "too_many_silences", r.text
    assert "10000" in r.json()["error"]["message"]
    r = await client.put("/api/alerts/silences/old", json=body)  # an expired one edited makes a new one
    assert r.status_code == 409 and r.json()["error"]["code"] == "too_many_silences", r.text
    r = await client.put("/api/alerts/silences/s0", json={**body, "matchers": ['room="r0"']})
    assert r.status_code == 200, r.text  # an edit in place adds none
    assert (await client.delete("/api/alerts/silences/s1")).status_code == 200
    r = await client.post("/api/alerts/silences", json=body)
    assert r.status_code == 201, r.text
    assert len(book.silences) == MAX_SILENCES + 2


async def test_silences_expired_longer_than_alerts_ttl_are_forgotten_in_memory_too(env):  # noqa: F811
    """Made and expired in a loop, silences would otherwise pile up in memory until a restart."""
    server, client, clock, _ = env
    body = {"matchers": ['room="b"'], "duration": "1h", "comment": "x"}
    old = (await client.post("/api/alerts/silences", json=body)).json()["silence"]["id"]
    assert (await client.delete(f"/api/alerts/silences/{old}")).status_code == 200
    clock.advance(server.engine.settings.alerts_ttl + 1)
    recent = (await client.post("/api/alerts/silences", json=body)).json()["silence"]["id"]
    await server.engine.book.purge()
    assert [s["id"] for s in (await client.get("/api/alerts/silences")).json()["silences"]] == [recent]
    assert set(server.engine.book.silences) == {recent}
