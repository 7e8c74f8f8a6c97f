"""Every PromQL test file under tests/promql/ passes in the real promtool and in `metrics-service rules test`.

promtool confirms that each expectation is Prometheus's own answer; our runner then checks that our
query engine gives the same, reading the samples from the in-memory head and from SQLite chunks.
A mutated copy of each file (every expected value changed) must fail the same cases with the same
report in both tools, so the runner cannot pass by comparing too little.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.ruletest import run_files
from tests.conftest import promtool_path

PROMQL_DIR = Path(__file__).resolve().parents[1] / "promql"
FILES = sorted(PROMQL_DIR.glob("*.yaml"))
CLI = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]
_EXPECTED_VALUE = re.compile(r"value: (-?[0-9][0-9.e]*)")


def promtool(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool_path(), "test", "rules", *map(str, paths)], capture_output=True, text=True,
                          timeout=120)


def ours(path: Path, from_disk: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_files([str(path)], out, err, from_disk=from_disk)
    return code, out.getvalue(), err.getvalue()


def test_there_are_promql_test_files():
    assert len(FILES) >= 9


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
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_a_mutated_file_fails_the_same_way_in_both(path, tmp_path):
    mutated = tmp_path / path.name
    mutated.write_text(_EXPECTED_VALUE.sub(lambda m: f"value: {float(m[1]) + 1!r}", path.read_text()))
    theirs = promtool(mutated)
    code, out, err = ours(mutated)
    assert theirs.returncode == code == 1
    assert theirs.stderr.count("    expr: ") > 0
    assert out == theirs.stdout
    # Our report is promtool's plus a diff block under each failure.
    without_diff = "".join(line for line in err.splitlines(keepends=True)
                           if not line.startswith(("        diff (", "          ")))
    assert without_diff == theirs.stderr


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
