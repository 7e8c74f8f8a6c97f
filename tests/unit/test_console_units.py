"""An alert's value in its rule's unit (console/units.py): from the templates, else the metric's suffix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from console.units import humanise, rule_unit

RULES = Path(__file__).resolve().parents[2] / "rules.yaml"


def test_the_default_rules_units_come_from_their_templates():
    rules = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert {name: rule_unit(rule) for name, rule in rules.items()} == {
        "HighCPUUsage": "percent", "LowMemoryAvailable": "ratio", "LowDiskSpace": "ratio",
        "HighHTTPErrorRate": "ratio", "HighLatencyP95": "seconds", "ServiceDown": "",
        "TLSCertificateExpiringSoon": "seconds"}


@pytest.mark.parametrize("expr,unit", [
    ("node_filesystem_avail_bytes{mountpoint=\"/\"} < 1e9", "bytes"),
    ("max by (service) (http_request_duration_seconds) > 2", "seconds"),
    ("cache_hit_ratio < 0.5", "ratio"),
    ("rate(node_cpu_seconds_total[5m]) > 1", ""),  # a rate of seconds is not seconds
    ("node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1", ""),  # arithmetic: unknown
    ("up == 0", ""),
])
def test_a_plain_expression_gives_its_metrics_unit(expr, unit):
    assert rule_unit({"expr": expr, "annotations": {"summary": "{{ $labels.instance }}"}}) == unit


def test_values_are_written_in_their_unit():
    assert humanise(2.62e10, "bytes") == "24.4 GiB"
    assert humanise(0.531, "ratio") == "53.1%"
    assert humanise(53.1, "percent") == "53.1%"
    assert humanise(1.2, "seconds") == "1.20s"
    assert humanise(123456.0, "") == "1.235e+05"
    assert humanise(float("nan"), "bytes") == "nan" and humanise(None, "bytes") == "–"
