"""Grafana's template variables as the console's Dashboards screen fills them into panel queries:
Grafana's syntaxes and formats, the Prometheus data source's escaping, built-ins, values from
label_values / query_result / metrics queries, and dashboards that are not well formed."""

from __future__ import annotations

import json

import pytest

from engine.dashboards import BUILTIN_DASHBOARDS
from engine.grafana_vars import (
    ALL,
    MAX_EXPR_CHARS,
    TemplateError,
    ValuesQuery,
    Variable,
    apply_regex,
    builtins,
    interpolate,
    parse_variables,
    result_lines,
    sort_values,
    values_query,
)
from tests.integration.test_dashboards import SUBSTITUTIONS, all_targets


def var(name: str, current: list[str], options: list[str], **kw) -> Variable:
    v = Variable(name=name, label=name, kind="query", options=options, **kw)
    v.current = current
    return v


def test_every_syntax_and_the_builtins():
    variables = {"job": var("job", ["node"], ["node", "api"]), "node": var("node", ["10.0.0.1:9100"], [])}
    values = builtins(range_s=3600, step_s=15, end_s=1_800_000_000)
    expr = 'rate(x{job="$job", instance="${node}", i="[[node]]"}[$__rate_interval]) [$__range:$__interval]'
    assert interpolate(expr, variables, values) == \
        'rate(x{job="node", instance="10.0.0.1:9100", i="10.0.0.1:9100"}[1m]) [3600s:15s]'
    assert values["__rate_interval"] == "1m"  # max(step + 15 s scrape, 4 x scrape), Grafana's rule
    assert builtins(86400, 360, 0)["__rate_interval"] == "6m15s"
    assert values["__range_ms"] == "3600000" and values["__to"] == "1800000000000"
    assert values["__from"] == str((1_800_000_000 - 3600) * 1000)
    assert interpolate("$unknown ${other:csv}", variables, values) == "$unknown ${other:csv}"


def test_multi_values_and_all_as_the_prometheus_data_source_writes_them():
    many = var("svc", ["a.b", "c(d)"], ["a.b", "c(d)", "e"], multi=True, include_all=True, all_value=".*")
    assert interpolate('x{s=~"$svc"}', {"svc": many}, {}) == r'x{s=~"(a\\.b|c\\(d\\))"}'
    many.current = ["a.b"]
    assert interpolate('x{s=~"$svc"}', {"svc": many}, {}) == r'x{s=~"a\\.b"}'
    many.current = [ALL]
    assert interpolate('x{s=~"$svc"}', {"svc": many}, {}) == 'x{s=~".*"}'
    many.all_value = None  # "All" without a custom value: every option
    assert interpolate('x{s=~"$svc"}', {"svc": many}, {}) == r'x{s=~"(a\\.b|c\\(d\\)|e)"}'
    single = var("one", ["it's\\"], ["it's\\"])
    assert interpolate('x{s="$one"}', {"one": single}, {}) == "x{s=\"it\\\\'s\\\\\"}"
    pair = var("p", ["a", "b"], ["a", "b"], multi=True)
    formats = {"csv": "a,b", "pipe": "a|b", "json": '["a", "b"]', "glob": "{a,b}", "regex": "(a|b)", "raw": "a,b"}
    for name, expected in formats.items():
        assert interpolate(f"${{p:{name}}}", {"p": pair}, {}) == expected, name


def test_interpolation_is_bounded():
    huge = var("v", [ALL], [f"value{i}" for i in range(20_000)], multi=True, include_all=True)
    with pytest.raises(TemplateError, match=str(MAX_EXPR_CHARS)):
        interpolate('x{a=~"$v"}', {"v": huge}, {})


def test_the_shipped_dashboards_get_the_queries_their_integration_test_runs():
    """Variables on "All" (.*), built-ins as tests/integration/test_dashboards.py sets them: the same
    PromQL, which that test runs against our server and promtool."""
    for path in sorted(BUILTIN_DASHBOARDS.glob("*.json")):
        doc = json.loads(path.read_text())
        variables = {v.name: v for v in parse_variables(doc)}
        assert all(v.is_all for v in variables.values() if v.kind == "query"), path.name
        for panel in doc["panels"]:
            for target in panel.get("targets", []):
                assert any(interpolate(target["expr"], variables, SUBSTITUTIONS) == expr
                           for _, _, expr in all_targets()), target["expr"]


def test_values_queries_and_their_answers():
    assert values_query('label_values(node_uname_info{job="$job"}, nodename)') == \
        ValuesQuery(label="nodename", match='node_uname_info{job="$job"}')
    assert values_query("label_values(job)") == ValuesQuery(label="job")
    assert values_query("query_result(up == 0)") == ValuesQuery(expr="up == 0")
    assert values_query("metrics(node_.*)") == ValuesQuery(label="__name__", metric_regex="node_.*")
    assert values_query("label_names()") is None
    lines = result_lines([{"metric": {"__name__": "up", "job": "a"}, "value": [1700000000.5, "1"]}])
    assert lines == ['up{job="a"} 1 1700000000500']
    assert apply_regex(lines, '/job="([^"]+)"/') == ["a"]
    assert apply_regex(["Prod-1", "dev-2", "prod-1"], "/^prod-(.*)$/i") == ["1"]
    assert apply_regex(["a", "b"], "(unclosed") == ["a", "b"]  # RE2 refuses it: the values stay
    assert sort_values(["b10", "a2", "C1"], 3) == ["C1", "a2", "b10"]
    assert sort_values(["b", "a", "C"], 1) == ["C", "a", "b"] and sort_values(["b", "a", "C"], 6) == ["C", "b", "a"]


def test_variables_from_the_file_and_the_choice_kept_or_reset():
    doc = {"templating": {"list": [
        {"name": "ds", "type": "datasource", "query": "prometheus"},
        {"name": "job", "type": "query", "query": {"query": "label_values(up, job)"}, "includeAll": True,
         "multi": True, "allValue": ".*", "current": {"value": ["$__all"]}},
        {"name": "node", "type": "query", "query": "label_values(up{job=~\"$job\"}, instance)",
         "current": {"value": "gone:9100"}},
        {"name": "disks", "type": "custom", "query": "sda, nvme0n1,vdb", "current": {"value": "nvme0n1"}},
        {"name": "hidden", "type": "constant", "query": "x", "hide": 2},
        "not a variable", {"type": "query"}, {"name": 3},
    ]}}
    ds, job, node, disks, hidden = parse_variables(doc)
    assert (ds.kind, job.queried, job.is_all, job.text()) == ("datasource", True, True, "All")
    assert disks.options == ["sda", "nvme0n1", "vdb"] and disks.current == ["nvme0n1"]
    assert hidden.hidden and hidden.current == ["x"]
    node.set_options(["b:9100", "a:9100"])
    assert node.current == ["b:9100"]  # the file's value is gone: the first option, as Grafana does
    job.set_options(["node", "api"])
    job.choose(["api", "nope"])
    assert job.current == ["api"]
    job.choose(["node", ALL])
    assert job.current == [ALL]
    assert parse_variables({"templating": "x"}) == [] and parse_variables({}) == []
