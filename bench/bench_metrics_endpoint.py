"""GET /metrics latency and size at 1k, 10k and 100k series (target: median <= 20 ms at 10k).

The server runs in a child process so the client does not share its interpreter; the store is
filled with synthetic series shaped like application metrics, then scraped repeatedly, plain and
with gzip (as Prometheus asks). Nothing is cached between scrapes, so unchanged values cost as much
as changed ones.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from serverproc import free_port

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 10_000, 100_000)

SERVER = r"""
import asyncio, sys
from engine.settings import load_settings
from engine.tsdb.types import Family
from server.runner import start_server

async def main(n, port, data_dir):
    settings = load_settings(env={"PORT": str(port), "DATA_DIR": data_dir}, dotenv_path=None)
    srv = await start_server(settings, collect_system=False, start_schedules=False)
    fam = Family("bench_requests_total", "counter", "Synthetic requests.")
    for i in range(n):
        fam.add(i * 1.5, {"service": f"svc-{i % 50}", "route": f"/api/r{i // 50}", "status": "200"})
    srv.engine.store.ingest("bench", [fam], srv.engine.now_ms())
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
"""


def measure(n: int, requests: int, encoding: str) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-c", SERVER, str(n), str(port), tmp], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            assert proc.stdout.readline().strip() == "ready"
            url = f"http://127.0.0.1:{port}/metrics"
            latencies = []
            with httpx.Client(timeout=60, headers={"Accept-Encoding": encoding}) as client:
                size = int(client.get(url).headers["content-length"])  # warm-up
                for _ in range(requests):
                    t0 = time.perf_counter()
                    with client.stream("GET", url) as r:  # raw bytes: time to the last byte, not to
                        for _ in r.iter_raw():            # the client's own gunzip
                            pass
                    latencies.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200
        finally:
            proc.terminate()
            proc.wait(10)
    latencies.sort()
    return {"series": n, "encoding": encoding, "median_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
            "body_bytes": size, "requests": requests}


def main() -> None:
    results = [measure(n, 200 if n <= 10_000 else 20, encoding) for n in SIZES for encoding in ("identity", "gzip")]
    print(json.dumps({"benchmark": "metrics_endpoint", "results": results, "target_median_ms_at_10k": 20}))


if __name__ == "__main__":
    main()
