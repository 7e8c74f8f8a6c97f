"""Push throughput: POST /api/metrics/batch, 1,000 samples a request over 4 connections, side by side
with a real Pushgateway (Debian prometheus-pushgateway) taking the same samples in text format.

Target: >= 1x Pushgateway. Each client is a process with one keep-alive connection sending
pre-encoded bodies, so client work stays small; both servers get the same load in the same run.
The 10,000 series are counters (each item an increment of 1) spread over 10 bodies per client.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
from serverproc import free_port, serve

CONNECTIONS = 4
SAMPLES_PER_REQUEST = 1_000
BODIES = 10
SECONDS = float(__import__("os").environ.get("BENCH_SECONDS", "10"))
PUSHGATEWAY = "prometheus-pushgateway"


def series(i: int) -> dict[str, str]:
    return {"service": f"svc-{i % 20}", "route": f"/api/r{i // 20 % 50}", "status": str(200 + i % 5),
            "instance": f"i{i // 1000}"}


def json_bodies() -> list[bytes]:
    return [json.dumps({"metrics": [{"name": "bench_requests_total", "type": "counter", "value": 1,
                                     "labels": series(b * SAMPLES_PER_REQUEST + j)}
                                    for j in range(SAMPLES_PER_REQUEST)]}).encode() for b in range(BODIES)]


def text_bodies() -> list[bytes]:
    out = []
    for b in range(BODIES):
        lines = ["# TYPE bench_requests_total counter"]
        for j in range(SAMPLES_PER_REQUEST):
            labels = ",".join(f'{k}="{v}"' for k, v in series(b * SAMPLES_PER_REQUEST + j).items())
            lines.append(f"bench_requests_total{{{labels}}} {j}")
        out.append(("\n".join(lines) + "\n").encode())
    return out


def client(port: int, method: str, path: str, content_type: str, bodies: list[bytes], until: float,
           results: multiprocessing.Queue) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    errors = 0
    i = 0
    while time.monotonic() < until:
        started = time.perf_counter()
        conn.request(method, path, body=bodies[i % len(bodies)], headers={"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        errors += response.status >= 300
        i += 1
    results.put((latencies, errors))


def run(port: int, method: str, path_of, content_type: str, bodies: list[bytes]) -> dict:
    results: multiprocessing.Queue = multiprocessing.Queue()
    until = time.monotonic() + SECONDS
    started = time.monotonic()
    procs = [multiprocessing.Process(target=client, args=(port, method, path_of(c), content_type, bodies, until,
                                                          results)) for c in range(CONNECTIONS)]
    for p in procs:
        p.start()
    gathered = [results.get() for _ in procs]
    elapsed = time.monotonic() - started
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in gathered for x in lat)
    requests = len(latencies)
    return {"samples_per_second": round(requests * SAMPLES_PER_REQUEST / elapsed),
            "requests": requests, "errors": sum(e for _, e in gathered),
            "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
            "latency_ms_p99": round(latencies[int(0.99 * (requests - 1))] * 1000, 1)}


def pushgateway_figures() -> dict | None:
    if shutil.which(PUSHGATEWAY) is None:
        return None
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}",
                                 f"--persistence.file={tmp}/pg"], stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            return run(port, "POST", lambda c: f"/metrics/job/bench/conn/{c}", "text/plain; version=0.0.4",
                       text_bodies())
        finally:
            proc.terminate()
            proc.wait(15)


def main() -> None:
    gateway = pushgateway_figures()
    with serve() as (_, port):
        ours = run(port, "POST", lambda c: "/api/metrics/batch", "application/json", json_bodies())
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("bench_requests_total"))
    figures = {"benchmark": "push", "connections": CONNECTIONS, "samples_per_request": SAMPLES_PER_REQUEST,
               "seconds": SECONDS, "ours": ours, "pushgateway": gateway,
               "ratio_to_pushgateway": None if not gateway else round(
                   ours["samples_per_second"] / gateway["samples_per_second"], 2),
               "all_increments_counted": total == ours["requests"] * SAMPLES_PER_REQUEST}
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
