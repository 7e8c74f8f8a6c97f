"""An idle server does not load numpy (issue 2's idle RSS: numpy and its BLAS cost ~15 MB): its rules'
instant queries and the store's writes take the scalar paths; the first query that is worth numpy's
columns loads it, and answers. A new top-level ``import numpy`` anywhere on the server's path, or a
small query sent through numpy, would bring the cost back unnoticed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# The server as `metrics-service serve` builds it, in a fresh interpreter (this one has numpy loaded),
# collecting, flushing and evaluating the default rules every second; it waits for a second evaluation
# of every group (so the first one's data was flushed and read back), then asks five 30-step range queries
# at once.
SCRIPT = """
import dataclasses, json, sys, time
from concurrent.futures import ThreadPoolExecutor
import httpx
from console.cli import build_parser
from console.commands.common import settings_from
from console.embedded import EmbeddedServer

settings = settings_from(build_parser().parse_args(["serve"]))
server = EmbeddedServer(dataclasses.replace(settings, host="127.0.0.1", port=0, collection_interval=1.0,
                                            evaluation_interval=1.0, flush_interval=1.0))
server.start()
url = server.wait_ready()
try:
    with httpx.Client(base_url=url, timeout=10) as http:
        def evaluations():
            groups = http.get("/api/v1/rules").json()["data"]["groups"]
            health = [r["health"] for g in groups for r in g["rules"]]
            return {g["name"]: g.get("lastEvaluation") for g in groups}, health
        first, _ = evaluations()
        deadline = time.monotonic() + 60
        while True:
            seen, health = evaluations()
            if all(seen[name] not in (None, first[name]) for name in seen) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        idle = "numpy._core" in sys.modules
        now = time.time()

        def ask(query):
            with httpx.Client(base_url=url, timeout=30) as own:
                return own.get("/api/v1/query_range", params={"query": query, "start": now - 30, "end": now,
                                                              "step": 1})

        queries = ["count_over_time(node_load1[1m])", "sum_over_time(node_load5[1m])",
                   "max_over_time(node_load15[1m])", "rate(node_cpu_seconds_total[10s])",
                   "avg_over_time(node_memory_MemAvailable_bytes[1m])"]
        with ThreadPoolExecutor(len(queries)) as pool:  # numpy's first use from several query threads at once
            replies = list(pool.map(ask, queries))
        statuses = [r.status_code for r in replies]
        reply = replies[0].json()
finally:
    server.stop()
print(json.dumps({"groups": sorted(seen), "evaluated_twice": all(seen[n] not in (None, first[n]) for n in seen),
                  "health": sorted(set(health)), "numpy_when_idle": idle, "statuses": statuses,
                  "status": reply["status"], "series": len(reply["data"]["result"]),
                  "numpy_after_range": "numpy._core" in sys.modules}))
"""


def test_an_idle_server_does_not_load_numpy_and_a_range_query_does(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATA_DIR": str(tmp_path), "PYTHONPATH": str(root)}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env,
                       cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["groups"] == ["services", "system"]
    assert out["evaluated_twice"] is True
    assert out["health"] == ["ok"]
    assert out["numpy_when_idle"] is False
    assert out["statuses"] == [200] * 5  # numpy's first use, from five query threads at once
    assert out["status"] == "success"
    assert out["series"] > 0
    assert out["numpy_after_range"] is True
