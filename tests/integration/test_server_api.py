"""Every endpoint of the headless server, over a real socket."""

from __future__ import annotations

import asyncio
import re
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import promtool_path


async def second_cycle(server):
    sub = server.engine.bus.subscribe(["system"])
    try:
        await asyncio.wait_for(sub.get(), 10)
    finally:
        sub.close()


async def test_metrics_endpoint_exposes_node_process_and_request_metrics(server, client):
    await client.get("/livez")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert families["node_cpu_seconds"].type == "counter"
    cpus = {s.labels["cpu"] for s in families["node_cpu_seconds"].samples}
    assert "0" in cpus
    assert families["node_memory_MemTotal_bytes"].samples[0].value > 0
    assert families["node_load1"].type == "gauge"
    assert families["process_resident_memory_bytes"].samples[0].value > 0
    requests = families["http_requests"].samples
    assert any(s.labels == {"service": "metrics-service", "method": "GET", "route": "/livez", "status": "200"}
               and s.value >= 1 for s in requests)
    hist = families["http_request_duration_seconds"]
    assert hist.type == "histogram"
    assert any(s.name.endswith("_bucket") and s.labels["le"] == "+Inf" for s in hist.samples)


async def test_metrics_in_openmetrics_when_asked(client):
    await client.get("/livez")
    r = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert r.text.endswith("# EOF\n")
    assert "# TYPE node_cpu_seconds counter\n" in r.text
    assert "# UNIT node_cpu_seconds seconds\n" in r.text
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
    names = {f.name for f in om_parse(r.text)}
    assert {"node_cpu_seconds", "http_request_duration_seconds", "node_load1"} <= names


async def test_promtool_finds_no_problem_but_node_exporters_own_names(client):
    """promtool lints node_exporter's camelCase memory names (node_memory_MemTotal_bytes...), which we
    keep on purpose so node_exporter dashboards and rules work; anything else is a real problem."""
    promtool = promtool_path()
    await client.get("/api/metrics/summary")
    body = (await client.get("/metrics")).content
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    problems = (result.stdout + result.stderr).decode().splitlines()
    inherited = re.compile(r"^node_memory_[A-Za-z]+_bytes metric names should be written in 'snake_case' not "
                           r"'camelCase'$")
    assert [p for p in problems if not inherited.match(p)] == []
    assert result.returncode in (0, 3)  # 3: lint findings only, never a parse error (1)
    cleaned = b"\n".join(line for line in body.split(b"\n") if b"node_memory_" not in line)
    clean = subprocess.run([promtool, "check", "metrics"], input=cleaned, capture_output=True, timeout=30)
    assert clean.returncode == 0, clean.stderr.decode()


async def test_system_view_has_rates_after_two_cycles(server, client):
    await second_cycle(server)
    body = (await client.get("/api/metrics/system")).json()
    assert 0 <= body["cpu"]["usage_percent"] <= 100
    assert body["cpu"]["count"] == len(body["cpu"]["cores"]) >= 1
    assert body["memory"]["total_bytes"] > body["memory"]["available_bytes"] > 0
    assert 0 <= body["memory"]["used_percent"] <= 100
    assert any(f["mountpoint"] == "/" for f in body["filesystems"])
    assert all(n["receive_bytes_per_second"] >= 0 for n in body["network"])
    assert body["load"]["load1"] >= 0
    assert body["timestamp"].endswith("Z")


async def test_summary(client):
    body = (await client.get("/api/metrics/summary")).json()
    assert body["service"] == "metrics-service"
    assert body["store"]["series"] > 50
    assert body["system"]["memory_used_percent"] > 0


@pytest.mark.parametrize("chart", ["cpu", "memory", "disk", "network", "load"])
async def test_charts_have_series_and_points(server, client, chart):
    await second_cycle(server)
    await second_cycle(server)
    r = await client.get(f"/api/dashboard/charts/{chart}", params={"range": "5m", "step": "100ms"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == chart
    assert body["series"], body
    points = [p for s in body["series"] for p in s["points"]]
    if chart != "disk":  # a container may have no block device
        assert points
    for t, v in points:
        assert isinstance(t, float) and v >= 0


async def test_cpu_chart_total_is_a_percentage(server, client):
    await second_cycle(server)
    await second_cycle(server)
    body = (await client.get("/api/dashboard/charts/cpu?range=1m&step=100ms")).json()
    total = next(s for s in body["series"] if s["labels"] == {"cpu": "total"})
    assert total["points"] and all(0 <= v <= 100 for _, v in total["points"])


@pytest.mark.parametrize("query,param", [
    ("range=abc", "range"), ("step=-5s", "step"), ("range=1h&step=0.0001s", "step"), ("range=1000d", "range"),
    ("step=1e308", "step"), ("step=1e300", "step"), ("step=1000d", "step"),  # past METRICS_TTL, as range
])
async def test_bad_chart_parameters_are_400_naming_the_parameter(client, query, param):
    r = await client.get(f"/api/dashboard/charts/cpu?{query}")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_parameter" and err["details"]["parameter"] == param
    assert err["message"].startswith(param + ":")


async def test_unknown_chart_type_is_400(client):
    r = await client.get("/api/dashboard/charts/gpu")
    assert r.status_code == 400
    assert r.json()["error"]["details"]["parameter"] == "type"


async def test_unknown_route_is_json_404_and_wrong_method_405(client):
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.post("/metrics")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in r.headers["allow"]


async def test_probes(server, client):
    r = await client.get("/livez")
    assert r.status_code == 200 and r.json()["status"] == "pass"
    r = await client.get("/readyz")
    assert r.headers["content-type"].startswith("application/health+json")
    body = r.json()
    assert body["status"] == "pass"
    assert body["checks"]["store:responsive"][0]["status"] == "pass"


async def test_readyz_fails_when_the_store_is_closed(server, client):
    server.engine.store.backend.close()
    r = await client.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "fail"
    server.engine.store.backend.open()  # let the fixture shut down normally


async def test_collection_keeps_going(server):
    first = server.engine.last_collection
    await second_cycle(server)
    assert server.engine.last_collection > first
