"""Remote write in from a real Prometheus: samples/s we take, sustained without loss.

A static exposition of SERIES series is scraped every second by Prometheus (Debian 2.42) under
JOBS job names (so JOBS x SERIES samples/s are offered), and remote-written to our server. For each
offered load the run lasts SECONDS after a warm-up; the figures are our ingested samples/s, what
Prometheus reports it sent, failed, retried and dropped, how far its queue lags behind the newest
scraped sample at the end (a lag that grows means the load is not sustained), and our server's CPU
per sample (on a shared 2-core machine Prometheus's own scraping competes for the same cores).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import httpx
from serverproc import free_port, serve

SERIES = 10_000
LOADS = tuple(int(x) for x in os.environ.get("BENCH_JOBS", "2,5").split(","))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
WARMUP = 10.0
OURS = 'ingested_samples_total{source="remote_write"}'


def exposition() -> bytes:
    lines = ["# TYPE bench_requests_total counter"]
    for i in range(SERIES):
        lines.append(f'bench_requests_total{{service="svc-{i % 20}",route="/r{i // 20}"}} {i}')
    return ("\n".join(lines) + "\n").encode()


def target(body: bytes) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def scalar(text: str, name: str) -> float:
    """Sum of every series of a metric (a name, or one series as written) in an exposition."""
    labels = "" if "{" in name else r"(?:\{[^}]*\})?"
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}{labels} (\S+)$", text, re.M))


def measure(jobs: int, our_port: int, target_port: int) -> dict:
    prom_port = free_port()
    scrape = "\n".join(f"""  - job_name: bench{j}
    static_configs: [{{targets: ["127.0.0.1:{target_port}"]}}]""" for j in range(jobs))
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
scrape_configs:
{scrape}
remote_write:
  - url: http://127.0.0.1:{our_port}/api/v1/write
""")
        proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(WARMUP)
            before = httpx.get(f"http://127.0.0.1:{our_port}/metrics").text
            ours0, cpu0 = scalar(before, OURS), scalar(before, "process_cpu_seconds_total")
            started = time.monotonic()
            time.sleep(SECONDS)
            after = httpx.get(f"http://127.0.0.1:{our_port}/metrics").text
            ours1, cpu1 = scalar(after, OURS), scalar(after, "process_cpu_seconds_total")
            elapsed = time.monotonic() - started
            prom = httpx.get(f"http://127.0.0.1:{prom_port}/metrics").text
        finally:
            proc.terminate()
            proc.wait(30)
    highest = scalar(prom, "prometheus_remote_storage_highest_timestamp_in_seconds")
    sent_ts = scalar(prom, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds")
    return {"offered_samples_per_second": jobs * SERIES,
            "ingested_samples_per_second": round((ours1 - ours0) / elapsed),
            "server_cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / elapsed, 1),
            "server_cpu_us_per_sample": round(1e6 * (cpu1 - cpu0) / max(1.0, ours1 - ours0), 2),
            "prometheus_sent": scalar(prom, "prometheus_remote_storage_samples_total"),
            "prometheus_failed": scalar(prom, "prometheus_remote_storage_samples_failed_total"),
            "prometheus_retried": scalar(prom, "prometheus_remote_storage_samples_retried_total"),
            "prometheus_dropped": scalar(prom, "prometheus_remote_storage_samples_dropped_total"),
            "queue_lag_seconds_at_end": round(highest - sent_ts, 1) if sent_ts else None}


def main() -> int:
    if shutil.which("prometheus") is None:
        print(json.dumps({"benchmark": "remote_write", "error": "prometheus binary not found"}))
        return 1
    server, target_port = target(exposition())
    try:
        with serve(MAX_SERIES="2000000", MAX_SERIES_PER_METRIC="1000000") as (_, port):
            runs = [measure(jobs, port, target_port) for jobs in LOADS]
    finally:
        server.shutdown()
    print(json.dumps({"benchmark": "remote_write", "series_per_job": SERIES, "seconds": SECONDS, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
