"""Rules made through the API: both body forms, validation naming the field, durable atomic files."""

from __future__ import annotations

import json

import pytest

from engine.rulefiles.loader import RuleLoadError, load_rule_file
from engine.rulefiles.managed import DEFAULT_GROUP, ManagedRules, RuleNotFoundError, RuleValidationError, rule_from_body

SEED = {  # the seed README's example
    "name": "High Error Rate",
    "metricName": "http_requests_total",
    "condition": ">",
    "threshold": 0.05,
    "severity": "high",
    "notificationChannels": [{"type": "slack", "destination": "#alerts"}],
}
FULL = {
    "name": "InstanceDown",
    "expr": "up == 0",
    "for": "5m",
    "keepFiringFor": 90,
    "labels": {"team": "ops"},
    "annotations": {"summary": "{{ $labels.instance }} is down"},
}


def group_of(rules: ManagedRules, rule_id: str) -> str:
    """The group a rule is evaluated in, as the ruler gets the API's rules."""
    (name,) = [g.name for g in rules.groups() if any(r.id == rule_id for r in g.rules)]
    return name


def loaded(data_dir) -> ManagedRules:
    """The API's rules as a server start finds them on disk."""
    rules = ManagedRules(data_dir)
    rules.load()
    return rules


def test_simple_form_becomes_a_promql_rule():
    group, rule = rule_from_body({**SEED, "duration": "2m"}, "id-1")
    assert group == DEFAULT_GROUP
    assert (rule.kind, rule.name, rule.for_s) == ("alerting", "High Error Rate", 120.0)
    assert rule.expr == "http_requests_total > 0.05"
    assert rule.labels == {"severity": "high"}
    assert rule.notification_channels == SEED["notificationChannels"] and rule.enabled and rule.id == "id-1"


@pytest.mark.parametrize("metric,condition,threshold,duration,expr,for_s", [
    ("up", "==", 0, 30, "up == 0", 30.0),
    ('http_requests_total{status=~"5.."}', ">=", 80.0, "90", 'http_requests_total{status=~"5.."} >= 80', 90.0),
    ("node_load1", "!=", -1.5, "1h30m", "node_load1 != -1.5", 5400.0),
    ("node_load1", "<", 1e-7, 0.25, "node_load1 < 1e-07", 0.25),
])
def test_simple_form_variants(metric, condition, threshold, duration, expr, for_s):
    body = {"name": "A", "metricName": metric, "condition": condition, "threshold": threshold, "duration": duration}
    _, rule = rule_from_body(body, "x")
    assert (rule.expr, rule.for_s) == (expr, for_s)


def test_full_form():
    group, rule = rule_from_body({**FULL, "group": "infra", "enabled": False}, "x")
    assert group == "infra"
    assert (rule.expr, rule.for_s, rule.keep_firing_for_s, rule.enabled) == ("up == 0", 300.0, 90.0, False)
    assert rule.labels == {"team": "ops"} and rule.annotations == FULL["annotations"]


INVALID = [
    ([], "body"),
    ({"name": "A"}, "expr"),
    ({**FULL, "metricName": "up"}, "expr"),
    ({**FULL, "name": ""}, "name"),
    ({**FULL, "name": 5}, "name"),
    ({**FULL, "expr": "sum(up"}, "expr"),
    ({**FULL, "for": "5x"}, "for"),
    ({**FULL, "for": -1}, "for"),
    ({**FULL, "keepFiringFor": True}, "keepFiringFor"),
    ({**FULL, "duration": "5m"}, "duration"),
    ({**FULL, "bogus": 1}, "bogus"),
    ({**FULL, "labels": ["a"]}, "labels"),
    ({**FULL, "labels": {"a": 1}}, "labels.a"),
    ({**FULL, "labels": {"bad-name": "x"}}, "labels.bad-name"),
    ({**FULL, "labels": {"__name__": "x"}}, "labels.__name__"),
    ({**FULL, "annotations": {"1st": "x"}}, "annotations.1st"),
    ({**FULL, "annotations": {"summary": "{{ .Foo "}}, "annotations.summary"),
    ({**SEED, "severity": "{{ $nope }}"}, "severity"),
    ({**FULL, "notificationChannels": "slack"}, "notificationChannels"),
    ({**FULL, "enabled": "yes"}, "enabled"),
    ({**SEED, "metricName": "sum(up)"}, "metricName"),
    ({**SEED, "metricName": "up[5m]"}, "metricName"),
    ({**SEED, "metricName": "1x"}, "metricName"),
    ({**SEED, "condition": "=>"}, "condition"),
    ({k: v for k, v in SEED.items() if k != "condition"}, "condition"),
    ({**SEED, "threshold": "0.05"}, "threshold"),
    ({**SEED, "threshold": None}, "threshold"),
    ({**SEED, "duration": "soon"}, "duration"),
    ({**SEED, "for": "5m"}, "for"),
    ({**SEED, "labels": {"severity": "low"}}, "severity"),
]


@pytest.mark.parametrize("body,field", INVALID)
def test_invalid_bodies_name_the_field(body, field):
    with pytest.raises(RuleValidationError) as info:
        rule_from_body(body, "x")
    assert info.value.field == field, info.value
    assert str(info.value).startswith(f"{field}: ")


def test_create_update_delete_round_trip(tmp_path):
    rules = loaded(tmp_path)
    seed = rules.create(SEED)
    full = rules.create({**FULL, "group": "infra"})
    assert [r.id for r in rules.list()] == [seed.id, full.id]
    assert len({seed.id, full.id}) == 2

    again = loaded(tmp_path)  # everything is on disk
    assert again.list() == rules.list() and group_of(again, full.id) == "infra"

    updated = again.update(full.id, {"name": "InstanceDown", "expr": "up == 0", "for": "10m", "enabled": False})
    assert (updated.id, updated.for_s, updated.enabled, updated.labels) == (full.id, 600.0, False, {})
    assert group_of(again, full.id) == "infra"  # kept when the body does not say
    kept = again.update(full.id, {"name": "InstanceDown", "expr": "up == 0"})
    assert kept.enabled is False  # enabled too

    again.delete(seed.id)
    assert [r.id for r in loaded(tmp_path).list()] == [full.id]
    with pytest.raises(RuleNotFoundError):
        again.delete(seed.id)
    with pytest.raises(RuleNotFoundError):
        again.update(seed.id, FULL)


def test_prometheus_file_holds_enabled_rules_without_our_extensions(tmp_path):
    rules = loaded(tmp_path)
    seed = rules.create(SEED)
    off = rules.create({**FULL, "enabled": False})
    text = rules.path.read_text()
    assert "notificationChannels" not in text and "slack" not in text
    assert f"  # id: {seed.id}\n  - alert: {seed.name}" in text  # promtool ignores comments
    (group,) = load_rule_file(str(rules.path))
    assert [(r.name, r.expr, r.labels) for r in group.rules] == [(seed.name, seed.expr, seed.labels)]
    assert [g.name for g in rules.groups()] == [DEFAULT_GROUP]
    assert [r.id for r in rules.groups()[0].rules] == [seed.id, off.id]  # the evaluator skips disabled rules


def test_same_name_and_labels_twice_is_refused(tmp_path):
    rules = loaded(tmp_path)
    first = rules.create(SEED)
    with pytest.raises(RuleValidationError) as info:
        rules.create(SEED)
    assert info.value.field == "name"
    rules.create({**SEED, "severity": "low"})  # other labels: another rule
    rules.update(first.id, {**SEED, "threshold": 0.1})  # a rule does not clash with itself
    assert len(rules.list()) == 2


def test_failed_create_changes_nothing(tmp_path):
    rules = loaded(tmp_path)
    rules.create(SEED)
    before = (rules.store_path.read_bytes(), rules.path.read_bytes())
    with pytest.raises(RuleValidationError):
        rules.create({**FULL, "expr": "sum("})
    assert (rules.store_path.read_bytes(), rules.path.read_bytes()) == before
    assert len(rules.list()) == 1


def test_writes_leave_no_temporary_files(tmp_path):
    rules = loaded(tmp_path)
    rules.delete(rules.create(SEED).id)
    assert sorted(p.name for p in rules.dir.iterdir()) == ["managed.json", "managed.rules.yaml"]


def snapshot(rules) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(rules.dir.iterdir())}


def test_without_the_side_file_every_rule_stays_with_its_id_and_nothing_is_rewritten(tmp_path):
    """Deleting managed.json once emptied the rule file (30 rules gone, their alerts resolved by system)."""
    rules = loaded(tmp_path)
    seed, full = rules.create(SEED), rules.create({**FULL, "group": "infra"})
    rules.store_path.unlink()
    before = snapshot(rules)
    again = loaded(tmp_path)
    assert [(r.id, r.name, r.expr, r.labels, r.enabled) for r in again.list()] == \
        [(r.id, r.name, r.expr, r.labels, True) for r in (seed, full)]
    assert group_of(again, full.id) == "infra"
    assert again.get(seed.id).notification_channels == []  # the side file's extensions fall back to defaults
    assert snapshot(again) == before


def test_a_rule_missing_from_the_rule_file_is_kept_disabled_not_dropped(tmp_path):
    """A SIGKILL between the side file's write and the rule file's, or a rule removed by hand."""
    rules = loaded(tmp_path)
    seed, off = rules.create(SEED), rules.create({**FULL, "enabled": False})
    rules.path.write_text("groups: []\n")
    again = loaded(tmp_path)
    assert [(r.id, r.enabled) for r in again.list()] == [(seed.id, False), (off.id, False)]
    assert again.get(seed.id).notification_channels == SEED["notificationChannels"]
    assert rules.path.read_text() == "groups: []\n"  # not rewritten until a rule changes


def test_a_rule_file_without_id_comments_gets_its_ids_from_the_side_file(tmp_path):
    """Rule files written before ids were kept in comments, or comments removed by hand."""
    rules = loaded(tmp_path)
    seed, full = rules.create(SEED), rules.create(FULL)
    rules.path.write_text("".join(line for line in rules.path.read_text().splitlines(keepends=True)
                                  if "# id:" not in line))
    again = loaded(tmp_path)
    assert [r.id for r in again.list()] == [seed.id, full.id]
    assert again.get(seed.id).notification_channels == SEED["notificationChannels"]


def test_rules_added_to_the_rule_file_by_hand_get_stable_ids(tmp_path):
    rules = loaded(tmp_path)
    rules.create(SEED)
    with rules.path.open("a") as f:
        f.write("- name: hand\n  rules:\n  - alert: ByHand\n    expr: up == 0\n")
    first, second = loaded(tmp_path).list(), loaded(tmp_path).list()
    assert [r.name for r in first] == ["High Error Rate", "ByHand"]
    assert [r.id for r in first] == [r.id for r in second] and first[1].id


@pytest.mark.parametrize("damage", ["missing", "invalid"])
def test_a_missing_or_invalid_rule_file_stops_start_up_and_repair_rebuilds_it(tmp_path, damage):
    rules = loaded(tmp_path)
    seed, off = rules.create(SEED), rules.create({**FULL, "enabled": False})
    if damage == "missing":
        rules.path.unlink()
    else:
        rules.path.write_text("groups:\n- name: x\n  rules:\n  - alert: A\n    expr: sum(\n")
    with pytest.raises(RuleLoadError) as info:
        loaded(tmp_path)
    assert "managed.rules.yaml" in str(info.value) and "--repair" in info.value.errors[-1]
    repaired = ManagedRules(tmp_path, repair=True)
    repaired.load()
    assert [r.id for r in repaired.list()] == [seed.id, off.id]
    (group,) = load_rule_file(str(rules.path))
    assert [r.name for r in group.rules] == [seed.name, off.name]
    aside = [p.name for p in rules.dir.iterdir() if ".damaged-" in p.name]
    assert len(aside) == (damage == "invalid")


def test_an_unreadable_side_file_is_moved_aside_and_the_rules_stay(tmp_path):
    rules = loaded(tmp_path)
    seed = rules.create(SEED)
    rules.store_path.write_text(json.dumps({"version": 1, "rules": [{"oops": 1}]}))
    again = loaded(tmp_path)
    assert [(r.id, r.notification_channels) for r in again.list()] == [(seed.id, [])]
    assert any(p.name.startswith("managed.json.damaged-") for p in rules.dir.iterdir())
