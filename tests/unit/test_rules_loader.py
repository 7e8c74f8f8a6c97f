"""Loading Prometheus rule files: what Prometheus accepts loads, every refusal names file:line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.compat.durations import format_seconds
from engine.rulefiles.loader import (
    RuleLoadError,
    duplicate_rules,
    load_rule_file,
    load_rule_files,
    parse_prometheus_duration,
    parse_rule_file,
)
from engine.rulefiles.model import ALERTING, RECORDING, Rule, RuleGroup, to_prometheus_yaml

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
groups:
  - name: node
    interval: 30s
    limit: 10
    rules:
      - record: instance:cpu:rate5m
        expr: sum without (cpu) (rate(node_cpu_seconds_total[5m]))
        labels: {source: rules}
      - alert: HighCPU
        expr: instance:cpu:rate5m > 0.8
        for: 5m
        keep_firing_for: 1m
        labels:
          severity: warning
        annotations:
          summary: "CPU on {{ $labels.instance }} is {{ $value | humanize }}"
  - name: newer-prometheus
    query_offset: 1m
    labels: {team: ops}
    rules:
      - alert: Down
        expr: up == 0
"""


def parse(text: str) -> list[RuleGroup]:
    return parse_rule_file(textwrap.dedent(text), "r.yaml")


def errors_of(text: str) -> list[str]:
    with pytest.raises(RuleLoadError) as info:
        parse(text)
    return info.value.errors


def test_good_file_loads_every_field():
    node, newer = parse(GOOD)
    assert (node.name, node.interval, node.limit, node.query_offset, node.source) == ("node", 30.0, 10, None, "r.yaml")
    record, alert = node.rules
    assert (record.kind, record.name, record.labels) == (RECORDING, "instance:cpu:rate5m", {"source": "rules"})
    assert (alert.kind, alert.name, alert.for_s, alert.keep_firing_for_s) == (ALERTING, "HighCPU", 300.0, 60.0)
    assert alert.annotations["summary"].startswith("CPU on {{ $labels.instance }}")
    assert alert.enabled and alert.notification_channels == []
    assert (newer.interval, newer.query_offset, newer.labels) == (None, 60.0, {"team": "ops"})


def test_scalars_read_as_text_and_nulls_as_defaults_like_promtool():
    (group,) = parse("""
        groups:
          - name: 123
            interval:
            limit: 0x10
            rules:
              -
              - alert: 5
                expr: 1
                for:
                labels: {a: 1, b: true, c: }
    """)
    assert (group.name, group.interval, group.limit) == ("123", None, 16)
    (rule,) = group.rules
    assert (rule.name, rule.expr, rule.for_s, rule.labels) == ("5", "1", 0.0, {"a": "1", "b": "true", "c": ""})


@pytest.mark.parametrize("text", ["", "groups:\n", "groups: []\n", "groups:\n  - name: a\n  - name: b\n    rules: []"])
def test_files_without_rules_are_valid(text):
    assert sum(len(g.rules) for g in parse(text)) == 0


def test_rule_ids_are_stable_and_survive_edits_to_other_rules():
    before = parse(GOOD)
    again = parse(GOOD)
    assert [r.id for g in before for r in g.rules] == [r.id for g in again for r in g.rules]
    ids = [r.id for g in before for r in g.rules]
    assert len(set(ids)) == len(ids)
    new_rule = "      - alert: New\n        expr: up\n"
    inserted = GOOD.replace("      - record:", new_rule + "      - record:", 1)
    after = parse(inserted)
    assert after[0].rules[2].id == before[0].rules[1].id  # HighCPU kept its id


def test_same_name_and_labels_get_distinct_ids():
    (group,) = parse("""
        groups:
          - name: a
            rules:
              - {alert: X, expr: up}
              - {alert: X, expr: up == 0}
    """)
    assert group.rules[0].id != group.rules[1].id


G = "groups:\n  - name: a\n"  # lines 1-2
R = G + "    rules:\n      - "  # the rule starts on line 4

# One bad file per validation rule: (yaml, line, field in the message, problem text).
BAD = {
    "yaml syntax": (G + "    rules: [\n", 4, "yaml", "expected the node content"),
    "file not a mapping": ("- a\n", 1, "file", "expected a mapping"),
    "unknown top-level field": ("groups: []\nevaluation_interval: 1m\n", 2, "file.evaluation_interval",
                                "unknown field"),
    "groups not a list": ("groups: {name: a}\n", 1, "groups", "expected a list"),
    "unknown group field": (G + "    foo: 1\n", 3, "groups[0].foo", "unknown field"),
    "empty group name": ("groups:\n  - name: ''\n", 2, "groups[0].name", "must not be empty"),
    "missing group name": ("groups:\n  - rules: []\n", 2, "groups[0].name", "must not be empty"),
    "duplicate group name": ("groups:\n  - name: a\n  - name: a\n", 3, "groups[1].name", "repeated in the same file"),
    "interval without unit": (G + "    interval: 60\n", 3, "groups[0].interval",
                              'not a valid duration string: "60"'),
    "fractional duration": (G + "    query_offset: 1.5m\n", 3, "groups[0].query_offset",
                            "not a valid duration string"),
    "limit not an integer": (G + "    limit: '3'\n", 3, "groups[0].limit", "expected an integer"),
    "group labels not a map": (G + "    labels: [x]\n", 3, "groups[0].labels", "expected a mapping"),
    "invalid group label name": (G + "    labels: {__name__: x}\n", 3, "groups[0].labels.__name__",
                                 "invalid label name: __name__"),
    "rules not a list": (G + "    rules: {x: 1}\n", 3, "groups[0].rules", "expected a list"),
    "rule not a mapping": (G + "    rules: [up]\n", 3, "groups[0].rules[0]", "expected a mapping"),
    "unknown rule field": (R + "alert: A\n        expr: up\n        severity: x\n",
                           6, "groups[0].rules[0].severity", "unknown field"),
    "duplicate key": (R + "alert: A\n        alert: B\n        expr: up\n",
                      5, "groups[0].rules[0].alert", "mapping key already defined at line 4"),
    "duplicate label key": (R + "alert: A\n        expr: up\n"
                            "        labels:\n          a: x\n          a: y\n",
                            8, "groups[0].rules[0].labels.a", "mapping key already defined at line 7"),
    "alert and record": (R + "alert: A\n        record: b\n        expr: up\n",
                         5, "groups[0].rules[0]", "only one of 'record' and 'alert' must be set"),
    "neither alert nor record": (R + "expr: up\n", 4, "groups[0].rules[0]",
                                 "one of 'record' or 'alert' must be set"),
    "alert not a string": (R + "alert: {x: 1}\n        expr: up\n", 4,
                           "groups[0].rules[0].alert", "expected a string"),
    "invalid record name": (R + "record: job up\n        expr: up\n", 4,
                            "groups[0].rules[0].record", "invalid recording rule name: job up"),
    "for in recording rule": (R + "record: r\n        expr: up\n        for: 1m\n",
                              6, "groups[0].rules[0].for", "invalid field 'for' in recording rule"),
    "keep_firing_for in recording rule": (
        R + "record: r\n        expr: up\n        keep_firing_for: 1m\n",
        6, "groups[0].rules[0].keep_firing_for", "invalid field 'keep_firing_for' in recording rule"),
    "annotations in recording rule": (
        R + "record: r\n        expr: up\n        annotations: {a: b}\n",
        6, "groups[0].rules[0].annotations", "invalid field 'annotations' in recording rule"),
    "for without unit": (R + "alert: A\n        expr: up\n        for: 5\n",
                         6, "groups[0].rules[0].for", 'not a valid duration string: "5"'),
    "missing expr": (R + "alert: A\n", 4, "groups[0].rules[0].expr",
                     "field 'expr' must be set in rule"),
    "bad promql": (R + "alert: A\n        expr: sum(up\n", 5,
                   "groups[0].rules[0].expr", "could not parse expression"),
    "invalid label name": (R + "alert: A\n        expr: up\n"
                           "        labels:\n          bad-name: x\n", 7, "groups[0].rules[0].labels.bad-name",
                           "invalid label name: bad-name"),
    "__name__ label": (R + "record: r\n        expr: up\n"
                       "        labels:\n          __name__: x\n", 7, "groups[0].rules[0].labels.__name__",
                       "invalid label name: __name__"),
    "label value not a string": (R + "alert: A\n        expr: up\n"
                                 "        labels:\n          a: [x]\n", 7, "groups[0].rules[0].labels.a",
                                 "expected a string"),
    "invalid annotation name": (R + "alert: A\n        expr: up\n"
                                "        annotations:\n          1st: x\n", 7, "groups[0].rules[0].annotations.1st",
                                "invalid annotation name: 1st"),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_file_reports_file_line_and_field(case):
    text, line, field, problem = case
    with pytest.raises(RuleLoadError) as info:
        parse_rule_file(text, "bad.yaml")
    errors = info.value.errors
    assert any(e.startswith(f"bad.yaml:{line}:") and f" {field}: " in e and problem in e for e in errors), errors
    assert isinstance(info.value, ValueError)


def test_bad_templates_in_alerting_rules_are_reported_as_prometheus_words_them():
    errors = errors_of("""
        groups:
          - name: a
            rules:
              - alert: A
                expr: up
                labels:
                  team: "{{ $nope }}"
                annotations:
                  summary: "{{ .Foo "
                  description: "{{ nofunc 1 }}"
              - record: r
                expr: up
                labels:
                  team: "{{ .Foo "
    """)
    assert errors == [
        'r.yaml:8:11: groups[0].rules[0].labels.team: template: __alert_A:1: undefined variable "$nope"',
        "r.yaml:10:11: groups[0].rules[0].annotations.summary: template: __alert_A:1: unclosed action",
        "r.yaml:11:11: groups[0].rules[0].annotations.description: "
        'template: __alert_A:1: function "nofunc" not defined',
    ]  # recording rules' labels are not templates to Prometheus


def test_every_problem_of_a_file_is_reported_in_file_order():
    errors = errors_of("""
        groups:
          - name: a
            interval: 5
            rules:
              - alert: A
                expr: up ==
                for: 1x
              - record: bad name
                expr: up
          - name: a
    """)
    assert [e.split(":")[1] for e in errors] == ["4", "7", "8", "9", "11"]


def test_file_rules_files_globs(tmp_path):
    (tmp_path / "a.rules.yaml").write_text(R + "{alert: A, expr: up}\n")
    (tmp_path / "b.rules.yaml").write_text(R + "{record: b, expr: up}\n")
    rs = load_rule_files([str(tmp_path / "*.rules.yaml"), str(tmp_path / "a.rules.yaml"), str(tmp_path / "none*")])
    assert rs.files == [str(tmp_path / "a.rules.yaml"), str(tmp_path / "b.rules.yaml")]
    assert [g.name for g in rs.groups] == ["a", "a"]  # the same group name in two files is fine
    assert [r.name for r in rs.rules()] == ["A", "b"]


def test_rule_files_errors_are_collected_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text(G + "    interval: 5\n")
    (tmp_path / "b.yaml").write_text("groups: 1\n")
    with pytest.raises(RuleLoadError) as info:
        load_rule_files([str(tmp_path / "*.yaml"), str(tmp_path / "missing.yaml")])
    errors = info.value.errors
    assert errors[0].startswith(f"{tmp_path / 'missing.yaml'}: no such file")
    assert any(e.startswith(f"{tmp_path / 'a.yaml'}:3:") for e in errors)
    assert any(e.startswith(f"{tmp_path / 'b.yaml'}:1:") for e in errors)


def test_unreadable_file_is_a_load_error(tmp_path):
    with pytest.raises(RuleLoadError, match="No such file"):
        load_rule_file(str(tmp_path / "nope.yaml"))


def test_duplicate_rules_are_a_lint_finding_across_groups():
    groups = parse("""
        groups:
          - name: a
            rules:
              - {alert: X, expr: up == 0, labels: {a: b}}
              - {alert: X, expr: up == 1, labels: {a: c}}
          - name: b
            rules:
              - {alert: X, expr: up == 2, labels: {a: b}}
    """)
    (finding,) = duplicate_rules(groups)
    assert finding.startswith("r.yaml: duplicate rule: X{a=\"b\"} appears 2 times")


@pytest.mark.parametrize("text,seconds", [("0", 0.0), ("0s", 0.0), ("90s", 90.0), ("1h30m", 5400.0), ("1d", 86400.0),
                                          ("2w", 1209600.0), ("1y", 31536000.0), ("500ms", 0.5)])
def test_prometheus_durations(text, seconds):
    assert parse_prometheus_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "0.5", "1.5m", "1m1h", " 5m", "5M", "-1m", "inf"])
def test_not_prometheus_durations(text):
    with pytest.raises(ValueError):
        parse_prometheus_duration(text)


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (0.5, "500ms"), (90, "1m30s"), (5400, "1h30m"), (86400, "1d"),
                                          (90000, "1d1h"), (604800, "1w"), (31536000, "1y"), (1.0015, "1s2ms")])
def test_format_duration_like_prometheus(seconds, text):
    assert format_seconds(seconds) == text


def test_prometheus_yaml_round_trip_leaves_out_our_extensions():
    groups = parse(GOOD)
    again = parse_rule_file(to_prometheus_yaml(groups), "r.yaml")
    assert again == groups

    extra = Rule(ALERTING, "Mine", "up", id="x", notification_channels=[{"type": "slack"}], enabled=True)
    off = Rule(ALERTING, "Off", "up", id="y", enabled=False)
    text = to_prometheus_yaml([RuleGroup("m", [extra, off], "m.yaml"), RuleGroup("empty", [off], "m.yaml")])
    assert "slack" not in text and "Off" not in text and "empty" not in text and "id:" not in text
    assert parse_rule_file(text, "m.yaml")[0].rules[0].expr == "up"


def test_default_rules_file_loads_with_severity_and_annotations():
    groups = load_rule_file(str(REPO / "rules.yaml"))
    rules = [r for g in groups for r in g.rules]
    assert {r.name for r in rules} == {"HighCPUUsage", "LowMemoryAvailable", "LowDiskSpace", "HighHTTPErrorRate",
                                      "HighLatencyP95", "ServiceDown", "TLSCertificateExpiringSoon"}
    for rule in rules:
        assert rule.kind == ALERTING and rule.labels["severity"] in ("warning", "critical")
        assert rule.annotations.keys() >= {"summary", "description"}
    assert duplicate_rules(groups) == []
