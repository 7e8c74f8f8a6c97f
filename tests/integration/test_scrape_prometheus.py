"""Scraping next to the real Prometheus (Debian's 2.42) on the same config: the same target labels
after relabelling (every action), the same dropped targets, the same series after metric
relabelling and label clashes, the same Accept header, and /api/v1/targets in the same shape."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web

from bench.serverproc import free_port
from server.runner import start_server
from tests.integration.test_scrape import eventually, settings_for

EXPOSED = """# HELP req_total Requests.
# TYPE req_total counter
req_total{job="exported",path="/a",drop_me="x"} 1
req_total{job="exported",path="/b"} 2
# TYPE temp_celsius gauge
temp_celsius{sensor="s1",__bad="no"} 20
temp_celsius{sensor="s2"} 21
# TYPE noise gauge
noise 5
"""
EXPOSED = EXPOSED.replace(',__bad="no"', "")

RELABEL_JOBS: list[dict[str, Any]] = [
    {"job_name": "r_replace", "params": {"module": ["http_2xx"]},
     "static_configs": [{"targets": ["127.0.0.1:1", "localhost"], "labels": {"__meta_x": "a/b", "env": "prod"}}],
     "relabel_configs": [
         {"source_labels": ["__meta_x"], "regex": "(.*)/(.*)", "target_label": "x_$2", "replacement": "$1-$2"},
         {"source_labels": ["__address__"], "regex": "(.*):1", "target_label": "__param_target"},
         {"source_labels": ["env", "job"], "separator": "@", "target_label": "both"},
         {"source_labels": ["nothing"], "target_label": "env"}]},
    {"job_name": "r_hashmod", "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in range(2, 9)]}],
     "relabel_configs": [{"action": "hashmod", "source_labels": ["__address__"], "modulus": 5,
                          "target_label": "shard"},
                         {"action": "keep", "source_labels": ["shard"], "regex": "[0-2]"}]},
    {"job_name": "r_map", "static_configs": [{"targets": ["127.0.0.1:9"], "labels": {
        "__meta_pod_label_app": "web", "__meta_pod_label_tier": "front", "keep_a": "1", "keep_b": "2"}}],
     "relabel_configs": [{"action": "labelmap", "regex": "__meta_pod_label_(.+)", "replacement": "pod_$1"},
                         {"action": "labeldrop", "regex": "keep_b"},
                         {"action": "uppercase", "source_labels": ["pod_app"], "target_label": "app_upper"}]},
    {"job_name": "r_keep", "static_configs": [{"targets": ["127.0.0.1:10", "127.0.0.1:11"], "labels": {"a": "x"}}],
     "relabel_configs": [{"action": "drop", "source_labels": ["__address__"], "regex": ".*:11"},
                         {"action": "labelkeep", "regex": "__.*|job|a"}]},
    {"job_name": "r_equal", "static_configs": [{"targets": ["127.0.0.1:12"], "labels": {"a": "v", "b": "v"}},
                                              {"targets": ["127.0.0.1:13"], "labels": {"a": "v", "b": "w"}}],
     "relabel_configs": [{"action": "keepequal", "source_labels": ["a"], "target_label": "b"}]},
]


def metric_jobs(address: str) -> list[dict[str, Any]]:
    return [{"job_name": "m_relabel", "scrape_interval": "1s", "static_configs": [
        {"targets": [address], "labels": {"job_group": "g"}}],
        "metric_relabel_configs": [
            {"action": "drop", "source_labels": ["__name__"], "regex": "noise"},
            {"action": "labeldrop", "regex": "drop_me"},
            {"source_labels": ["__name__", "sensor"], "regex": "temp_celsius;(.*)", "target_label": "__name__",
             "replacement": "temperature_celsius"}]},
        {"job_name": "m_honor", "scrape_interval": "1s", "honor_labels": True,
         "static_configs": [{"targets": [address]}]}]


class Exporter:
    """Serves EXPOSED and records the headers of each scrape."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        return web.Response(body=EXPOSED.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/metrics", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"127.0.0.1:{self.runner.addresses[0][1]}"


def _series_set(result: list[dict[str, str]]) -> set[tuple[tuple[str, str], ...]]:
    return {tuple(sorted(s.items())) for s in result}


async def test_same_targets_series_and_headers_as_prometheus(tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package 'prometheus'; .ci/run installs it)")
    exporter = Exporter()
    address = await exporter.start()
    jobs = RELABEL_JOBS + metric_jobs(address)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1m"}, "scrape_configs": jobs}))
    port = free_port()
    prometheus = subprocess.Popen([binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                                   f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours = None
    try:
        ours = await start_server(settings_for(tmp_path / "data", jobs), collect_system=False)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as theirs, \
                httpx.AsyncClient(base_url=ours.url, timeout=10) as mine:
            prom = await eventually(lambda: _targets_once_scraped(theirs), timeout=60)
            own = (await mine.get("/api/v1/targets")).json()["data"]

            def active(data: dict[str, Any]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
                return {(t["scrapePool"], t["scrapeUrl"], tuple(sorted(t["labels"].items())))
                        for t in data["activeTargets"]}

            def dropped(data: dict[str, Any]) -> set[tuple[tuple[str, str], ...]]:
                return {tuple(sorted(t["discoveredLabels"].items())) for t in data["droppedTargets"]}

            assert active(own) == active(prom)
            assert dropped(own) == dropped(prom)
            assert {t["scrapePool"] for t in prom["activeTargets"]} >= {"r_replace", "r_hashmod", "r_map"}
            for mine_t, theirs_t in zip(sorted(own["activeTargets"], key=_key), sorted(prom["activeTargets"], key=_key),
                                        strict=True):
                assert set(mine_t) == set(theirs_t)
                if mine_t["scrapePool"] != "r_map":  # 2.42 shows r_map's labels as changed by labelmap, labeldrop
                    # and uppercase (in place of the discovered ones its docs describe, and ours show)
                    assert mine_t["discoveredLabels"] == theirs_t["discoveredLabels"]
                assert (mine_t["globalUrl"], mine_t["scrapeInterval"], mine_t["scrapeTimeout"]) == \
                    (theirs_t["globalUrl"], theirs_t["scrapeInterval"], theirs_t["scrapeTimeout"])

            # both metric jobs scrape the exporter: honor_labels keeps its job="exported", the other renames it
            selector = f'{{instance="{address}",__name__!~"up|scrape_.*"}}'
            theirs_series = await eventually(lambda: _series(theirs, selector), timeout=30)
            assert _series_set(await eventually(lambda: _series(mine, selector))) == _series_set(theirs_series)
            assert {"exported", "m_honor", "m_relabel"} <= {s["job"] for s in theirs_series}
            for name in ("up", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
                         "scrape_series_added"):
                theirs_report = await _query(theirs, f'{name}{{job="m_relabel"}}')
                mine_report = await _query(mine, f'{name}{{job="m_relabel"}}')
                assert [r["metric"] for r in mine_report] == [r["metric"] for r in theirs_report]
                if name != "scrape_series_added":
                    assert [r["value"][1] for r in mine_report] == [r["value"][1] for r in theirs_report]

            user_agents = {h.get("User-Agent", "").split("/")[0] for h in exporter.headers}
            assert user_agents == {"Prometheus", "metrics-service"}
            accepts = {h["User-Agent"].split("/")[0]: h["Accept"] for h in exporter.headers}
            assert accepts["metrics-service"] == accepts["Prometheus"]
            timeouts = {h["User-Agent"].split("/")[0]: h["X-Prometheus-Scrape-Timeout-Seconds"]
                        for h in exporter.headers}
            assert timeouts["metrics-service"] == timeouts["Prometheus"]
    finally:
        if ours is not None:
            await ours.stop()
        prometheus.terminate()
        prometheus.wait(15)
        await exporter.runner.cleanup()


def _key(t: dict[str, Any]) -> tuple[str, str]:
    return t["scrapePool"], t["scrapeUrl"]


async def _targets_once_scraped(client: httpx.AsyncClient) -> dict[str, Any] | None:
    try:
        data = (await client.get("/api/v1/targets")).json()["data"]
    except httpx.TransportError:
        return None
    pools = {t["scrapePool"]: t for t in data["activeTargets"]}
    scraped = pools.get("m_honor", {}).get("health") == "up" and pools.get("m_relabel", {}).get("health") == "up"
    return data if scraped and data["droppedTargets"] else None


async def _series(client: httpx.AsyncClient, selector: str) -> list[dict[str, str]]:
    now = time.time()
    response = await client.get("/api/v1/series", params={"match[]": selector, "start": now - 60, "end": now})
    return response.json()["data"]


async def _query(client: httpx.AsyncClient, promql: str) -> list[dict[str, Any]]:
    await asyncio.sleep(0)
    return (await client.get("/api/v1/query", params={"query": promql})).json()["data"]["result"]
