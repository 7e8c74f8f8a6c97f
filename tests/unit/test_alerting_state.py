"""Prometheus's alert state machine: pending, firing, for, keep_firing_for, resolution, limits."""

from __future__ import annotations

import pytest

from engine.alerts.fingerprint import fingerprint
from engine.evaluation.alerting_state import AlertingRuleState, RuleEvalError, RuleLimitError


def plain(text, labels, value):
    return text.replace("$value", repr(value)).replace("$instance", labels.get("instance", ""))


def rule(for_s=60.0, keep=0.0, labels=None, annotations=None):
    return AlertingRuleState("HighCPU", for_s, keep, labels or {"severity": "warning"},
                             annotations or {"summary": "$instance at $value"})


def kinds(changes):
    return [c.kind for c in changes]


UP = [({"__name__": "cpu", "instance": "a"}, 0.9)]


def test_pending_then_firing_after_for():
    r = rule()
    assert kinds(r.evaluate(0, UP, plain)) == ["pending"]
    (alert,) = r.active.values()
    assert alert.labels == {"instance": "a", "severity": "warning", "alertname": "HighCPU"}
    assert alert.annotations == {"summary": "a at 0.9"} and alert.active_at == 0
    assert alert.fingerprint == fingerprint(alert.labels)
    assert kinds(r.evaluate(30, UP, plain)) == []
    assert r.rule_state() == "pending"
    assert kinds(r.evaluate(60, UP, plain)) == ["firing"]
    assert alert.fired_at == 60 and r.rule_state() == "firing"


def test_for_zero_fires_on_the_first_evaluation():
    r = rule(for_s=0)
    assert kinds(r.evaluate(0, UP, plain)) == ["pending", "firing"]


def test_pending_alert_vanishes_and_firing_alert_resolves_then_is_forgotten_after_15m():
    r = rule()
    r.evaluate(0, UP, plain)
    assert kinds(r.evaluate(10, [], plain)) == ["resolved"]
    assert r.active == {}
    r.evaluate(20, UP, plain)
    r.evaluate(80, UP, plain)
    assert kinds(r.evaluate(90, [], plain)) == ["resolved"]
    (alert,) = r.active.values()
    assert alert.state == "inactive" and alert.resolved_at == 90
    r.evaluate(90 + 900, [], plain)
    assert r.active  # kept for 15 minutes...
    r.evaluate(90 + 901, [], plain)
    assert r.active == {}  # ...then dropped


def test_a_label_set_returning_while_inactive_starts_a_new_pending_alert():
    r = rule()
    r.evaluate(0, UP, plain)
    r.evaluate(60, UP, plain)
    r.evaluate(70, [], plain)
    assert kinds(r.evaluate(80, UP, plain)) == ["pending"]
    (alert,) = r.active.values()
    assert alert.active_at == 80 and alert.state == "pending"


def test_keep_firing_for_holds_a_firing_alert():
    r = rule(for_s=0, keep=60)
    r.evaluate(0, UP, plain)
    assert kinds(r.evaluate(10, [], plain)) == []
    assert kinds(r.evaluate(50, UP, plain)) == []  # back: keep_firing_since is reset
    assert kinds(r.evaluate(60, [], plain)) == []
    assert kinds(r.evaluate(119, [], plain)) == []
    assert kinds(r.evaluate(120, [], plain)) == ["resolved"]


def test_annotations_follow_the_value_labels_do_not_change_identity():
    r = rule()
    r.evaluate(0, UP, plain)
    r.evaluate(10, [({"instance": "a"}, 0.95)], plain)
    (alert,) = r.active.values()
    assert alert.value == 0.95 and alert.annotations["summary"] == "a at 0.95"


def test_duplicate_labelset_is_an_error_and_leaves_state_untouched():
    r = rule(labels={"severity": "warning", "instance": "same"})
    r.evaluate(0, UP, plain)
    before = dict(r.active)
    with pytest.raises(RuleEvalError, match="same labelset after applying alert labels"):
        r.evaluate(10, [({"instance": "a"}, 1.0), ({"instance": "b"}, 1.0)], plain)
    assert r.active == before


def test_limit_clears_every_alert_of_the_rule():
    r = rule()
    r.evaluate(0, UP, plain, limit=1)
    with pytest.raises(RuleLimitError, match="exceeded limit of 1 with 2 alerts") as info:
        r.evaluate(10, [({"instance": "a"}, 1.0), ({"instance": "b"}, 1.0)], plain, limit=1)
    assert r.active == {} and len(info.value.cleared) == 2


def test_manual_resolve_makes_the_condition_start_over_as_pending():
    r = rule()
    r.evaluate(0, UP, plain)
    r.evaluate(60, UP, plain)
    (fp,) = r.active
    r.forget(fp)
    assert kinds(r.evaluate(70, UP, plain)) == ["pending"]


def test_rules_reading_a_recording_of_the_same_run_start_a_new_batch():
    from types import SimpleNamespace

    from engine.evaluation.group import RuleRuntime, independent_batches

    def rr(kind, name, expr):
        return RuleRuntime(SimpleNamespace(kind=kind, name=name, expr=expr))

    rules = [rr("recording", "job:errors:rate5m", "sum(rate(errors_total[5m]))"),
             rr("alerting", "A", "up == 0"),
             rr("alerting", "B", "job:errors:rate5m > 1"),
             rr("recording", "x", "sum(y)"),
             rr("alerting", "C", '{__name__=~"x|z"} > 0'),
             rr("alerting", "D", "job:errors:rate5m_total > 1")]
    names = [[r.rule.name for r in batch] for batch in independent_batches(rules)]
    assert names == [["job:errors:rate5m", "A"], ["B", "x"], ["C", "D"]]


def test_rules_reading_alerts_or_querying_a_recording_in_a_template_start_a_new_batch():
    from types import SimpleNamespace

    from engine.evaluation.group import RuleRuntime, independent_batches

    def rr(kind, name, expr, summary=""):
        rule = SimpleNamespace(kind=kind, name=name, expr=expr)
        state = AlertingRuleState(name, 0, 0, {}, {"summary": summary}) if kind == "alerting" else None
        return RuleRuntime(rule, alerting=state)

    rules = [rr("alerting", "A", "up == 0"),
             rr("recording", "firing:count", 'count(ALERTS{alertstate="firing"})'),
             rr("alerting", "B", "vector(1)", '{{ with query "firing:count" }}{{ . | first | value }}{{ end }}'),
             rr("alerting", "C", "vector(1)", "firing:count is not queried here")]
    names = [[r.rule.name for r in batch] for batch in independent_batches(rules)]
    assert names == [["A"], ["firing:count"], ["B", "C"]]
