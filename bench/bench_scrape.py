"""Scraping 100 targets x 1,000 series every 15 s, side by side with a real Prometheus (Debian 2.42)
scraping the same targets in the same run (issue 11, "Benchmarks"; target: CPU <= Prometheus's).

The targets are one child process serving 100 ports, each answering with one of two pre-rendered
text-format bodies (values change between scrapes, rendering costs nothing). Our server
(``metrics-service serve`` with the same ``scrape_configs``) and ``prometheus`` both scrape them.
After a warm-up that covers every target's first scrape (new series), the CPU time of each
server process is measured over a window; scrape-duration p99 comes from each server's own
``scrape_duration_seconds`` samples over that window, read with the same range query. /livez (ours)
and /-/healthy (Prometheus) are polled twice a second meanwhile: the API must not stall.
The machine is shared: run it twice and read the CPU figures as a comparison made in one run.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import yaml
from serverproc import free_port, serve

TARGETS = 100
SERIES = 1_000
INTERVAL_S = 15
WARMUP_S = float(os.environ.get("BENCH_WARMUP_S", "35"))
MEASURE_S = float(os.environ.get("BENCH_SECONDS", "120"))
PROMETHEUS = "/usr/bin/prometheus"


def body(target: int, generation: int) -> bytes:
    lines = ["# HELP bench_requests_total Requests handled.", "# TYPE bench_requests_total counter"]
    for j in range(SERIES):
        lines.append(f'bench_requests_total{{service="svc-{j % 20}",route="/api/r{j // 20}",'
                     f'status="{200 + j % 5}",method="GET"}} {target * 7 + j + generation * (j % 13)}')
    return ("\n".join(lines) + "\n").encode()


def serve_targets(targets: int, ports: multiprocessing.Queue) -> None:
    """The exporters: a minimal HTTP/1.1 responder per port (ports the OS picks, sent back), two
    bodies alternating."""
    async def main() -> None:
        bound = []
        for i in range(targets):
            bodies = [body(i, 0), body(i, 1)]
            heads = [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(b) for b in bodies]
            count = [0]

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bodies=bodies,
                             heads=heads, count=count) -> None:
                try:
                    while True:
                        request = await reader.readuntil(b"\r\n\r\n")
                        if not request:
                            break
                        k = count[0] % 2
                        count[0] += 1
                        writer.write(heads[k] + bodies[k])
                        await writer.drain()
                except (asyncio.IncompleteReadError, ConnectionError):
                    pass
                finally:
                    writer.close()

            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            bound.append(server.sockets[0].getsockname()[1])
        ports.put(bound)
        await asyncio.Event().wait()

    asyncio.run(main())


def scrape_config(ports: list[int]) -> list[dict]:
    return [{"job_name": "bench", "scrape_interval": f"{INTERVAL_S}s", "scrape_timeout": "10s",
             "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports]}]}]


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def durations(base: str, seconds: float) -> list[float]:
    """Every scrape_duration_seconds sample of the bench job in the last ``seconds``."""
    window = f"{int(seconds)}s"
    response = httpx.get(f"{base}/api/v1/query", params={"query": f'scrape_duration_seconds{{job="bench"}}[{window}]'},
                         timeout=30)
    return [float(v) for s in response.json()["data"]["result"] for _, v in s["values"]]


def series_count(base: str) -> int:
    response = httpx.get(f"{base}/api/v1/query", params={"query": 'count(bench_requests_total{job="bench"})'},
                         timeout=30)
    result = response.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def up_count(base: str) -> int:
    response = httpx.get(f"{base}/api/v1/query", params={"query": 'sum(up{job="bench"})'}, timeout=30)
    result = response.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


class Poller(threading.Thread):
    """GETs a health URL twice a second and keeps the latencies."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.wait(0.5):
                started = time.perf_counter()
                client.get(self.url)
                self.latencies.append(time.perf_counter() - started)


def main() -> None:
    if not shutil.which(PROMETHEUS):
        raise SystemExit("prometheus is not installed (Debian package 'prometheus')")
    bound: multiprocessing.Queue = multiprocessing.Queue()
    exporters = multiprocessing.Process(target=serve_targets, args=(TARGETS, bound), daemon=True)
    exporters.start()
    ports = bound.get(timeout=60)
    jobs = scrape_config(ports)
    prom_port = free_port()
    # 100k series of one name: above MAX_SERIES_PER_METRIC's default (Prometheus has no such limit)
    settings = {"SCRAPE_CONFIGS": yaml.safe_dump(jobs), "COLLECTION_INTERVAL": "15", "MAX_SERIES_PER_METRIC": "1000000"}
    with tempfile.TemporaryDirectory() as tmp, serve(**settings) as (ours, port):
        config = Path(tmp) / "prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": f"{INTERVAL_S}s"}, "scrape_configs": jobs}))
        prometheus = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                                       f"--web.listen-address=127.0.0.1:{prom_port}",
                                       f"--storage.tsdb.path={Path(tmp) / 'tsdb'}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ours_url, prom_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prom_port}"
            time.sleep(WARMUP_S)
            procs = {"ours": psutil.Process(ours.pid), "prometheus": psutil.Process(prometheus.pid)}
            pollers = {"ours": Poller(f"{ours_url}/livez"), "prometheus": Poller(f"{prom_url}/-/healthy")}
            for p in pollers.values():
                p.start()
            before = {k: cpu_seconds(p) for k, p in procs.items()}
            started = time.monotonic()
            time.sleep(MEASURE_S)
            elapsed = time.monotonic() - started
            after = {k: cpu_seconds(p) for k, p in procs.items()}
            for p in pollers.values():
                p.stop.set()
            out: dict[str, object] = {"benchmark": "scrape", "targets": TARGETS, "series_per_target": SERIES,
                                      "interval_s": INTERVAL_S, "measured_s": round(elapsed, 1)}
            for name, base in (("ours", ours_url), ("prometheus", prom_url)):
                d = durations(base, elapsed)
                latencies = pollers[name].latencies
                out[name] = {
                    "cpu_percent_of_one_core": round(100 * (after[name] - before[name]) / elapsed, 2),
                    "rss_mib": round(procs[name].memory_info().rss / 2**20, 1),
                    "scrapes": len(d),
                    "scrape_duration_p50_ms": round(statistics.median(d) * 1000, 2) if d else None,
                    "scrape_duration_p99_ms": round((p99(d) or 0) * 1000, 2) if d else None,
                    "series": series_count(base),
                    "targets_up": up_count(base),
                    "health_p99_ms": round((p99(latencies) or 0) * 1000, 2),
                    "health_max_ms": round(max(latencies, default=0) * 1000, 2),
                }
            ours_cpu = out["ours"]["cpu_percent_of_one_core"]  # type: ignore[index]
            prom_cpu = out["prometheus"]["cpu_percent_of_one_core"]  # type: ignore[index]
            out["cpu_ratio_ours_to_prometheus"] = round(ours_cpu / prom_cpu, 2) if prom_cpu else None
            out["machine"] = f"{os.cpu_count()} cores, shared with other work during the run"
            print(json.dumps(out))
        finally:
            prometheus.terminate()
            prometheus.wait(15)
            exporters.terminate()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
