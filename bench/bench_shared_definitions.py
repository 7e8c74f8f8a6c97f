"""Two replicas sharing a redis-server of the benchmark's own (REDIS_URL): a definition created through
replica A's API → listed by replica B (engine/cluster/shared.py), for API rules (B reloads its rules)
and health checks (B schedules the check). Measured from sending the POST to A to B's first answer
that lists it, B polled every POLL_S (the figure includes A's answer and up to one poll interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_replicas import quantiles, redis_server  # noqa: E402
from serverproc import serve  # noqa: E402

COUNT = 50
POLL_S = 0.002


async def propagation(client: httpx.AsyncClient, a: str, b: str, create: str, body: dict, listed: str) -> float:
    """Seconds from sending ``body`` to A's ``create`` until B's ``listed`` (with the new id) answers 200."""
    t0 = time.perf_counter()
    made = (await client.post(a + create, json=body)).raise_for_status().json()
    path = listed.format(id=(made.get("rule") or made.get("service"))["id" if "rule" in made else "name"])
    while (await client.get(b + path)).status_code != 200:
        await asyncio.sleep(POLL_S)
    return time.perf_counter() - t0


async def main() -> dict:
    with redis_server() as redis_port, contextlib.ExitStack() as stack:
        env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "SECRETS_KEY": "k" * 40, "RATE_LIMIT": "off"}
        a, b = (f"http://127.0.0.1:{stack.enter_context(serve(**env))[1]}" for _ in range(2))
        async with httpx.AsyncClient(timeout=30) as client:
            rules = [await propagation(client, a, b, "/api/alerts/rules",
                                       {"name": f"Bench{i}", "metricName": "node_load1", "condition": ">",
                                        "threshold": 1000 + i}, "/api/alerts/rules/{id}") for i in range(COUNT)]
            checks = [await propagation(client, a, b, "/api/health/services",
                                        {"name": f"bench-{i}", "url": "http://127.0.0.1:9/", "interval": "1h"},
                                        "/api/health/services/{id}") for i in range(COUNT)]
    return {"replicas": 2, "poll_interval_ms": POLL_S * 1000,
            "rule_created_on_a_listed_on_b": quantiles(rules),
            "check_created_on_a_listed_on_b": quantiles(checks)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
