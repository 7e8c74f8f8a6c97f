"""The Grafana dashboards in dashboards/: Grafana's dashboard model, checked panel by panel, and every
panel query answered with data by our own server fed by the demo platform."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from demo.options import DemoOptions
from demo.platform import DemoPlatform
from engine.dashboards import BUILTIN_DASHBOARDS
from server.runner import start_server
from tests.conftest import promtool_path
from tests.integration.conftest import make_settings

FILES = sorted(BUILTIN_DASHBOARDS.glob("*.json"))
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "bargauge", "table"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
VARIABLE_RE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
# Panels whose data needs something the demo fixture does not have.
MAY_BE_EMPTY = {
    ("System", "Swap used"): "the host may have no swap",
    ("Business", "Requests by traffic source"): "the demo's requests carry no source label",
    ("Business", "Bookings by traffic source"): "the demo's bookings carry no source label",
}
RANGE_S = 120
STEP_S = 5
SUBSTITUTIONS = {"__rate_interval": "1m", "__interval": f"{STEP_S}s", "__range": f"{RANGE_S}s"}


def check_dashboard(doc: Any) -> list[str]:
    """Problems with ``doc`` as a Grafana dashboard (schema 39+) whose panels query ``${datasource}``."""
    if not isinstance(doc, dict):
        return ["the dashboard is not a JSON object"]
    problems = [f"{key} missing" for key in ("uid", "title") if not isinstance(doc.get(key), str) or not doc[key]]
    if not isinstance(doc.get("schemaVersion"), int) or doc["schemaVersion"] < 39:
        problems.append("schemaVersion missing or below 39")
    variables = doc.get("templating", {}).get("list")
    if not isinstance(variables, list):
        return [*problems, "templating.list missing"]
    names = [v.get("name") for v in variables if isinstance(v, dict)]
    if len(names) != len(variables) or len(set(names)) != len(names) or not all(names):
        problems.append(f"templating: variables need unique names, got {names}")
    for v in variables:
        problems += _check_variable(v)
    if "datasource" not in names:
        problems.append("no datasource variable")
    panels = doc.get("panels")
    if not isinstance(panels, list) or not panels:
        return [*problems, "no panels"]
    ids, boxes = [], []
    for panel in _flatten(panels):
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        ids.append(panel.get("id"))
        problems += [f"{where}: {p}" for p in _check_panel(panel, set(names))]
        box = panel.get("gridPos", {})
        if all(isinstance(box.get(k), int) for k in "xywh"):
            for other_where, other in boxes:
                if _overlap(box, other):
                    problems.append(f"{where} overlaps {other_where}")
            boxes.append((where, box))
    if not all(isinstance(i, int) for i in ids) or len(set(ids)) != len(ids):
        problems.append(f"panel ids must be unique integers, got {ids}")
    return problems


def _flatten(panels: list[Any]) -> list[dict]:
    out = []
    for panel in panels:
        if not isinstance(panel, dict):
            out.append({"id": None, "title": None})
            continue
        out.append(panel)
        if panel.get("type") == "row":
            out += _flatten(panel.get("panels", []))
    return out


def _check_variable(v: Any) -> list[str]:
    if not isinstance(v, dict):
        return ["templating: a variable is not an object"]
    where = f"variable {v.get('name')!r}"
    if v.get("type") == "datasource":
        return [] if v.get("query") == "prometheus" else [f"{where}: a datasource variable must query prometheus"]
    if v.get("type") != "query":
        return [f"{where}: type {v.get('type')!r} is not datasource or query"]
    problems = []
    if v.get("datasource") != DATASOURCE:
        problems.append(f"{where}: datasource must be {DATASOURCE}")
    query = v.get("query")
    text = query.get("query") if isinstance(query, dict) else query
    if not isinstance(text, str) or not re.fullmatch(r"label_values\((.+,\s*)?\w+\)", text):
        problems.append(f"{where}: query {text!r} is not label_values(...)")
    if v.get("definition") != text:
        problems.append(f"{where}: definition differs from the query")
    if v.get("includeAll") and v.get("allValue") != ".*":
        problems.append(f"{where}: 'All' must be the regex .* so that matchers with =~ select everything")
    return problems


def _check_panel(panel: dict, variables: set[str]) -> list[str]:
    problems = []
    if panel.get("type") not in PANEL_TYPES:
        problems.append(f"type {panel.get('type')!r} not one of {sorted(PANEL_TYPES)}")
    if not isinstance(panel.get("title"), str) or not panel["title"]:
        problems.append("no title")
    box = panel.get("gridPos")
    if not isinstance(box, dict) or not all(isinstance(box.get(k), int) and box[k] >= 0 for k in "xywh"):
        return [*problems, f"gridPos {box!r} needs integers x, y, w, h"]
    if box["w"] < 1 or box["h"] < 1 or box["x"] + box["w"] > 24:
        problems.append(f"gridPos {box} does not fit 24 columns")
    if panel.get("type") == "row":
        return problems + (["a row has targets"] if panel.get("targets") else [])
    if panel.get("datasource") != DATASOURCE:
        problems.append(f"datasource must be {DATASOURCE}")
    targets = panel.get("targets")
    if not isinstance(targets, list) or not targets:
        return [*problems, "no targets"]
    ref_ids = [t.get("refId") for t in targets]
    if len(set(ref_ids)) != len(ref_ids) or not all(isinstance(r, str) and r for r in ref_ids):
        problems.append(f"refIds must be unique, got {ref_ids}")
    for t in targets:
        if t.get("datasource") != DATASOURCE:
            problems.append(f"target {t.get('refId')}: datasource must be {DATASOURCE}")
        if not isinstance(t.get("expr"), str) or not t["expr"].strip():
            problems.append(f"target {t.get('refId')}: no expr")
            continue
        for match in VARIABLE_RE.finditer(t["expr"]):
            name = match.group(1) or match.group(2)
            if name not in variables and name not in SUBSTITUTIONS:
                problems.append(f"target {t.get('refId')}: unknown variable ${name}")
    return problems


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# -- the model ------------------------------------------------------------------------------------


def test_the_four_dashboards_are_shipped():
    assert {load(p)["title"] for p in FILES} == {"System", "Business", "Application Performance", "Alerts & Health"}
    assert len({load(p)["uid"] for p in FILES}) == 4


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_dashboard_passes_the_model_check(path):
    assert check_dashboard(load(path)) == []


def test_the_checker_finds_what_grafana_would_reject():
    good = load(FILES[0])
    assert check_dashboard(good) == []
    panels = [p for p in good["panels"] if p["type"] != "row"]
    first, second = panels[0], panels[1]
    bad = json.loads(json.dumps(good))
    bad_panels = [p for p in bad["panels"] if p["type"] != "row"]
    bad_panels[0]["gridPos"] = dict(second["gridPos"])  # on top of its neighbour
    bad_panels[1]["id"] = first["id"]
    bad_panels[1]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "some-uid"}
    bad_panels[2]["gridPos"]["x"] = 20
    bad_panels[2]["gridPos"]["w"] = 8
    bad_panels[3]["type"] = "graph"
    bad_panels[4]["targets"][0]["expr"] += ' + on() up{job="$nojob"}'
    del bad["uid"]
    bad["templating"]["list"][1]["query"]["query"] = "up"
    problems = "\n".join(check_dashboard(bad))
    for expected in ("uid missing", "overlaps", "panel ids must be unique", "does not fit 24 columns",
                     "type 'graph'", "unknown variable $nojob", "target A: datasource",
                     "is not label_values"):
        assert expected in problems, (expected, problems)


# -- every panel query against our server -----------------------------------------------------------


@pytest.fixture
async def fed_server(tmp_path):
    running = await start_server(make_settings(tmp_path, demo="true", collection_interval="1",
                                               evaluation_interval="1"))
    options = DemoOptions(seed=5, rate=4.0, episode_every=0, push_interval=0.5, scrape_interval="1s",
                          check_interval="1s")
    demo = DemoPlatform(running.url, options)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            r = await client.post("/api/alerts/rules", json={
                "name": "DashboardTestAlert", "expr": "vector(1)", "for": "0s",
                "labels": {"severity": "critical"}})
            assert r.status_code == 201, r.text  # so that the firing-alert panels have something to show
        await demo.start()
        yield running
    finally:
        await demo.stop()
        await running.stop()


def substitute(expr: str, chosen: dict[str, str] | None = None) -> str:
    """The query Grafana would send with the ``chosen`` variable values, the others on "All" (.*)."""
    values = {**SUBSTITUTIONS, **(chosen or {})}
    return VARIABLE_RE.sub(lambda m: values.get(m.group(1) or m.group(2), ".*"), expr)


def all_targets() -> list[tuple[str, str, str]]:
    out = []
    for path in FILES:
        doc = load(path)
        for panel in _flatten(doc["panels"]):
            for target in panel.get("targets", []):
                out.append((doc["title"], panel["title"], substitute(target["expr"])))
    return out


@pytest.mark.promtool
def test_every_panel_query_parses_in_prometheus(tmp_path):
    """Grafana against a real Prometheus: each query, variables substituted, is PromQL to promtool 2.42."""
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, _, expr) in enumerate(all_targets())]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool_path(), "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


async def run_range(client: httpx.AsyncClient, expr: str) -> list[dict]:
    end = (await client.get("/api/v1/query", params={"query": "time()"})).json()["data"]["result"][0]
    r = await client.get("/api/v1/query_range", params={"query": expr, "start": end - RANGE_S, "end": end,
                                                        "step": STEP_S})
    assert r.status_code == 200 and r.json()["status"] == "success", (expr, r.text)
    return r.json()["data"]["result"]


async def test_every_panel_query_answers_with_data_from_the_demo_platform(fed_server):
    targets = all_targets()
    assert len(targets) > 60
    async with httpx.AsyncClient(base_url=fed_server.url, timeout=30) as client:
        missing: list[tuple[str, str, str]] = targets
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while True:  # the demo needs a few scrapes, pushes and rule evaluations before rates exist
            results = [(t, await run_range(client, t[2])) for t in missing]
            missing = [t for t, series in results if not series and (t[0], t[1]) not in MAY_BE_EMPTY]
            if not missing or loop.time() > deadline:
                break
            await asyncio.sleep(1)
        assert missing == [], "panels without data:\n" + "\n".join(f"{d} / {p}: {e}" for d, p, e in missing)


async def label_values(client: httpx.AsyncClient, label: str, params: dict[str, str], wait: bool) -> list[str]:
    """The label's values, polled for a while when ``wait`` (the demo's first checks and pushes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        r = await client.get(f"/api/v1/label/{label}/values", params=params)
        assert r.status_code == 200 and r.json()["status"] == "success", (label, r.text)
        if r.json()["data"] or not wait or loop.time() > deadline:
            return r.json()["data"]
        await asyncio.sleep(0.5)


NO_VALUES_HERE = {("System", "job"), ("System", "instance")}
"""Our own collector's node_* series carry no job or instance (a Prometheus scraping us adds them)."""


async def test_variables_get_their_values_and_queries_answer_with_them(fed_server):
    """Each variable resolved as Grafana does (its label_values query through the label values API,
    the variables before it set to their first value), then every panel query run with those values."""
    async with httpx.AsyncClient(base_url=fed_server.url, timeout=30) as client:
        for path in FILES:
            doc = load(path)
            chosen: dict[str, str] = {}
            for v in doc["templating"]["list"]:
                if v["type"] != "query":
                    continue
                match = re.fullmatch(r"label_values\((?:(.+),\s*)?(\w+)\)", v["query"]["query"])
                selector, label = match.group(1), match.group(2)
                params = {"match[]": substitute(selector, chosen)} if selector else {}
                values = await label_values(client, label, params, wait=(doc["title"], v["name"]) not in NO_VALUES_HERE)
                assert values or (doc["title"], v["name"]) in NO_VALUES_HERE, (doc["title"], v["name"])
                # as Grafana writes a value into a regex matcher: regex-escaped, then PromQL-string-escaped
                chosen[v["name"]] = re.escape(values[0]).replace("\\", "\\\\") if values else ".*"
            for panel in _flatten(doc["panels"]):
                for target in panel.get("targets", []):
                    await run_range(client, substitute(target["expr"], chosen))


async def test_the_filesystem_usage_panel_says_what_the_console_says(tmp_path):
    """On a filesystem whose space is partly neither used nor available (reserved blocks, thin
    pools), the System dashboard's Filesystem usage is df's Use% (used / (used + avail)), as the
    Overview and System screens show it, not 1 - avail / size."""
    from engine.system_view import filesystems_view
    from tests.integration.test_ingest_remote_write import PROTO, now_ms, payload

    gib = 2**30
    figures = {"size": 252 * gib, "free": 228 * gib, "avail": 79 * gib}
    running = await start_server(make_settings(tmp_path), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            t = await now_ms(client)
            labels = {"mountpoint": "/srv", "device": "/dev/vdb", "fstype": "ext4", "job": "node", "instance": "db-1"}
            body = payload(*(({"__name__": f"node_filesystem_{k}_bytes", **labels}, [(t, float(v))])
                             for k, v in figures.items()))
            assert (await client.post("/api/v1/write", content=body, headers=PROTO)).status_code == 204
            (expr,) = [substitute(e) for d, p, e in all_targets() if (d, p) == ("System", "Filesystem usage")]
            r = await client.get("/api/v1/query", params={"query": expr, "time": t / 1000})
            (series,) = r.json()["data"]["result"]
    finally:
        await running.stop()

    class Gauges:
        def gauges(self, name: str) -> list[Any]:
            field = name.removeprefix("node_filesystem_").removesuffix("_bytes")
            return [type("S", (), {"labels": labels, "value": figures[field]})()]

    (shown,) = filesystems_view(Gauges())
    assert float(series["value"][1]) * 100 == pytest.approx(shown["used_percent"], abs=0.005)
    assert shown["used_percent"] == pytest.approx(100 * 24 / (24 + 79), abs=0.005)
