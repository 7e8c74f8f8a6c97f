"""`metrics-service rules check` as a real process, side by side with the real `promtool check rules`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.rulefiles.managed import ManagedRules
from tests.conftest import promtool_path

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]
OK = "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 5m\n"


def check(*files: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "rules", "check", *map(str, files)], capture_output=True, text=True, timeout=60)


def promtool(*files: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool_path(), "check", "rules", *map(str, files)], capture_output=True, text=True,
                          timeout=60)


def test_default_rules_pass_promtool_and_our_check_with_the_same_report():
    ours, theirs = check(REPO / "rules.yaml"), promtool(REPO / "rules.yaml")
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout == f"Checking {REPO / 'rules.yaml'}\n  SUCCESS: 7 rules found\n\n"


def test_a_bad_file_fails_with_file_line_and_field(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(OK)
    bad.write_text(OK.replace("5m", "5"))
    r = check(good, bad)
    assert r.returncode == 1
    assert r.stdout == f"Checking {good}\n  SUCCESS: 1 rules found\n\nChecking {bad}\n\n"
    assert r.stderr == f'  FAILED:\n{bad}:6:14: groups[0].rules[0].for: not a valid duration string: "5" ' \
                       "(needs a unit: 30s, 5m, 1h)\n"
    assert promtool(good, bad).returncode == 1


def test_a_missing_file_fails(tmp_path):
    r = check(tmp_path / "nope.yaml")
    assert r.returncode == 1 and "No such file" in r.stderr


def test_no_file_is_a_usage_error():
    r = check()
    assert r.returncode == 2 and "usage:" in r.stderr


def test_duplicate_rules_are_reported_but_do_not_fail_like_promtool(tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text(OK + "      - alert: A\n        expr: up == 1\n")
    ours, theirs = check(f), promtool(f)
    assert ours.returncode == theirs.returncode == 0
    assert "FAILED" in ours.stderr and "FAILED" in theirs.stderr and "duplicate rule: A{}" in ours.stderr


# Files on which our loader and promtool must agree (accept or reject).
AGREE = {
    "ok": OK,
    "empty": "",
    "null durations and scalars": "groups:\n  - name: 1\n    interval:\n    limit: 0x10\n    rules:\n"
                                  "      - {alert: 5, expr: 1, for: , labels: {a: 1, b: true}}\n",
    "durations": "groups:\n  - name: a\n    interval: 1h30m\n    rules:\n      - {alert: A, expr: up, for: 1d, "
                 "keep_firing_for: 500ms}\n      - {record: r, expr: up, for: 0s, annotations: {}}\n",
    "recording labels are not templates": "groups:\n  - name: a\n    rules:\n"
                                          "      - {record: r, expr: up, labels: {a: '{{ .Foo '}}\n",
    "no unit": OK.replace("5m", "300"),
    "fractional": OK.replace("5m", "1.5m"),
    "units out of order": OK.replace("5m", "1m1h"),
    "duplicate group": OK + "  - name: a\n",
    "empty group name": "groups:\n  - name: ''\n",
    "duplicate key": OK.replace("for: 5m", "for: 5m\n        for: 1m"),
    "unknown rule field": OK.replace("for: 5m", "severity: x"),
    "unknown group field": OK.replace("    rules:", "    foo: 1\n    rules:"),
    "limit as a string": OK.replace("    rules:", "    limit: '3'\n    rules:"),
    "both alert and record": OK.replace("expr:", "record: r\n        expr:"),
    "recording rule with for": OK.replace("alert: A", "record: r"),
    "recording rule name": OK.replace("alert: A", "record: a b").replace("for: 5m", ""),
    "bad promql": OK.replace("up == 0", "sum(up"),
    "no expr": OK.replace("expr: up == 0", "expr: ''"),
    "label name": OK + "        labels: {bad-l: x}\n",
    "__name__ label": OK + "        labels: {__name__: x}\n",
    "annotation name": OK + "        annotations: {1st: x}\n",
    "label value is a list": OK + "        labels: {a: [1]}\n",
    "unclosed template": OK + "        annotations: {a: '{{ .Foo '}\n",
    "undefined template variable": OK + "        labels: {a: '{{ $nope }}'}\n",
    "yaml syntax": OK + "  - [\n",
}


@pytest.mark.parametrize("text", AGREE.values(), ids=AGREE.keys())
def test_accepts_and_rejects_what_promtool_does(tmp_path, text):
    f = tmp_path / "rules.yaml"
    f.write_text(text)
    theirs = promtool(f)
    assert check(f).returncode == theirs.returncode, theirs.stderr


def test_managed_rule_file_passes_promtool(tmp_path):
    rules = ManagedRules(tmp_path)
    rules.load()
    rules.create({"name": "High Error Rate", "metricName": 'http_requests_total{status=~"5.."}', "condition": ">",
                  "threshold": 0.05, "duration": 90, "severity": "high",
                  "notificationChannels": [{"type": "slack", "destination": "#alerts"}]})
    rules.create({"name": "Down", "expr": "max by (service) (probe_success) == 0\nor vector(0) > 1",
                  "for": "1m", "keepFiringFor": "5m", "group": "health",
                  "annotations": {"summary": "{{ $labels.service }} is down", "description": "line 1\nline 2"}})
    rules.create({"name": "Off", "expr": "up == 0", "enabled": False})
    theirs = promtool(rules.path)
    assert theirs.returncode == 0 and theirs.stdout.endswith("  SUCCESS: 2 rules found\n\n"), theirs.stderr
    assert check(rules.path).returncode == 0
