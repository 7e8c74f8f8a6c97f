"""The idle headless server over 60 s at the default 5 s interval: RSS and CPU (targets 60 MB, 1 %)."""

from __future__ import annotations

import json
import os
import time

import httpx
import psutil
from serverproc import serve

DURATION = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))


def main() -> None:
    with serve(COLLECTION_INTERVAL="5") as (proc, port):
        p = psutil.Process(proc.pid)
        start_cpu = sum(p.cpu_times()[:2])
        start = time.monotonic()
        rss = []
        while time.monotonic() - start < DURATION:
            rss.append(p.memory_info().rss)
            time.sleep(1)
        cpu = sum(p.cpu_times()[:2]) - start_cpu
        elapsed = time.monotonic() - start
        series = httpx.get(f"http://127.0.0.1:{port}/api/metrics/summary").json()["store"]["series"]
    print(json.dumps({
        "benchmark": "idle_server",
        "seconds": round(elapsed, 1),
        "collection_interval_s": 5,
        "series": series,
        "rss_mb_max": round(max(rss) / 2**20, 1),
        "rss_mb_end": round(rss[-1] / 2**20, 1),
        "cpu_percent_of_one_core": round(100 * cpu / elapsed, 2),
        "target_rss_mb": 60,
        "target_cpu_percent": 1,
    }))


if __name__ == "__main__":
    main()
