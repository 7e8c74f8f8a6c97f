"""`rules test`: reading test files strictly, comparing like promtool 2.42, its report and exit codes.

Expected outputs follow what the real promtool 2.42 prints for the same files (checked by hand,
and for whole files in tests/integration/test_promtool_files.py).
"""

from __future__ import annotations

import io
import math
import textwrap

import pytest

from console.commands import rules as rules_command
from engine.unittest import run_files
from engine.unittest.compare import Point, diff_lines, points_string, same, sort_points
from engine.unittest.testfile import UnitTestFileError, load_test_file


def run(tmp_path, text: str, name: str = "t.yaml") -> tuple[int, str, str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    out, err = io.StringIO(), io.StringIO()
    code = run_files([str(path)], out, err)
    return code, out.getvalue(), err.getvalue()


FAILING = """\
    tests:
      - interval: 1m
        input_series:
          - series: 'up{job="api", instance="a"}'
            values: '1 1 0'
          - series: 'up{job="api", instance="b"}'
            values: '1x2'
        promql_expr_test:
          - expr: up == 0
            eval_time: 2m
            exp_samples:
              - labels: 'up{job="api", instance="a"}'
                value: 0
          - expr: sum by (job) (up)
            eval_time: 2m
            exp_samples:
              - labels: '{job="api"}'
                value: 2
          - expr: up
            eval_time: 90s
            exp_samples:
              - labels: 'up{job="api", instance="b"}'
                value: 1
              - labels: 'up{job="web"}'
                value: 1
    """


def test_a_failing_file_prints_promtools_report_with_a_diff_and_exits_1(tmp_path):
    code, out, err = run(tmp_path, FAILING)
    assert code == 1
    path = tmp_path / "t.yaml"
    assert out == f"Unit Testing:  {path}\n\n\n\n"  # one blank line per failure, then one per file
    assert err == (
        "  FAILED:\n"
        '    expr: "sum by (job) (up)", time: 2m,\n'
        '        exp: {job="api"} 2E+00\n'
        '        got: {job="api"} 1E+00\n'
        "        diff (- expected only, + got only):\n"
        '          - {job="api"} 2E+00\n'
        '          + {job="api"} 1E+00\n'
        '    expr: "up", time: 1m30s,\n'
        '        exp: {__name__="up", instance="b", job="api"} 1E+00, {__name__="up", job="web"} 1E+00\n'
        '        got: {__name__="up", instance="a", job="api"} 1E+00, {__name__="up", instance="b", job="api"} 1E+00\n'
        "        diff (- expected only, + got only):\n"
        '          + {__name__="up", instance="a", job="api"} 1E+00\n'
        '          - {__name__="up", job="web"} 1E+00\n'
    )


def test_a_passing_file_prints_success_and_exits_0(tmp_path):
    code, out, err = run(tmp_path, FAILING.replace("value: 2", "value: 1").replace("""
              - labels: 'up{job="web"}'
                value: 1""", """
              - labels: 'up{job="api", instance="a"}'
                value: 1"""))
    assert (code, err) == (0, "")
    assert out == f"Unit Testing:  {tmp_path / 't.yaml'}\n  SUCCESS\n\n"


def test_every_file_runs_and_any_failure_fails_the_run(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("tests: []\n")
    bad.write_text("tests: [\n")
    out, err = io.StringIO(), io.StringIO()
    assert run_files([str(bad), str(good)], out, err) == 1
    assert out.getvalue() == f"Unit Testing:  {bad}\n\n\nUnit Testing:  {good}\n  SUCCESS\n\n"


def test_samples_after_the_last_evaluation_tick_are_not_loaded_like_promtool(tmp_path):
    # promtool loads samples up to the last rule-evaluation tick (1m) at or before the largest
    # eval_time (90s): the 75s and 90s samples are not there, so x is still 4 at 90s.
    code, _, err = run(tmp_path, """\
        tests:
          - interval: 15s
            input_series:
              - {series: x, values: '0+1x20'}
            promql_expr_test:
              - {expr: x, eval_time: 90s, exp_samples: [{labels: x, value: 4}]}
        """)
    assert (code, err) == (0, "")


def test_a_group_without_interval_loads_every_sample_at_time_0_like_promtool_2_42(tmp_path):
    code, _, err = run(tmp_path, """\
        tests:
          - input_series:
              - {series: x, values: '5 6 7'}
            promql_expr_test:
              - {expr: x, eval_time: 2m, exp_samples: [{labels: x, value: 5}]}
        """)
    assert code == 0
    assert "has no interval" in err


def test_an_alert_test_without_alertname_fails_like_promtool(tmp_path):
    code, _, err = run(tmp_path, """\
        tests:
          - interval: 1m
            name: g
            alert_rule_test:
              - {eval_time: 5m, exp_alerts: []}
        """)
    assert code == 1
    assert "an item under alert_rule_test misses required attribute alertname at eval_time 5m (in TestGroup g)" in err


def test_tests_over_rule_files_read_what_the_rules_recorded(tmp_path):
    (tmp_path / "rules.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n")
    code, out, err = run(tmp_path, """\
        rule_files: [rules.yaml, 'missing-*.yaml']
        tests:
          - interval: 1m
            input_series:
              - {series: 'up{job="a"}', values: '1'}
            promql_expr_test:
              - {expr: 'job:up:sum', eval_time: 0s, exp_samples: [{labels: 'job:up:sum{job="a"}', value: 1}]}
        """)
    assert (code, out) == (0, f"Unit Testing:  {tmp_path / 't.yaml'}\n  SUCCESS\n\n")
    assert err == f"  WARNING: no file match pattern {tmp_path / 'missing-*.yaml'}\n"


def test_a_bad_rule_file_fails_the_test_file(tmp_path):
    (tmp_path / "rules.yaml").write_text("groups:\n  - name: g\n    rules:\n      - record: x\n")
    code, _, err = run(tmp_path, "rule_files: [rules.yaml]\ntests: []\n")
    assert code == 1
    assert "rule_files:" in err and "rules.yaml" in err


@pytest.mark.parametrize(("text", "message"), [
    ("fuzzy_compare: true\n", "fuzzy_compare (line 1): unknown field"),
    ("tests:\n  - interval: 1m\n    start_timestamp: 0\n", "tests[0].start_timestamp (line 3): unknown field"),
    ("evaluation_interval: 5\n", 'evaluation_interval (line 1): not a valid duration string: "5"'),
    ("tests: []\ntests: []\n", "tests (line 2): key already set"),
    ("tests:\n  - promql_expr_test:\n      - exp_samples: [{value: '1'}]\n",
     "tests[0].promql_expr_test[0].exp_samples[0].value (line 3): the quoted string '1' is not a number"),
    ("tests:\n  - promql_expr_test:\n      - exp_samples: [{value: NaN}]\n", "'NaN' is not a number"),
    ("tests:\n  - promql_expr_test:\n      - exp_samples: [{value: 1e400}]\n", "'1e400' is not a number"),  # promtool
    ("tests: {}\n", "tests (line 1): expected a list"),
    ("tests: [\n", "YAML error at line 2, column 1"),
])
def test_bad_files_name_the_field_and_line(tmp_path, text, message):
    code, out, err = run(tmp_path, text)
    assert code == 1
    assert message in err
    assert f"{tmp_path / 't.yaml'}: " in err


def test_bad_series_notation_names_the_series(tmp_path):
    code, _, err = run(tmp_path, """\
        tests:
          - interval: 1m
            input_series:
              - {series: 'x{a="1"}', values: '1 a 3'}
            promql_expr_test:
              - {expr: x, eval_time: 0s}
        """)
    assert code == 1
    assert "input_series[0] (line 4) 'x{a=\"1\"}': bad value 'a' at column 12" in err


def test_bad_expressions_and_labels_fail_their_case_only(tmp_path):
    code, _, err = run(tmp_path, """\
        tests:
          - interval: 1m
            input_series:
              - {series: x, values: '1'}
            promql_expr_test:
              - {expr: 'sum(x', eval_time: 0s}
              - {expr: x, eval_time: 0s, exp_samples: [{labels: 'x{', value: 1}]}
              - {expr: 'x[5m]', eval_time: 0s}
              - {expr: x, eval_time: 0s, exp_samples: [{labels: x, value: 1}]}
        """)
    assert code == 1
    lines = err.splitlines()
    assert lines[1].startswith('    expr: "sum(x", time: 0s, err: ')
    assert lines[2].startswith('    expr: "x", time: 0s, err: labels "x{" (line 7): ')
    assert lines[3] == '    expr: "x[5m]", time: 0s, err: rule result is not a vector or scalar'
    assert len(lines) == 4


def test_yaml_numbers_are_read_like_go():
    f = load_test_file("tests:\n  - promql_expr_test:\n      - exp_samples:\n"
                       "          - {value: 1e3}\n          - {value: .nan}\n          - {value: -.inf}\n"
                       "          - {value: 0x10}\n          - {value: 010}\n          - {value: }\n")
    got = [s.value for s in f.tests[0].promql_expr_test[0].exp_samples]
    assert got[0] == 1000 and math.isnan(got[1]) and got[2:] == [-math.inf, 16, 8, 0]
    with pytest.raises(UnitTestFileError, match="'1:30' is not a number"):
        load_test_file("tests:\n  - promql_expr_test:\n      - exp_samples: [{value: 1:30}]\n")


def test_an_empty_file_has_no_tests():
    assert load_test_file("").tests == []


def p(labels: str, value: float) -> Point:
    return Point(tuple(sorted(kv.split("=") for kv in labels.split(",") if kv)), value)


def test_comparison_is_exact_and_order_free():
    assert same(sort_points([p("a=1", 1), p("a=2", 2)]), sort_points([p("a=2", 2), p("a=1", 1)]))
    assert not same([p("a=1", 0.30000000000000004)], [p("a=1", 0.3)])
    assert same([p("a=1", -0.0)], [p("a=1", 0.0)])
    assert not same([p("a=1", 1)], [p("a=1", 1), p("a=2", 1)])


def test_an_expected_nan_never_matches_like_promtool_2_42():
    assert not same([p("a=1", math.nan)], [p("a=1", math.nan)])
    assert diff_lines([p("a=1", math.nan)], [p("a=1", math.nan)])[-1].startswith("  (an expected NaN never matches")


def test_diff_shows_only_what_differs_in_label_order():
    exp = [p("a=1", 1), p("a=2", 2), p("a=3", 3)]
    got = [p("a=1", 1), p("a=2", 5), p("a=4", 4)]
    assert diff_lines(exp, got) == ['- {a="2"} 2E+00', '+ {a="2"} 5E+00', '- {a="3"} 3E+00', '+ {a="4"} 4E+00']
    assert points_string([]) == "nil"
    assert points_string(exp[:2]) == '{a="1"} 1E+00, {a="2"} 2E+00'


@pytest.mark.parametrize("argv", [["rules"], ["rules", "test"], ["rules", "frobnicate", "x.yaml"]])
def test_wrong_usage_exits_2(argv, capsys):
    import argparse

    parser = argparse.ArgumentParser(prog="metrics-service")
    rules_command.add_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err
