"""Routing, inhibition and grouping timers as Alertmanager does them, on explicit times."""

from __future__ import annotations

import pytest

from engine.notify.config import NotifyConfigError, parse_notifications, parse_route
from engine.notify.dispatch import Dispatcher, Target
from engine.notify.model import AlertView
from engine.notify.routing import Inhibitor, build_route

T0 = 1_800_000_000.0


def alert(name="HighCPU", fp="f1", ends=None, ack=None, **labels):
    labels = {"alertname": name, **labels}
    return AlertView(f"id-{fp}", fp, name, "r1", labels, {"summary": "s"}, T0, ends, ack)


def dispatcher(send_resolved=True, always_repeat=False, muted=lambda a: False):
    return Dispatcher(muted, lambda r: send_resolved, lambda r: always_repeat, lambda: "")


def route(**raw):
    return build_route(parse_route({"receiver": "hook", **raw}, "route"), {"hook", "am", "mail"})


def test_group_wait_then_group_interval_then_repeat():
    root = route(group_by=["alertname"], group_wait="30s", group_interval="5m", repeat_interval="1h")
    d = dispatcher()
    d.add(alert(fp="a"), [Target(root, "hook")], T0)
    assert d.tick(T0 + 29) == []
    (n, _, entry), = d.tick(T0 + 30)
    assert n.reason == "first notification" and [a.fingerprint for a in n.alerts] == ["a"]
    d.add(alert(fp="b"), [Target(root, "hook")], T0 + 40)
    assert d.tick(T0 + 60) == []  # within group_interval: wait
    (n, _, _), = d.tick(T0 + 330)
    assert n.reason == "new alerts added" and len(n.alerts) == 2
    for t in range(630, 3630, 300):
        assert d.tick(T0 + t) == [], t  # nothing new, repeat not due
    (n, _, _), = d.tick(T0 + 3930)
    assert n.reason == "repeat interval elapsed"


def test_resolved_alerts_are_sent_once_and_the_group_ends():
    root = route(group_wait="0s", group_interval="1m")
    d = dispatcher()
    d.add(alert(fp="a"), [Target(root, "hook")], T0)
    d.tick(T0)
    d.update(alert(fp="a", ends=T0 + 10))
    (n, key, entry), = d.tick(T0 + 60)
    assert n.status == "resolved" and n.reason == "all alerts resolved" and entry is None
    assert d.groups == {} and key not in d.log


def test_acknowledged_alerts_stop_repeating_but_alertmanager_forwarding_does_not():
    root = route(group_wait="0s", group_interval="1m", repeat_interval="2m")
    for always, expected in ((False, 0), (True, 1)):
        d = dispatcher(always_repeat=always)
        d.add(alert(fp="a"), [Target(root, "hook")], T0)
        d.tick(T0)
        d.update(alert(fp="a", ack={"by": "alice"}))
        assert len(d.tick(T0 + 180)) == expected


def test_silenced_and_inhibited_alerts_are_left_out():
    root = route(group_wait="0s")
    d = dispatcher(muted=lambda a: a.labels.get("room") == "c")
    d.add(alert(fp="a", room="a"), [Target(root, "hook")], T0)
    silenced = alert(fp="b", room="b")
    silenced.silenced = True
    d.add(silenced, [Target(root, "hook")], T0)
    d.add(alert(fp="c", room="c"), [Target(root, "hook")], T0)
    (n, _, _), = d.tick(T0)
    assert [a.fingerprint for a in n.alerts] == ["a"]


def test_all_resolved_without_send_resolved_clears_the_log_silently():
    root = route(group_wait="0s", group_interval="1m")
    d = dispatcher(send_resolved=False)
    d.add(alert(fp="a"), [Target(root, "hook")], T0)
    d.tick(T0)
    d.update(alert(fp="a", ends=T0 + 5))
    assert d.tick(T0 + 60) == [] and d.log == {}


def test_route_tree_matches_first_child_unless_continue():
    cfg = parse_notifications({
        "channels": [{"name": n, "type": "webhook", "url": "http://127.0.0.1:1/"} for n in ("hook", "am", "mail")],
        "route": {"receiver": "hook", "group_by": ["alertname"], "routes": [
            {"receiver": "am", "matchers": ['severity=~"critical|warning"'], "continue": True},
            {"receiver": "mail", "matchers": ["team=db"], "group_by": ["..."]},
            {"receiver": "am", "matchers": ["team=db"]},
        ]}})
    root = build_route(cfg.route, {"hook", "am", "mail"})
    hits = root.match({"alertname": "X", "severity": "critical", "team": "db"})
    assert [r.receiver for r in hits] == ["am", "mail"]
    assert hits[0].key == '{}/{severity=~"critical|warning"}'
    assert hits[0].group_by == ("alertname",) and hits[0].group_wait == 30 and hits[0].repeat_interval == 14400
    assert hits[1].group_labels({"alertname": "X", "team": "db"}) == {"alertname": "X", "team": "db"}
    assert [r.receiver for r in root.match({"alertname": "X"})] == ["hook"]


def test_unknown_receivers_and_bad_matchers_name_the_field():
    with pytest.raises(NotifyConfigError) as err:
        build_route(parse_route({"receiver": "nobody"}, "notifications.route"), {"hook"})
    assert err.value.field == "notifications.route.receiver"
    with pytest.raises(NotifyConfigError) as err:
        parse_notifications({"route": {"routes": [{"matchers": ['a=~"("']}]}})
    assert err.value.field.startswith("notifications.route.routes[0].matchers[0]")


def test_inhibition_needs_a_firing_source_with_equal_labels_and_never_mutes_itself():
    cfg = parse_notifications({"inhibit_rules": [
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"warning|critical"'],
         "equal": ["service"]}]})
    inhibitor = Inhibitor(cfg.inhibit_rules)
    source = ("s", {"alertname": "Down", "severity": "critical", "service": "api"})
    assert inhibitor.inhibited({"severity": "warning", "service": "api"}, "t", [source])
    assert not inhibitor.inhibited({"severity": "warning", "service": "web"}, "t", [source])
    assert not inhibitor.inhibited({"severity": "warning", "service": "api"}, "t", [])
    # matches both sides: not muted by another alert matching both sides, nor by itself
    assert not inhibitor.inhibited({"severity": "critical", "service": "api"}, "t", [source])
    assert not inhibitor.inhibited(source[1], "s", [source])
