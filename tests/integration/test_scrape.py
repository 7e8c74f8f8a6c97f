"""Scraping real targets on 127.0.0.1: a prometheus-client app, node_exporter, file_sd, API targets."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from engine.settings import load_settings
from server.runner import start_server

ROOT = Path(__file__).resolve().parents[2]


def settings_for(data_dir: Path, jobs: list[dict[str, Any]] | None = None, **env: str):
    base = {"DATA_DIR": str(data_dir), "PORT": "0", "HOST": "127.0.0.1", "COLLECTION_INTERVAL": "1"}
    if jobs is not None:
        base["SCRAPE_CONFIGS"] = yaml.safe_dump(jobs)
    return load_settings(env={**base, **env}, dotenv_path=None)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    """The first truthy result of check, polled until timeout (a failure names the last result)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met in {timeout} s; last result: {result!r}")
        await asyncio.sleep(0.1)


async def query(client: httpx.AsyncClient, promql: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/query", params={"query": promql})
    assert response.status_code == 200, response.text
    return response.json()["data"]["result"]


class App:
    """A prometheus-client app on its own port, stoppable like a crashed service."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("shop_requests_total", "Requests.", ["route"], registry=self.registry)
        self.queue = Gauge("shop_queue_length", "Queue.", registry=self.registry)
        self.requests.labels("/book").inc(5)
        self.queue.set(3)
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.address = f"127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app():
    running = App()
    yield running
    running.stop()


def _target(listing: dict[str, Any], job: str) -> dict[str, Any] | None:
    return next((t for t in listing["targets"] if t["job"] == job), None)


async def test_app_series_come_in_and_go_stale_when_it_stops(tmp_path, app):
    jobs = [{"job_name": "shop", "scrape_interval": "200ms", "static_configs": [
        {"targets": [app.address], "labels": {"service": "shop"}}]}]
    running = await start_server(settings_for(tmp_path, jobs), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            series = await eventually(lambda: query(client, 'shop_requests_total{job="shop"}'))
            assert series[0]["metric"] == {"__name__": "shop_requests_total", "job": "shop", "instance": app.address,
                                           "service": "shop", "route": "/book"}
            assert series[0]["value"][1] == "5"
            for name, value in (("up", "1"), ("scrape_samples_scraped", None),
                                ("scrape_samples_post_metric_relabeling", None), ("scrape_series_added", None),
                                ("scrape_duration_seconds", None)):
                (report,) = await query(client, f'{name}{{job="shop"}}')
                assert report["metric"]["instance"] == app.address
                if value is not None:
                    assert report["value"][1] == value
            scraped = float((await query(client, 'scrape_samples_scraped{job="shop"}'))[0]["value"][1])
            assert scraped >= 3  # the counter, its _created, the gauge (and the client's own collectors)
            added = await eventually(lambda: query(client, 'scrape_series_added{job="shop"} == 0'))
            assert added  # a later scrape of the same series adds none

            app.stop()
            await eventually(lambda: query(client, 'up{job="shop"} == 0'))
            assert await query(client, 'shop_requests_total{job="shop"}') == []  # stale marker, not 5 m lookback
            assert await query(client, 'shop_queue_length{job="shop"}') == []
            listing = (await client.get("/api/targets")).json()
            target = _target(listing, "shop")
            assert target["health"] == "down"
            assert "connection refused" in target["lastError"]
    finally:
        await running.stop()


async def test_node_exporter_is_scraped(tmp_path):
    binary = shutil.which("prometheus-node-exporter")
    if binary is None:
        pytest.skip("prometheus-node-exporter is not installed (Debian package; .ci/run installs it)")
    from bench.serverproc import free_port
    port = free_port()
    exporter = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                                 "--collector.meminfo", "--collector.loadavg"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jobs = [{"job_name": "node", "scrape_interval": "500ms", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]
    try:
        running = await start_server(settings_for(tmp_path, jobs), collect_system=False)
        try:
            async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
                mem = await eventually(lambda: query(client, 'node_memory_MemTotal_bytes{job="node"}'))
                assert float(mem[0]["value"][1]) > 0
                assert (await query(client, 'up{job="node"}'))[0]["value"][1] == "1"
                metadata = (await client.get("/api/v1/metadata", params={"metric": "node_load1"})).json()["data"]
                assert metadata["node_load1"][0]["type"] == "gauge"
        finally:
            await running.stop()
    finally:
        exporter.terminate()
        exporter.wait(10)


async def test_file_sd_changes_are_picked_up(tmp_path, app):
    other = App()
    sd = tmp_path / "targets.json"
    sd.write_text(json.dumps([{"targets": [app.address], "labels": {"team": "a"}}]))
    jobs = [{"job_name": "sd", "scrape_interval": "200ms", "file_sd_configs": [{"files": [str(tmp_path / "*.json")]}]}]
    running = await start_server(settings_for(tmp_path / "data", jobs), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            first = await eventually(lambda: query(client, 'up{job="sd"} == 1'))
            assert first[0]["metric"]["team"] == "a"
            sd.write_text(json.dumps([{"targets": [other.address], "labels": {"team": "b"}}]))
            await eventually(lambda: query(client, f'up{{job="sd",instance="{other.address}",team="b"}} == 1'))
            # the target that left the file: its series get stale markers
            await eventually(lambda: _gone(client, f'shop_requests_total{{instance="{app.address}"}}'))
            targets = (await client.get("/api/v1/targets")).json()["data"]["activeTargets"]
            assert [t["discoveredLabels"]["__meta_filepath"] for t in targets] == [str(sd)]
            sd.write_text("{not json")
            await eventually(lambda: _has_sd_error(client))
            assert await query(client, f'up{{instance="{other.address}"}} == 1')  # a bad file keeps its targets
    finally:
        await running.stop()
        other.stop()


async def _gone(client: httpx.AsyncClient, promql: str) -> bool:
    return await query(client, promql) == []


async def _has_sd_error(client: httpx.AsyncClient) -> bool:
    return bool((await client.get("/api/targets")).json()["fileSdErrors"])


async def test_api_targets_survive_restart_and_delete_makes_series_stale(tmp_path, app):
    data = tmp_path / "data"
    running = await start_server(settings_for(data, SCRAPE_INTERVAL="200ms"), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            created = await client.post("/api/targets", json={"job": "shop", "url": f"http://{app.address}/metrics",
                                                              "labels": {"service": "shop"}})
            assert created.status_code == 201, created.text
            entry = created.json()["entry"]
            await eventually(lambda: query(client, 'shop_queue_length{job="shop",service="shop"}'))
    finally:
        await running.stop()
    running = await start_server(settings_for(data, SCRAPE_INTERVAL="200ms"), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            listing = (await client.get("/api/targets")).json()
            assert [e["id"] for e in listing["entries"]] == [entry["id"]]
            assert _target(listing, "shop")["entryId"] == entry["id"]
            await eventually(lambda: _scraped_since_start(client))
            deleted = await client.delete(f"/api/targets/{entry['id']}")
            assert deleted.status_code == 200
            assert await query(client, 'shop_queue_length{job="shop"}') == []  # stale at once
            assert (await client.delete(f"/api/targets/{entry['id']}")).status_code == 404
    finally:
        await running.stop()
    running = await start_server(settings_for(data), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            assert (await client.get("/api/targets")).json()["entries"] == []
    finally:
        await running.stop()


async def test_api_targets_made_at_once_are_all_stored(tmp_path):
    """Entries posted concurrently each reach targets.json: a write computed before another one's
    landed must not drop it (every entry is listed after a restart)."""
    data = tmp_path / "data"
    running = await start_server(settings_for(data), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            made = await asyncio.gather(*(client.post("/api/targets", json={"job": f"job{i}",
                                                                             "url": f"http://127.0.0.1:9/m{i}"})
                                          for i in range(6)))
            assert [r.status_code for r in made] == [201] * 6, [r.text for r in made]
            ids = {r.json()["entry"]["id"] for r in made}
            gone = await asyncio.gather(*(client.delete(f"/api/targets/{i}") for i in sorted(ids)[:3]))
            assert [r.status_code for r in gone] == [200] * 3
    finally:
        await running.stop()
    running = await start_server(settings_for(data), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            listed = {e["id"] for e in (await client.get("/api/targets")).json()["entries"]}
            assert listed == set(sorted(ids)[3:])
    finally:
        await running.stop()


async def _scraped_since_start(client: httpx.AsyncClient) -> bool:
    target = _target((await client.get("/api/targets")).json(), "shop")
    return target is not None and target["health"] == "up"


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"url": "http://127.0.0.1:1/metrics"}, 400, "job"),
    ({"job": "x"}, 400, "url"),
    ({"job": "x", "url": "ftp://127.0.0.1/"}, 400, "url"),
    ({"job": "x", "targets": ["127.0.0.1:1/x"]}, 400, "targets[0]"),
    ({"job": "x", "url": "http://127.0.0.1:1/", "interval": "5s", "timeout": "10s"}, 400, "timeout"),
    ({"job": "x", "url": "http://127.0.0.1:1/", "labels": {"1bad": "v"}}, 400, "labels.1bad"),
    ({"job": "x", "url": "http://169.254.169.254/latest/meta-data"}, 403, "url"),
    ({"job": "x", "url": "http://127.0.0.1:1/", "colour": "red"}, 400, "colour"),
])
async def test_bad_api_targets_are_refused_naming_the_field(client, body, status, field):
    response = await client.post("/api/targets", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert (await client.get("/api/targets")).json()["entries"] == []


async def test_api_targets_pass_the_allow_list(tmp_path):
    running = await start_server(settings_for(tmp_path, HEALTH_CHECK_ALLOW="10.0.0.0/8"), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            refused = await client.post("/api/targets", json={"job": "x", "targets": ["127.0.0.1:9100"]})
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "target_not_allowed"
    finally:
        await running.stop()


class Misbehaving:
    """An exporter that is slow, too big, or has too many samples, on request."""

    def __init__(self) -> None:
        self.mode = "slow"

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/slow":
            await asyncio.sleep(5)
        if request.path == "/big":
            return web.Response(text="a 1\n" * 5000, content_type="text/plain")
        if request.path == "/stamped":
            return web.Response(text='stamped{x="1"} 5 1700000000000\nplain 2\n', content_type="text/plain")
        if request.path == "/exemplar":
            return web.Response(body=b'# TYPE h histogram\nh_bucket{le="1"} 3 # {trace_id="t"} 0.5\n'
                                b'h_bucket{le="+Inf"} 3\nh_count 3\nh_sum 1.5\n# EOF\n',
                                headers={"Content-Type": "application/openmetrics-text; version=1.0.0"})
        if request.path == "/many":
            return web.Response(text="".join(f'm{{i="{i}"}} 1\n' for i in range(20)), content_type="text/plain")
        return web.Response(text="a 1\n", content_type="text/plain")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"127.0.0.1:{self.runner.addresses[0][1]}"


async def test_timeout_body_size_and_sample_limits_fail_the_scrape(tmp_path):
    exporter = Misbehaving()
    address = await exporter.start()
    jobs = [{"job_name": "slow", "scrape_interval": "1s", "scrape_timeout": "200ms", "metrics_path": "/slow",
             "static_configs": [{"targets": [address]}]},
            {"job_name": "big", "scrape_interval": "200ms", "metrics_path": "/big", "body_size_limit": "1KB",
             "static_configs": [{"targets": [address]}]},
            {"job_name": "many", "scrape_interval": "200ms", "metrics_path": "/many", "sample_limit": 10,
             "static_configs": [{"targets": [address]}]}]
    running = await start_server(settings_for(tmp_path, jobs), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            errors = await eventually(lambda: _errors(client, {"slow", "big", "many"}))
            assert "context deadline exceeded" in errors["slow"]
            assert errors["big"] == "body size limit exceeded"
            assert errors["many"] == "sample limit exceeded"
            assert await query(client, "m") == []
            assert len(await query(client, "up == 0")) == 3
            started = time.monotonic()
            assert (await client.get("/livez")).status_code == 200
            assert time.monotonic() - started < 5  # the slow target never holds the API
    finally:
        await running.stop()
        await exporter.runner.cleanup()


async def _errors(client: httpx.AsyncClient, jobs: set[str]) -> dict[str, str] | None:
    targets = (await client.get("/api/targets")).json()["targets"]
    found = {t["job"]: t["lastError"] for t in targets if t["lastError"]}
    return found if set(found) == jobs else None


async def test_timestamps_and_exemplars_take_the_full_parser(tmp_path):
    exporter = Misbehaving()
    address = await exporter.start()
    jobs = [{"job_name": path, "scrape_interval": "200ms", "metrics_path": f"/{path}",
             "static_configs": [{"targets": [address]}]} for path in ("stamped", "exemplar")]
    running = await start_server(settings_for(tmp_path, jobs), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            stamped = await eventually(lambda: query(client, 'stamped{job="stamped"}'))
            assert stamped[0]["metric"]["x"] == "1" and stamped[0]["value"][1] == "5"
            bucket = await eventually(lambda: query(client, 'h_bucket{job="exemplar",le="1"}'))
            assert bucket[0]["value"][1] == "3"
            await eventually(lambda: query(client, "scrape_series_added == 0"))  # later scrapes hit the cache
            assert len(await query(client, "up == 1")) == 2
    finally:
        await running.stop()
        await exporter.runner.cleanup()


def test_bad_scrape_config_stops_start_up_with_exit_2(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"scrape_configs": [{"job_name": "a", "relabel_configs": [
        {"action": "hashmod", "source_labels": ["a"], "target_label": "b"}]}]}))
    run = subprocess.run([sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())",
                          "serve", "--config", str(config), "--data-dir", str(tmp_path / "data"), "--port", "0"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 2
    assert "scrape_configs[0].relabel_configs[0].modulus" in run.stderr
    assert "requires non-zero modulus" in run.stderr
