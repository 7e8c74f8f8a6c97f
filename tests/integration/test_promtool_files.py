"""Every test file under tests/promql/ and tests/rules/ passes in the real promtool and in `metrics-service rules test`.

promtool confirms that each expectation is Prometheus's own answer; our runner then checks that our
query engine and ruler give the same, reading the samples from the in-memory head and from SQLite
chunks. A mutated copy of each file (every expected value, alert and annotation changed) must fail
the same cases with the same report in both tools, so the runner cannot pass by comparing too little.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.unittest import run_files
from tests.conftest import promtool_path

TESTS_DIR = Path(__file__).resolve().parents[1]
PROMQL_FILES = sorted((TESTS_DIR / "promql").glob("*.yaml"))
RULE_TEST_FILES = sorted((TESTS_DIR / "rules").glob("test_*.yaml"))
RULE_FILES = sorted((TESTS_DIR / "rules").glob("*.rules.yaml"))
FILES = PROMQL_FILES + RULE_TEST_FILES
CLI = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]
_EXPECTED_VALUE = re.compile(r"value: (-?[0-9][0-9.e]*)")
_OUR_DIFF_LINE = re.compile(r"        diff \(- expected only, \+ got only\):\n|          [-+(].*\n")


def promtool(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool_path(), "test", "rules", *map(str, paths)], capture_output=True, text=True,
                          timeout=120)


def ours(path: Path, from_disk: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_files([str(path)], out, err, from_disk=from_disk)
    return code, out.getvalue(), err.getvalue()


def test_there_are_test_files():
    assert len(PROMQL_FILES) >= 9
    assert {p.name for p in RULE_TEST_FILES} >= {"test_state_machine.yaml", "test_templating.yaml",
                                                  "test_recording.yaml", "test_default_rules.yaml"}


@pytest.mark.promtool
@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_the_rule_files_pass_promtool_check(path):
    result = subprocess.run([promtool_path(), "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.promtool
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_promtool_passes(path):
    result = promtool(path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Unit Testing:  {path}\n  SUCCESS\n\n"


@pytest.mark.parametrize("from_disk", [False, True], ids=["head", "disk"])
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_our_runner_passes(path, from_disk):
    code, out, err = ours(path, from_disk)
    assert code == 0, err
    assert out == f"Unit Testing:  {path}\n  SUCCESS\n\n"


@pytest.mark.promtool
@pytest.mark.parametrize("path", PROMQL_FILES, ids=lambda p: p.name)
def test_a_mutated_promql_file_fails_the_same_way_in_both(path, tmp_path):
    mutated = tmp_path / path.name
    mutated.write_text(_EXPECTED_VALUE.sub(lambda m: f"value: {float(m[1]) + 1!r}", path.read_text()))
    _fails_the_same_way(mutated, "    expr: ")


@pytest.mark.promtool
@pytest.mark.parametrize("path", RULE_TEST_FILES, ids=lambda p: p.name)
def test_a_mutated_rule_test_file_fails_the_same_way_in_both(path, tmp_path):
    mutated = tmp_path / path.name
    mutated.write_text(yaml.safe_dump(_mutated(yaml.safe_load(path.read_text()), path.parent), sort_keys=False))
    theirs = _fails_the_same_way(mutated, "    alertname: ")
    cases = sum(len(group.get("alert_rule_test") or []) + len(group.get("promql_expr_test") or [])
                for group in yaml.safe_load(path.read_text())["tests"])
    assert theirs.stdout.count("\n") == 2 + cases  # every case failed
    assert "WARNING" not in theirs.stderr and "        got:[\n" in theirs.stderr  # the rules ran and fired


def _mutated(doc: dict, base: Path) -> dict:
    """Every expectation changed: values +1, an extra label on the first expected alert (or an
    alert where none was expected), and rule_files made absolute for the copy's new directory."""
    doc["rule_files"] = [str(base / pattern) for pattern in doc.get("rule_files") or []]
    for group in doc["tests"]:
        for case in group.get("promql_expr_test") or []:
            case["exp_samples"] = [{**s, "value": s.get("value", 0) + 1} for s in case.get("exp_samples") or []] or [
                {"labels": "mutated", "value": 1}]
        for case in group.get("alert_rule_test") or []:
            alerts = case.get("exp_alerts") or [{}]
            alerts[0] = {**alerts[0], "exp_labels": {**(alerts[0].get("exp_labels") or {}), "mutated": "yes"}}
            case["exp_alerts"] = alerts
    return doc


def _fails_the_same_way(mutated: Path, failure_marker: str) -> subprocess.CompletedProcess[str]:
    theirs = promtool(mutated)
    code, out, err = ours(mutated)
    assert theirs.returncode == code == 1
    assert theirs.stderr.count(failure_marker) > 0
    assert out == theirs.stdout
    # Our report is promtool's plus a diff block under each failure.
    assert _OUR_DIFF_LINE.sub("", err) == theirs.stderr
    return theirs


def test_the_cli_runs_every_file_and_exits_0():
    result = subprocess.run([*CLI, "rules", "test", "--from-disk", *map(str, FILES)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("  SUCCESS\n") == len(FILES)


def test_the_cli_exits_1_on_a_failing_file_and_2_on_wrong_usage(tmp_path):
    failing = tmp_path / "failing.yaml"
    failing.write_text("tests:\n  - interval: 1m\n    input_series: [{series: x, values: '1'}]\n"
                       "    promql_expr_test: [{expr: x, eval_time: 0s, exp_samples: [{labels: x, value: 2}]}]\n")
    result = subprocess.run([*CLI, "rules", "test", str(failing)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == ('  FAILED:\n    expr: "x", time: 0s,\n        exp: {__name__="x"} 2E+00\n'
                             '        got: {__name__="x"} 1E+00\n        diff (- expected only, + got only):\n'
                             '          - {__name__="x"} 2E+00\n          + {__name__="x"} 1E+00\n')
    usage = subprocess.run([*CLI, "rules", "test"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "usage:" in usage.stderr
