"""Notifications end to end: rules fire on a fixed clock, alerts are routed, grouped, committed to the
outbox and delivered to real receivers on 127.0.0.1 (recording HTTP servers as webhook and Slack)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import httpx
import pytest

from engine.clock import FixedClock
from server.runner import start_server
from tests.integration.conftest import make_settings
from tests.integration.receivers import Recorder
from tests.integration.test_alerts_api import temp

T0 = 1_800_000_000.0


def config(hook: str, am: str) -> str:
    """The issue's example, as written, with the receivers' real addresses."""
    return ('{channels: [{name: ops-hook, type: webhook, url: "' + hook + '/hook", secret: "s3cret"}, '
            '{name: am, type: alertmanager, url: "' + am + '"}], route: {receiver: ops-hook, group_by: [alertname], '
            'group_wait: 0s, group_interval: 1s, routes: [{receiver: am, matchers: [\'severity=~"critical|warning"\'], '
            'continue: true}]}}')


@pytest.fixture
async def receivers():
    made = []

    async def make(**kw) -> Recorder:
        rec = await Recorder(**kw).start()
        made.append(rec)
        return rec
    yield make
    for rec in made:
        await rec.stop()


@pytest.fixture
async def start(tmp_path):
    running = []

    async def go(t0=T0, **env):
        clock = FixedClock(t0)
        server = await start_server(make_settings(tmp_path, **env), clock, collect_system=False,
                                    start_schedules=False)
        await server.engine.notifier.start()
        client = httpx.AsyncClient(base_url=server.url, timeout=10, headers={"X-User": "alice@ops"})
        running.append((server, client))
        return server, client, clock
    yield go
    for server, client in running:
        await client.aclose()
        await server.stop()


async def step(server, clock, seconds=10.0):
    clock.advance(seconds)
    await server.engine.ruler.evaluate_all(clock.now())
    await server.engine.notifier.flush_due()


async def log_until(client, done, timeout=20.0, **params):
    """The delivery log once ``done(entries)`` holds (polled: delivery finishes after the receiver answers)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        entries = (await client.get("/api/notifications", params=params)).json()["notifications"]
        if done(entries):
            return entries
        if loop.time() > deadline:
            pytest.fail(f"delivery log never reached the expected state: {entries}")
        await asyncio.sleep(0.02)


async def make_rule(client, **overrides):
    body = {"name": "HighTemp", "metricName": "temp_celsius", "condition": ">", "threshold": 50,
            "duration": "0s", "severity": "critical", "annotations": {"summary": "{{ $labels.room }} is hot"}}
    body.update(overrides)
    r = await client.post("/api/alerts/rules", json=body)
    assert r.status_code == 201, r.text
    return r.json()["rule"]


async def test_the_issue_config_delivers_signed_webhooks_and_forwards_to_alertmanager(start, receivers):
    """As in Alertmanager (amtool agrees), the root's receiver gets what no child route matched: the
    critical alert goes to ``am`` only, the info one to ``ops-hook``."""
    hook, am = await receivers(), await receivers()
    server, client, clock = await start(notifications=config(hook.url, am.url))
    await make_rule(client)
    await make_rule(client, name="WarmTemp", threshold=30, severity="info")
    temp(server, clock, 80)
    await step(server, clock)
    (got,) = await hook.wait_for(1)
    body = got.json()
    assert got.path == "/hook"
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "ops-hook"
    assert body["groupKey"] == '{}:{alertname="WarmTemp"}'
    assert body["groupLabels"] == {"alertname": "WarmTemp"}
    (alert,) = body["alerts"]
    assert alert["labels"] == {"alertname": "WarmTemp", "room": "a", "severity": "info"}
    assert alert["annotations"] == {"summary": "a is hot"}
    assert alert["endsAt"] == "0001-01-01T00:00:00Z" and alert["fingerprint"]
    ours = body["metricsService"]
    assert ours["idempotencyKey"] and ours["alerts"][0]["acknowledgement"] is None
    ts = got.headers["X-Metrics-Timestamp"]
    expected = "sha256=" + hmac.new(b"s3cret", f"{ts}.".encode() + got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Metrics-Signature"], expected)
    (forwarded,) = await am.wait_for(1)
    assert forwarded.path == "/api/v2/alerts"
    assert [a["labels"]["alertname"] for a in forwarded.json()] == ["HighTemp"]

    temp(server, clock, 20)
    await step(server, clock, 400)  # past the 5 m lookback: the condition clears
    resolved = (await hook.wait_for(2))[1].json()
    assert resolved["status"] == "resolved" and resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    assert resolved["metricsService"]["idempotencyKey"] != ours["idempotencyKey"]
    ended = (await am.wait_for(2))[1].json()
    assert ended[0]["endsAt"] == resolved["alerts"][0]["endsAt"] or ended[0]["endsAt"].startswith("2027")
    log = await log_until(client, lambda e: all(x["status"] == "sent" for x in e), channel="ops-hook")
    assert [e["alertStatus"] for e in log] == ["resolved", "firing"]
    routing = (await client.get("/api/notifications/routing")).json()
    assert routing["route"]["receiver"] == "ops-hook" and routing["route"]["groupWait"] == 0
    (child,) = routing["route"]["routes"]
    assert child["receiver"] == "am" and child["matchers"] == ['severity=~"critical|warning"'] and child["continue"]
    assert child["groupBy"] == ["alertname"] and child["repeatInterval"] == 14400  # inherited, defaulted
    assert all(e["status"] == "sent" and e["attempts"] == 1 for e in log)


async def test_the_seed_rule_example_delivers_to_slack(start, receivers):
    slack = await receivers()
    server, client, clock = await start(slack_webhook_url=slack.url + "/services/T0/B0/secret")
    await make_rule(client, notificationChannels=[{"type": "slack", "destination": "#alerts"}])
    temp(server, clock, 80)
    await step(server, clock)
    clock.advance(30)  # the default group_wait
    await server.engine.notifier.flush_due()
    (got,) = await slack.wait_for(1)
    msg = got.json()
    assert got.path == "/services/T0/B0/secret"
    assert msg["channel"] == "#alerts"
    assert msg["text"] == "[FIRING:1] HighTemp"
    (attachment,) = msg["attachments"]
    assert attachment["color"] == "#E01E5A"  # critical
    assert "a is hot" in str(attachment["blocks"])
    temp(server, clock, 20)
    await step(server, clock, 400)
    clock.advance(300)
    await server.engine.notifier.flush_due()
    done = (await slack.wait_for(2))[1].json()
    assert done["text"] == "[RESOLVED] HighTemp" and done["attachments"][0]["color"] == "#2EB886"
    channels = (await client.get("/api/notifications/channels")).json()["channels"]
    (ch,) = [c for c in channels if c["name"] == "slack"]
    assert ch["source"] == "env" and ch["secrets"] == {"url": True} and "url" not in ch["settings"]
    assert "B0/secret" not in str(channels)


async def test_a_failing_receiver_gets_the_notification_after_retries(start, receivers):
    hook = await receivers(fail_first=2)
    server, client, clock = await start(webhook_url=hook.url,
                                        notifications="{route: {receiver: webhook, group_wait: 0s}}")
    await make_rule(client)
    temp(server, clock, 80)
    await step(server, clock)
    for attempt in (1, 2):
        await log_until(client, lambda e, n=attempt: e and e[0]["attempts"] == n)
        clock.advance(600)
        server.engine.notifier.delivery.wake()
    (got,) = await hook.wait_for(1)
    assert len(hook.requests) == 3
    assert all(r.json()["metricsService"]["idempotencyKey"] == got.json()["metricsService"]["idempotencyKey"]
               for r in hook.requests)
    (entry,) = await log_until(client, lambda e: e[0]["status"] == "sent")
    assert entry["attempts"] == 3 and entry["lastError"] is None
    metrics = (await client.get("/metrics")).text
    assert 'notifications_total{channel="webhook",status="retry"} 2' in metrics
    assert 'notifications_total{channel="webhook",status="sent"} 1' in metrics


async def test_silenced_alerts_are_not_notified_and_acknowledged_ones_stop_repeating(start, receivers):
    hook = await receivers()
    server, client, clock = await start(
        webhook_url=hook.url,
        notifications="{route: {receiver: webhook, group_by: [room], group_wait: 0s, group_interval: 1m, "
                      "repeat_interval: 5m}}")
    r = await client.post("/api/alerts/silences", json={"matchers": ['room="b"'], "duration": "1d",
                                                                 "comment": "room b is being fixed"})
    assert r.status_code in (200, 201), r.text
    await make_rule(client)
    temp(server, clock, 80, "a")
    temp(server, clock, 80, "b")
    await step(server, clock)
    (first,) = await hook.wait_for(1)
    assert [a["labels"]["room"] for a in first.json()["alerts"]] == ["a"]
    for _ in range(6):  # 6 minutes: one repeat after 5 m
        temp(server, clock, 80, "a")
        temp(server, clock, 80, "b")
        await step(server, clock, 60)
    await hook.wait_for(2)
    assert hook.accepted[1].json()["notification_reason"] == "repeat interval elapsed"
    alert_id = hook.accepted[1].json()["metricsService"]["alerts"][0]["id"]
    r = await client.post(f"/api/alerts/{alert_id}/acknowledge", json={"comment": "on it"})
    assert r.status_code == 200, r.text
    for _ in range(11):  # 11 more minutes: no repeat for an acknowledged alert
        temp(server, clock, 80, "a")
        temp(server, clock, 80, "b")
        await step(server, clock, 60)
    assert len(hook.requests) == 2
    r = await client.post(f"/api/alerts/{alert_id}/resolve", json={"comment": "fixed"})
    assert r.status_code == 200, r.text
    await step(server, clock, 60)
    after = (await hook.wait_for(3))[2].json()  # the condition still holds: a new instance fires beside it
    by_id = {a["id"]: a for a in after["metricsService"]["alerts"]}
    sent = {ours["id"]: a for ours, a in zip(after["metricsService"]["alerts"], after["alerts"], strict=True)}
    assert sent[alert_id]["status"] == "resolved" and sent[alert_id]["labels"]["room"] == "a"
    assert len(by_id) == 2 and after["notification_reason"] == "new alerts added"
    assert all(a["labels"]["room"] != "b" for r in hook.requests for a in r.json()["alerts"])


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "webhook", "url": "http://127.0.0.1:1/x"}, "name"),
    ({"name": "x", "type": "pager"}, "type"),
    ({"name": "x", "type": "webhook"}, "url"),
    ({"name": "x", "type": "webhook", "url": "ftp://example.com"}, "url"),
    ({"name": "x", "type": "webhook", "url": "http://169.254.169.254/latest"}, "url"),
    ({"name": "x", "type": "webhook", "url": "http://127.0.0.1:1/", "colour": "red"}, "colour"),
    ({"name": "x", "type": "email", "to": "a@b", "from": "c@d", "host": "h", "port": 70000}, "port"),
    ({"name": "x", "type": "slack", "url": "http://127.0.0.1:1/", "title": "{{ .Status"}, "title"),
    ({"name": "x", "type": "webhook", "url": "http://127.0.0.1:1/", "timeout": "forever"}, "timeout"),
    ({"name": "x", "type": "slack", "url": "http://127.0.0.1:1/", "channel": "\udc80"}, "channel"),
    ({"name": "x", "type": "webhook", "url": "http://127.0.0.1:1/" + "a" * 3000}, "url"),
])
async def test_bad_channel_definitions_are_400_naming_the_field(start, body, field):
    _, client, _ = await start()
    r = await client.post("/api/notifications/channels", content=json.dumps(body),  # ASCII: "\udc80" escaped
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == field


async def test_channels_crud_keeps_secrets_write_only_and_test_sends_a_message(start, receivers):
    hook = await receivers()
    server, client, _ = await start()
    r = await client.post("/api/notifications/channels",
                          json={"name": "team", "type": "webhook", "url": hook.url + "/t", "secret": "hunter2"})
    assert r.status_code == 201, r.text
    assert r.json()["channel"]["secrets"] == {"secret": True} and "hunter2" not in r.text
    assert (await client.post("/api/notifications/channels", json={"name": "team", "type": "webhook",
                                                                     "url": hook.url})).status_code == 409
    r = await client.post("/api/notifications/channels/team/test")
    assert r.json()["ok"] is True and r.json()["status"] == 200 and r.json()["response"] == "ok"
    (got,) = await hook.wait_for(1)
    expected = "sha256=" + hmac.new(b"hunter2", f"{got.headers['X-Metrics-Timestamp']}.".encode() + got.body,
                                    hashlib.sha256).hexdigest()
    assert got.headers["X-Metrics-Signature"] == expected
    r = await client.put("/api/notifications/channels/team", json={"type": "webhook", "url": hook.url + "/u"})
    assert r.status_code == 200 and r.json()["channel"]["settings"]["url"] == hook.url + "/u"
    await client.post("/api/notifications/channels/team/test")
    second = (await hook.wait_for(2))[1]
    assert second.path == "/u" and "X-Metrics-Signature" in second.headers  # the secret was kept
    listed = (await client.get("/api/notifications/channels")).text
    assert "hunter2" not in listed
    assert (await client.delete("/api/notifications/channels/team")).json() == {"deleted": "team"}
    assert (await client.post("/api/notifications/channels/team/test")).status_code == 404


async def test_channels_changed_at_once_keep_every_answer_given(tmp_path):
    """Concurrent channel requests: one name posted at once makes one channel (the others are told
    409), and a channel whose DELETE answered 200 is not brought back by a PUT that raced it."""
    settings = make_settings(tmp_path)
    url = "http://127.0.0.1:9/"
    server = await start_server(settings, collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            names = [f"c{i}" for i in range(6)]
            for name in names:
                r = await client.post("/api/notifications/channels", json={"name": name, "type": "webhook", "url": url})
                assert r.status_code == 201, r.text
            await asyncio.gather(*(client.get("/livez") for _ in range(16)))  # connections open: all arrive at once
            same = await asyncio.gather(*(client.post("/api/notifications/channels", json={
                "name": "same", "type": "webhook", "url": f"{url}{i}"}) for i in range(3)))
            raced = await asyncio.gather(*(request for name in names for request in (
                client.delete(f"/api/notifications/channels/{name}"),
                client.put(f"/api/notifications/channels/{name}", json={"type": "webhook", "url": f"{url}put"}))))
    finally:
        await server.stop()
    server = await start_server(settings, collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            listed = {c["name"]: c["settings"]["url"]
                      for c in (await client.get("/api/notifications/channels")).json()["channels"]}
    finally:
        await server.stop()
    assert sorted(r.status_code for r in same) == [201, 409, 409], [r.text for r in same]
    (made,) = [r.json()["channel"]["settings"]["url"] for r in same if r.status_code == 201]
    deleted = {name for name, r in zip(names, raced[::2], strict=True) if r.status_code == 200}
    assert deleted == set(names)
    assert listed == {"same": made}


async def test_a_notification_is_given_up_after_notify_max_age_and_the_channel_shows_unhealthy(start, receivers):
    hook = await receivers(fail_first=10**6, fail_status=503)
    server, client, clock = await start(webhook_url=hook.url, notify_max_age="10m",
                                        notifications="{route: {receiver: webhook, group_wait: 0s}}")
    await make_rule(client)
    temp(server, clock, 80)
    await step(server, clock)
    for n in (1, 2):  # attempts at 0, 5 and 10 minutes: the third is the last
        await log_until(client, lambda e, n=n: e and e[0]["attempts"] == n)
        clock.advance(300)
        server.engine.notifier.delivery.wake()
    (entry,) = await log_until(client, lambda e: e[0]["status"] == "failed")
    assert entry["attempts"] == 3 and entry["lastError"].startswith("given up after 3 attempts: HTTP 503")
    (channel,) = (await client.get("/api/notifications/channels")).json()["channels"]
    assert channel["health"]["healthy"] is False and channel["health"]["consecutiveFailures"] == 3
    alert_id = entry["alerts"][0]["id"]
    assert [e["id"] for e in (await client.get("/api/notifications", params={"alert": alert_id})).json()[
        "notifications"]] == [entry["id"]]
    assert (await client.get("/api/notifications", params={"alert": "nope"})).json()["notifications"] == []
    detail = (await client.get(f"/api/notifications/{entry['id']}")).json()["notification"]
    assert detail["payload"]["version"] == "4" and detail["response"] == {"status": 503, "body": "failing on purpose"}


async def test_a_route_naming_no_channel_stops_start_up_naming_it(tmp_path):
    from engine.settings import SettingsError
    with pytest.raises(SettingsError, match=r"NOTIFICATIONS: notifications.route.routes\[0\].receiver: no channel"):
        await start_server(make_settings(tmp_path, webhook_url="http://127.0.0.1:9/",
                                         notifications="{route: {receiver: webhook, routes: [{receiver: pager}]}}"))


async def test_a_receiver_that_does_not_answer_delays_only_its_own_channel(start, receivers):
    stuck, fine = await receivers(hang=True), await receivers()
    server, client, clock = await start(
        notifications="{channels: [{name: stuck, type: webhook, url: '" + stuck.url + "', timeout: 60s}, "
                      "{name: fine, type: webhook, url: '" + fine.url + "'}], route: {receiver: fine, "
                      "group_wait: 0s, routes: [{receiver: stuck, continue: true}, {receiver: fine}]}}")
    await make_rule(client)
    temp(server, clock, 80, "a")
    await step(server, clock)
    await fine.wait_for(1)
    temp(server, clock, 80, "a")
    temp(server, clock, 80, "b")
    await step(server, clock, 300)  # a new alert joins the group: notified again
    await fine.wait_for(2)
    assert len(stuck.requests) == 1 and stuck.accepted == []  # still waiting for its first answer
    stuck.release.set()
    await stuck.wait_for(2)


async def test_the_notifications_topic_streams_channels_and_delivery_results(start, receivers):
    import aiohttp
    hook = await receivers()
    server, client, clock = await start(webhook_url=hook.url, notifications="{route: {receiver: webhook, "
                                                                           "group_wait: 0s}}")
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
        await ws.send_json({"type": "subscribe", "topics": ["notifications"]})
        snapshot = await ws.receive_json(timeout=10)
        assert [c["name"] for c in snapshot["data"]["channels"]] == ["webhook"]
        await make_rule(client)
        temp(server, clock, 80)
        await step(server, clock)
        while True:
            msg = await ws.receive_json(timeout=10)
            if msg.get("topic") == "notifications" and msg["type"] == "update":
                break
        assert msg["data"]["event"] == "delivery"
        assert msg["data"]["notification"]["status"] == "sent" and msg["data"]["notification"]["channel"] == "webhook"


async def test_api_channels_are_judged_by_the_network_policy_at_each_connection(start, receivers):
    hook = await receivers()
    port = hook.url.rsplit(":", 1)[1]
    server, client, _ = await start(health_check_allow="!127.0.0.0/8", webhook_url=hook.url)
    r = await client.post("/api/notifications/channels", json={"name": "x", "type": "webhook",
                                                                 "url": f"http://127.0.0.1:{port}/"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "url"
    # a name is judged by the addresses it resolves to when it is used
    r = await client.post("/api/notifications/channels", json={"name": "x", "type": "webhook",
                                                                 "url": f"http://localhost:{port}/"})
    assert r.status_code == 201, r.text
    result = (await client.post("/api/notifications/channels/x/test")).json()
    assert result["ok"] is False and "HEALTH_CHECK_ALLOW" in result["error"]
    assert hook.requests == []
    # channels from the operator's own config are trusted
    assert (await client.post("/api/notifications/channels/webhook/test")).json()["ok"] is True


async def test_inhibited_alerts_are_not_notified_while_their_source_fires(start, receivers):
    hook = await receivers()
    server, client, clock = await start(
        webhook_url=hook.url,
        notifications="{route: {receiver: webhook, group_by: [alertname], group_wait: 0s, group_interval: 1m}, "
                      "inhibit_rules: [{source_matchers: ['severity=critical'], target_matchers: ['severity=warning'], "
                      "equal: [room]}]}")
    await make_rule(client)
    await make_rule(client, name="WarmTemp", threshold=30, severity="warning")
    temp(server, clock, 80, "a")  # both fire in room a: the warning is muted
    temp(server, clock, 40, "b")  # only the warning fires in room b: nothing mutes it
    await step(server, clock)
    await hook.wait_for(2)
    sent = sorted((a["labels"]["alertname"], a["labels"]["room"]) for r in hook.accepted for a in r.json()["alerts"])
    assert sent == [("HighTemp", "a"), ("WarmTemp", "b")]
