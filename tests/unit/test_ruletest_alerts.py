"""`rules test` over rule files: alert_rule_test, recording rules, evaluation order and errors, as promtool 2.42.

Every expected report here is what the real promtool 2.42 printed for the same files (checked by
hand), plus our diff block; tests/integration/test_promtool_files.py runs whole files through both.
"""

from __future__ import annotations

import io
import textwrap

import pytest

from engine.compat.durations import format_go_duration
from engine.unittest import run_files
from engine.unittest.alerts import AlertPoint, check_alerts
from engine.unittest.testfile import AlertCase, ExpAlert

RULES = """\
    groups:
      - name: g
        rules:
          - alert: Down
            expr: up == 0
            for: 1m
            labels: {severity: page}
            annotations: {summary: '{{ $labels.instance }} down, external {{ $externalLabels.dc }} {{ $externalURL }}'}
          - record: ahead
            expr: x offset -1m
    """

OUTAGE = """\
    rule_files: [rules.yaml]
    tests:
      - interval: 1m
        name: outage
        external_labels: {dc: east}
        external_url: https://prom.example
        input_series:
          - {series: 'up{instance="a"}', values: '0 0 0'}
          - {series: 'up{instance="b"}', values: '0 0 0'}
          - {series: 'x', values: '1 2 3 4'}
        alert_rule_test:
          - {eval_time: 0s, alertname: Down, exp_alerts: []}
          - eval_time: 1m
            alertname: Down
            exp_alerts:
              - exp_labels: {instance: b, severity: page, alertname: Other}
                exp_annotations: {summary: 'b down, external east https://prom.example'}
              - exp_labels: {instance: a, severity: page}
                exp_annotations: {summary: 'a down, external east https://prom.example'}
        promql_expr_test:
          - {expr: ahead, eval_time: 1m, exp_samples: [{labels: ahead, value: 2}]}
    """


def run(tmp_path, test: str, rules: str = RULES, *, from_disk: bool = False) -> tuple[int, str, str]:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent(test))
    out, err = io.StringIO(), io.StringIO()
    code = run_files([str(path)], out, err, from_disk=from_disk)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("from_disk", [False, True], ids=["head", "disk"])
def test_alert_tests_pass_like_promtool(tmp_path, from_disk):
    # Pending at 0s is not compared; alertname is set on the expected labels (overriding "Other");
    # order does not matter; templates see the external labels and URL; and "x offset -1m" at 1m
    # is 2, not 3, because promtool loads samples only up to the tick being evaluated.
    code, out, err = run(tmp_path, OUTAGE, from_disk=from_disk)
    assert (code, err) == (0, "")
    assert out == f"Unit Testing:  {tmp_path / 't.yaml'}\n  SUCCESS\n\n"


def test_a_failing_alert_test_prints_promtools_report_with_a_diff_and_exits_1(tmp_path):
    failing = OUTAGE.replace("alertname: Down, exp_alerts: []}",
                             "alertname: Down, exp_alerts: [{exp_labels: {instance: a, severity: page}}]}")
    failing = failing.replace("{summary: 'a down, external east https://prom.example'}", "{summary: 'a down'}")
    code, out, err = run(tmp_path, failing)
    assert code == 1
    assert out == f"Unit Testing:  {tmp_path / 't.yaml'}\n\n\n\n"
    assert err == (
        "  FAILED:\n"
        "    name: outage,\n"
        "    alertname: Down, time: 0s, \n"
        "        exp:[\n"
        "            0:\n"
        '              Labels:{alertname="Down", instance="a", severity="page"}\n'
        "              Annotations:{}\n"
        "            ], \n"
        "        got:[]\n"
        "        diff (- expected only, + got only):\n"
        '          - Labels:{alertname="Down", instance="a", severity="page"} Annotations:{}\n'
        "    name: outage,\n"
        "    alertname: Down, time: 1m, \n"
        "        exp:[\n"
        "            0:\n"
        '              Labels:{alertname="Down", instance="a", severity="page"}\n'
        '              Annotations:{summary="a down"},\n'
        "            1:\n"
        '              Labels:{alertname="Down", instance="b", severity="page"}\n'
        '              Annotations:{summary="b down, external east https://prom.example"}\n'
        "            ], \n"
        "        got:[\n"
        "            0:\n"
        '              Labels:{alertname="Down", instance="a", severity="page"}\n'
        '              Annotations:{summary="a down, external east https://prom.example"},\n'
        "            1:\n"
        '              Labels:{alertname="Down", instance="b", severity="page"}\n'
        '              Annotations:{summary="b down, external east https://prom.example"}\n'
        "            ]\n"
        "        diff (- expected only, + got only):\n"
        '          - Labels:{alertname="Down", instance="a", severity="page"} Annotations:{summary="a down"}\n'
        '          + Labels:{alertname="Down", instance="a", severity="page"} '
        'Annotations:{summary="a down, external east https://prom.example"}\n'
    )


def test_an_alert_test_is_checked_at_the_last_tick_at_or_before_its_eval_time(tmp_path):
    # Ticks every 2m: at 1m59s the 0s evaluation counts (pending), at 3m59s the 2m one, where
    # 2m - 0s >= for, so the alert fires.
    test = """\
        rule_files: [rules.yaml]
        evaluation_interval: 2m
        tests:
          - interval: 1m
            input_series:
              - {series: 'up{instance="a"}', values: '0x5'}
            alert_rule_test:
              - {eval_time: 1m59s, alertname: Down, exp_alerts: []}
              - {eval_time: 3m59s, alertname: Down, exp_alerts: [{exp_labels: {instance: a, severity: page},
                 exp_annotations: {summary: 'a down, external  '}}]}
        """
    code, _, err = run(tmp_path, test)
    assert (code, err) == (0, "")


def test_a_rule_that_fails_to_evaluate_ends_the_test_group(tmp_path):
    rules = """\
        groups:
          - name: g
            rules:
              - alert: Same
                expr: up
                labels: {instance: one}
        """
    test = """\
        rule_files: [rules.yaml]
        tests:
          - interval: 1m
            input_series:
              - {series: 'up{instance="a"}', values: '0 0'}
              - {series: 'up{instance="b"}', values: '0 0'}
            alert_rule_test:
              - {eval_time: 1m, alertname: Same, exp_alerts: []}
            promql_expr_test:
              - {expr: up, eval_time: 1m, exp_samples: []}
        """
    code, out, err = run(tmp_path, test, rules)
    assert code == 1
    assert err == ("  FAILED:\n    rule: Same, time: 0s, err: vector contains metrics with the same labelset "
                   "after applying alert labels\n")
    assert out.count("\n") == 3


def test_group_eval_order_decides_what_a_group_sees_at_the_same_tick(tmp_path):
    rules = """\
        groups:
          - name: first
            rules: [{record: a, expr: vector(1)}]
          - name: second
            rules: [{record: b, expr: a + 1}]
        """
    test = """\
        rule_files: [rules.yaml]
        group_eval_order: [{order}]
        tests:
          - interval: 1m
            promql_expr_test:
              - {{expr: b, eval_time: 0s, exp_samples: [{{labels: b, value: 2}}]}}
        """
    assert run(tmp_path, test.format(order="first, second"), rules)[0] == 0
    assert run(tmp_path, test.format(order="second, first"), rules)[0] == 1


def test_a_recorded_series_that_disappears_gets_a_stale_marker(tmp_path):
    rules = """\
        groups:
          - name: g
            rules: [{record: hot, expr: temperature > 50}]
        """
    test = """\
        rule_files: [rules.yaml]
        tests:
          - interval: 1m
            input_series:
              - {series: temperature, values: '60 60 40 40'}
            promql_expr_test:
              - {expr: hot, eval_time: 1m30s, exp_samples: [{labels: hot, value: 60}]}
              - {expr: hot, eval_time: 2m30s, exp_samples: []}
              - {expr: temperature, eval_time: 2m30s, exp_samples: [{labels: temperature, value: 40}]}
        """
    assert run(tmp_path, test, rules)[:2] == (0, f"Unit Testing:  {tmp_path / 't.yaml'}\n  SUCCESS\n\n")


def test_only_firing_alerts_count_and_order_does_not():
    case = AlertCase(eval_time=60_000, alertname="A", exp_alerts=[
        ExpAlert(exp_labels={"i": "2"}), ExpAlert(exp_labels={"i": "1"}, exp_annotations={"s": "x"})])
    got = [AlertPoint.of({"alertname": "A", "i": "1"}, {"s": "x"}), AlertPoint.of({"alertname": "A", "i": "2"}, {})]
    assert check_alerts(case, got, "") is None
    assert check_alerts(case, got[:1], "") is not None
    assert check_alerts(AlertCase(alertname="A"), [], "") is None


@pytest.mark.parametrize(("ms", "text"), [
    (0, "0s"), (500, "500ms"), (1500, "1.5s"), (60_000, "1m0s"), (90_000, "1m30s"), (3_600_000, "1h0m0s"),
    (3_661_001, "1h1m1.001s"), (90_000_000, "25h0m0s"),
])
def test_go_durations_print_like_go(ms, text):
    assert format_go_duration(ms) == text
