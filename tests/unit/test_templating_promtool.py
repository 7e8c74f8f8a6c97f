"""tests/promql_templates/templating_*.yaml: Prometheus's own expansions, which engine/templating must reproduce.

promtool confirms the expected labels and annotations in templating_test.yaml; the same expectations
are then checked against our expansion of each rule's templates, with the alert's sample labels and
value taken from the file's input series and `query` answered from those series.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.templating import QuerySample, TemplateData, expand
from engine.templating.funcs import BUILTINS
from engine.templating.promfuncs import PROMETHEUS_FUNCS
from tests.conftest import promtool_path

DIR = Path(__file__).resolve().parents[1] / "promql_templates"
RULES_FILE = DIR / "templating_rules.yaml"
TEST_FILE = DIR / "templating_test.yaml"
# promtool 2.42 gives these two a nil external URL, so they are covered in test_templating.py instead.
NOT_IN_PROMTOOL = {"externalURL", "pathPrefix"}
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _series(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition("{")
    return name, {k: json.loads(f'"{v}"') for k, v in _LABEL.findall(rest)}


def _value(text: str) -> float:
    return {"NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}.get(text) or float(text)


def _cases() -> list[Any]:
    rules = {r["alert"]: r for r in yaml.safe_load(RULES_FILE.read_text())["groups"][0]["rules"]}
    group = yaml.safe_load(TEST_FILE.read_text())["tests"][0]
    series = [(*_series(s["series"]), _value(s["values"])) for s in group["input_series"]]

    def query(q: str) -> list[QuerySample]:
        return [QuerySample({"__name__": name, **labels}, value) for name, labels, value in series if name == q]

    cases = []
    for test in group["alert_rule_test"]:
        rule = rules[test["alertname"]]
        for exp in test["exp_alerts"]:
            # The rules select one metric each, so $labels is the series' labels, __name__ included.
            ((labels, value),) = [(lb, v) for metric, lb, v in series
                                  if metric == rule["expr"] and lb.items() <= exp["exp_labels"].items()]
            data = TemplateData({"__name__": rule["expr"], **labels}, value, group["external_labels"],
                                group["external_url"], query)
            cases.append(pytest.param(rule, exp, data, id=f"{rule['alert']}-{labels.get('case', '')}"))
    return cases


@pytest.mark.promtool
def test_promtool_confirms_every_expectation():
    result = subprocess.run([promtool_path(), "test", "rules", str(TEST_FILE)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("rule", "exp", "data"), _cases())
def test_engine_expands_the_rules_as_prometheus_did(rule, exp, data):
    name = "__alert_" + rule["alert"]
    for label, template in rule.get("labels", {}).items():
        assert expand(template, data, name) == exp["exp_labels"][label], label
    annotations = {key: expand(template, data, name) for key, template in rule["annotations"].items()}
    assert annotations == exp["exp_annotations"]


def test_the_rules_use_every_function_prometheus_2_42_has():
    text = RULES_FILE.read_text()
    functions = (set(PROMETHEUS_FUNCS) | set(BUILTINS)) - NOT_IN_PROMTOOL
    unused = {f for f in functions if not re.search(rf"\b{f}\b", text)}
    assert unused == set()
