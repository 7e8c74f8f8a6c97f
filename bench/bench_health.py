"""Health checks: 1,000 HTTP checks every 10 s against a local HTTP server — CPU % of one core,
scheduling jitter p99 and check latency overhead — side by side with a real blackbox_exporter
probed by a real Prometheus for the same 1,000 targets (target: less CPU than that pair); then the
time from a service going down to the `health` event and to the ServiceDown alert firing
(`retries: 1`, interval 1 s, the default rule's `for: 1m`). Bounded: about 3 minutes.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serverproc import free_port, serve  # noqa: E402

CHECKS = 1000
INTERVAL_S = 10
WARMUP_S = 15
WINDOW_S = 40

TARGET = """
import sys
from aiohttp import web
healthy = True
async def health(request):
    return web.Response(text="ok")
async def toggle(request):
    return web.Response(status=200 if healthy else 503, text="ok" if healthy else "down")
async def set_state(request):
    global healthy
    healthy = request.query.get("healthy") == "1"
    return web.Response(text="set")
app = web.Application()
app.router.add_get("/health", health)
app.router.add_get("/toggle", toggle)
app.router.add_get("/set", set_state)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def start_target() -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", TARGET, str(port)])
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc, port
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the target server did not start")


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        t = p.cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
    return total


def cpu_percent_over(procs: list[psutil.Process], seconds: float) -> float:
    before, t0 = cpu_seconds(procs), time.monotonic()
    time.sleep(seconds)
    return round(100 * (cpu_seconds(procs) - before) / (time.monotonic() - t0), 2)


async def bare_latency_ms(url: str, n: int = 200) -> float:
    """The target's latency seen by a plain client, one request at a time: the floor for a check."""
    async with aiohttp.ClientSession() as session:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            async with session.get(url) as resp:
                await resp.read()
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def ours(target_port: int, bare_ms: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        checks = Path(tmp) / "checks.yaml"
        checks.write_text("health_checks:\n" + "".join(
            f"  - {{name: svc-{i:04d}, url: 'http://127.0.0.1:{target_port}/health?i={i}', interval: {INTERVAL_S}s}}\n"
            for i in range(CHECKS)))
        with serve(HEALTH_CHECKS_FILE=str(checks)) as (proc, port):
            p = psutil.Process(proc.pid)
            time.sleep(WARMUP_S)
            cpu = cpu_percent_over([p], WINDOW_S)
            overview = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30).json()
            q = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", timeout=60,
                          params={"query": f"avg(avg_over_time(probe_duration_seconds[{WINDOW_S}s]))"}).json()
            mean_ms = float(q["data"]["result"][0]["value"][1]) * 1000
            return {"cpu_percent_of_one_core": cpu, "checks_up": overview["counts"]["up"],
                    "jitter_p50_ms": overview["scheduler"]["latenessP50Ms"],
                    "jitter_p99_ms": overview["scheduler"]["latenessP99Ms"],
                    "skipped_runs": overview["scheduler"]["skippedRuns"],
                    "check_duration_mean_ms": round(mean_ms, 3),
                    "check_latency_overhead_ms": round(mean_ms - bare_ms, 3),
                    "rss_mb": round(p.memory_info().rss / 2**20, 1)}


def blackbox_pair(target_port: int, bare_ms: float) -> dict:
    blackbox, prometheus = shutil.which("prometheus-blackbox-exporter"), shutil.which("prometheus")
    if blackbox is None or prometheus is None:
        return {"skipped": "needs the Debian packages prometheus-blackbox-exporter and prometheus"}
    with tempfile.TemporaryDirectory() as tmp:
        bb_port, prom_port = free_port(), free_port()
        (Path(tmp) / "blackbox.yml").write_text(
            "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n")
        targets = [f"http://127.0.0.1:{target_port}/health?i={i}" for i in range(CHECKS)]
        config = {"global": {"scrape_interval": f"{INTERVAL_S}s", "scrape_timeout": "5s"},
                  "scrape_configs": [{
                      "job_name": "blackbox", "metrics_path": "/probe", "params": {"module": ["http_2xx"]},
                      "static_configs": [{"targets": targets}],
                      "relabel_configs": [
                          {"source_labels": ["__address__"], "target_label": "__param_target"},
                          {"source_labels": ["__param_target"], "target_label": "instance"},
                          {"target_label": "__address__", "replacement": f"127.0.0.1:{bb_port}"}]}]}
        (Path(tmp) / "prometheus.yml").write_text(json.dumps(config))
        bb = subprocess.Popen([blackbox, f"--config.file={tmp}/blackbox.yml",
                               f"--web.listen-address=127.0.0.1:{bb_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        prom = subprocess.Popen([prometheus, f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(WARMUP_S)
            procs = [psutil.Process(bb.pid), psutil.Process(prom.pid)]
            before = [cpu_seconds([p]) for p in procs]
            t0 = time.monotonic()
            time.sleep(WINDOW_S)
            elapsed = time.monotonic() - t0
            each = [round(100 * (cpu_seconds([p]) - b) / elapsed, 2) for p, b in zip(procs, before, strict=True)]
            api = f"http://127.0.0.1:{prom_port}/api/v1/query"
            mean = httpx.get(api, params={"query": f"avg(avg_over_time(probe_duration_seconds[{WINDOW_S}s]))"},
                             timeout=30).json()["data"]["result"][0]["value"][1]
            up = httpx.get(api, params={"query": "sum(probe_success)"}, timeout=30).json()["data"]["result"][0]
            own = httpx.get(f"http://127.0.0.1:{prom_port}/metrics", timeout=30).text
            found = re.search(rf'prometheus_target_interval_length_seconds{{interval="{INTERVAL_S}s",quantile="0.99"}}'
                              r" (\S+)", own)
            jitter = (float(found[1]) - INTERVAL_S) * 1000 if found else None
            return {"cpu_percent_of_one_core": round(sum(each), 2), "blackbox_cpu_percent": each[0],
                    "prometheus_cpu_percent": each[1], "checks_up": int(float(up["value"][1])),
                    "scrape_interval_p99_minus_interval_ms": None if jitter is None else round(jitter, 3),
                    "check_duration_mean_ms": round(float(mean) * 1000, 3),
                    "check_latency_overhead_ms": round(float(mean) * 1000 - bare_ms, 3),
                    "rss_mb": round(sum(p.memory_info().rss for p in procs) / 2**20, 1)}
        finally:
            for p in (bb, prom):
                p.terminate()
                p.wait(15)


async def down_to_event_and_alert(target_port: int) -> dict:
    with serve(EVALUATION_INTERVAL="1") as (_proc, port):
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            r = await session.post(f"{base}/api/health/services", json={
                "name": "booking", "url": f"http://127.0.0.1:{target_port}/toggle", "interval": "1s", "retries": 1})
            assert r.status == 201, await r.text()
            async with session.ws_connect(f"{base}/ws") as ws:
                await ws.send_json({"type": "subscribe", "topics": ["health", "alerts"]})
                await until(ws, lambda m: m["topic"] == "health" and m["type"] == "update"
                            and m["data"]["state"] == "up", 30)
                await session.get(f"http://127.0.0.1:{target_port}/set", params={"healthy": "0"})
                t0 = time.monotonic()
                await until(ws, lambda m: m["topic"] == "health" and m["type"] == "update"
                            and m["data"]["state"] == "down", 30)
                event_s = time.monotonic() - t0
                await until(ws, lambda m: m["topic"] == "alerts" and m["type"] == "update"
                            and m["data"].get("alert", {}).get("name") == "ServiceDown"
                            and m["data"]["alert"].get("state") == "firing", 120)
                alert_s = time.monotonic() - t0
    return {"down_to_health_event_s": round(event_s, 3), "down_to_service_down_firing_s": round(alert_s, 3),
            "service_down_for": "1m"}


async def until(ws: aiohttp.ClientWebSocketResponse, predicate, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
        if predicate(msg):
            return msg


def main() -> None:
    target, port = start_target()
    try:
        bare_ms = asyncio.run(bare_latency_ms(f"http://127.0.0.1:{port}/health"))
        result = {"benchmark": "health", "checks": CHECKS, "interval_s": INTERVAL_S, "window_s": WINDOW_S,
                  "bare_request_median_ms": round(bare_ms, 3),
                  "ours": ours(port, bare_ms), "blackbox_exporter_plus_prometheus": blackbox_pair(port, bare_ms)}
        result.update(asyncio.run(down_to_event_and_alert(port)))
    finally:
        target.terminate()
        target.wait(15)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
