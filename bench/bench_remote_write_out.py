"""Remote write out to a real Prometheus: samples/s we send, sustained, and how far the queue lags.

Our server scrapes a static exposition of SERIES series every second under JOBS job names (JOBS x
SERIES samples/s offered, through the ordinary scrape path) and remote-writes everything it appends
to a Prometheus 2.42 started with --web.enable-remote-write-receiver. After a warm-up, for SECONDS:
our prometheus_remote_storage_samples_total rate (sent and accepted), the samples Prometheus appended,
the queue's lag (highest timestamp queued minus highest sent, read every second: median and max),
what is still pending at the end, failures/retries/drops, and our server's CPU per sample.
A lag that stays flat means the load is sustained; one that grows means it is not.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
from bench_remote_write import exposition, scalar, target
from serverproc import free_port, serve

SERIES = 10_000
LOADS = tuple(int(x) for x in os.environ.get("BENCH_JOBS", "1,3").split(","))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
WARMUP = 10.0


def ours(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    return {k: scalar(text, n) for k, n in (
        ("sent", "prometheus_remote_storage_samples_total"), ("in", "prometheus_remote_storage_samples_in_total"),
        ("failed", "prometheus_remote_storage_samples_failed_total"),
        ("retried", "prometheus_remote_storage_samples_retried_total"),
        ("dropped", "prometheus_remote_storage_samples_dropped_total"),
        ("pending", "prometheus_remote_storage_samples_pending"),
        ("shards", "prometheus_remote_storage_shards"),
        ("highest_in", "prometheus_remote_storage_highest_timestamp_in_seconds"),
        ("highest_sent", "prometheus_remote_storage_queue_highest_sent_timestamp_seconds"),
        ("scraped", 'ingested_samples_total{source="scrape"}'), ("cpu", "process_cpu_seconds_total"))}


def appended(prom_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{prom_port}/metrics", timeout=30).text
    return scalar(text, "prometheus_tsdb_head_samples_appended_total")


def measure(jobs: int, target_port: int, prom_port: int) -> dict:
    scrape = [{"job_name": f"bench{j}", "scrape_interval": "1s",
               "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]} for j in range(jobs)]
    remote = [{"url": f"http://127.0.0.1:{prom_port}/api/v1/write", "name": "bench"}]
    with serve(MAX_SERIES="2000000", MAX_SERIES_PER_METRIC="1000000", SCRAPE_CONFIGS=json.dumps(scrape),
               REMOTE_WRITE=json.dumps(remote)) as (_, port):
        time.sleep(WARMUP)
        a0, p0 = ours(port), appended(prom_port)
        started = time.monotonic()
        lags = []
        while time.monotonic() - started < SECONDS:
            time.sleep(1.0)
            now = ours(port)
            if now["highest_sent"]:
                lags.append(now["highest_in"] - now["highest_sent"])
        a1, p1 = ours(port), appended(prom_port)
        elapsed = time.monotonic() - started
    return {"offered_samples_per_second": jobs * SERIES,
            "scraped_samples_per_second": round((a1["scraped"] - a0["scraped"]) / elapsed),
            "sent_samples_per_second": round((a1["sent"] - a0["sent"]) / elapsed),
            "prometheus_appended_per_second": round((p1 - p0) / elapsed),
            "lag_seconds_median": round(statistics.median(lags), 2) if lags else None,
            "lag_seconds_max": round(max(lags), 2) if lags else None,
            "pending_samples_at_end": int(a1["pending"]),
            "shards_at_end": int(a1["shards"]),
            "failed": int(a1["failed"]), "retried": int(a1["retried"]), "dropped": int(a1["dropped"]),
            "server_cpu_percent_of_one_core": round(100 * (a1["cpu"] - a0["cpu"]) / elapsed, 1),
            "server_cpu_us_per_sample": round(1e6 * (a1["cpu"] - a0["cpu"]) / max(1.0, a1["in"] - a0["in"]), 2)}


def main() -> int:
    if shutil.which("prometheus") is None:
        print(json.dumps({"benchmark": "remote_write_out", "error": "prometheus binary not found"}))
        return 1
    server, target_port = target(exposition())
    prom_port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global: {scrape_interval: 1h}\n")
        proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{prom_port}", "--web.enable-remote-write-receiver"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            runs = [measure(jobs, target_port, prom_port) for jobs in LOADS]
        finally:
            proc.terminate()
            proc.wait(30)
            server.shutdown()
    print(json.dumps({"benchmark": "remote_write_out", "series_per_job": SERIES, "seconds": SECONDS, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
