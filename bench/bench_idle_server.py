"""The idle headless server over 60 s at the default 5 s interval: RSS and CPU (targets 60 MB, 1 %)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
DURATION = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": tmp, "PORT": str(port),
               "COLLECTION_INTERVAL": "5"}
        proc = subprocess.Popen([sys.executable, "-c", "import sys; from console.cli import main; "
                                 "sys.exit(main(['serve']))"], env=env, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
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
        finally:
            proc.terminate()
            proc.wait(15)
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
