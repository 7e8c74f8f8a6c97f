"""What authentication, rate limiting and request validation cost a request: /api/v1/query and
/api/alerts requests a second and p99 latency with auth and limits off, and on (target: under 10 %
lower throughput with them on).

Servers run side by side: ``off`` (AUTH_ENABLED=false, RATE_LIMIT=off), ``limits_only`` (auth off,
RATE_LIMIT high enough that the in-memory buckets are consulted on every request but never refuse),
``on`` (the same limits, AUTH_ENABLED=true and every request carrying an HS256 bearer token), and,
when redis-server is installed, ``on_redis``
(the same with the buckets in a redis-server of the benchmark's own: one Lua call per request).
Request validation (the OpenAPI schemas) cannot be turned off, so it is in both figures. Rounds
alternate between the servers so the machine's swings hit all alike; each figure is the median
round. The server's CPU time per request is given too: on a shared machine it is the steadier figure.

    .venv/bin/python bench/bench_auth_overhead.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serverproc import free_port, serve  # noqa: E402

from engine.settings import load_settings  # noqa: E402
from server.auth.tokens import create_token  # noqa: E402

ROUND_S = float(os.environ.get("BENCH_AUTH_ROUND_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_AUTH_ROUNDS", "5"))
CONCURRENCY = 4
SECRET = "bench-" + "s" * 40
ENDPOINTS = {"query": ("/api/v1/query", {"query": "vector(1)"}), "alerts": ("/api/alerts", {})}
COMMON = {"COLLECTION_INTERVAL": "5", "LOG_LEVEL": "warning", "HOST": "127.0.0.1"}
OFF = {**COMMON, "AUTH_ENABLED": "false", "RATE_LIMIT": "off"}
ON = {**COMMON, "AUTH_ENABLED": "true", "JWT_SECRET": SECRET, "RATE_LIMIT": "1000000/s"}


@contextlib.contextmanager
def redis_server() -> Iterator[int | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


async def load(port: int, endpoint: str, seconds: float, headers: dict[str, str]) -> list[float]:
    """Latencies (seconds) of the requests CONCURRENCY clients looping for ``seconds`` got answered."""
    path, params = ENDPOINTS[endpoint]
    url = f"http://127.0.0.1:{port}{path}"
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        while (start := time.perf_counter()) < deadline:
            async with session.get(url, params=params, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"{path} answered {r.status}")
            latencies.append(time.perf_counter() - start)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    return latencies


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


async def measure(servers: dict[str, tuple[int, psutil.Process, dict[str, str]]]) -> dict[str, dict[str, dict]]:
    """Per endpoint and server: median req/s, median p99 (ms) and median server CPU µs a request."""
    rounds: dict[str, dict[str, list[tuple[float, float, float]]]] = {e: {k: [] for k in servers} for e in ENDPOINTS}
    for endpoint in ENDPOINTS:
        for port, _, headers in servers.values():
            await load(port, endpoint, 1.0, headers)  # warm-up: first-use imports and caches
        for _ in range(ROUNDS):
            for kind, (port, proc, headers) in servers.items():
                cpu, start = cpu_seconds(proc), time.perf_counter()
                latencies = await load(port, endpoint, ROUND_S, headers)
                elapsed = time.perf_counter() - start
                p99 = statistics.quantiles(latencies, n=100)[98]
                cpu_us = 1e6 * (cpu_seconds(proc) - cpu) / len(latencies)
                rounds[endpoint][kind].append((len(latencies) / elapsed, 1000 * p99, cpu_us))
    return {e: {k: {"req_s": statistics.median(r[0] for r in rs), "p99_ms": statistics.median(r[1] for r in rs),
                    "cpu_us": statistics.median(r[2] for r in rs)} for k, rs in by_kind.items()}
            for e, by_kind in rounds.items()}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        token = create_token(load_settings(env={"DATA_DIR": tmp, "JWT_SECRET": SECRET}, dotenv_path=None),
                             "bench", "viewer", 3600, time.time())
    bearer = {"Authorization": f"Bearer {token}"}
    with redis_server() as redis_port, contextlib.ExitStack() as stack:
        servers: dict[str, tuple[int, psutil.Process, dict[str, str]]] = {}
        configs = {"off": (OFF, {}), "limits_only": ({**OFF, "RATE_LIMIT": ON["RATE_LIMIT"]}, {}), "on": (ON, bearer)}
        if redis_port is not None:
            configs["on_redis"] = ({**ON, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}, bearer)
        for kind, (settings, headers) in configs.items():
            proc, port = stack.enter_context(serve(**settings))
            servers[kind] = (port, psutil.Process(proc.pid), headers)
        figures = asyncio.run(measure(servers))
    out: dict[str, object] = {"benchmark": "auth_overhead", "concurrency": CONCURRENCY, "rounds": ROUNDS,
                              "round_s": ROUND_S}
    for endpoint, by_kind in figures.items():
        base = by_kind["off"]
        for kind, m in by_kind.items():
            out[f"{endpoint}_req_s_{kind}"] = round(m["req_s"], 1)
            out[f"{endpoint}_p99_ms_{kind}"] = round(m["p99_ms"], 2)
            out[f"{endpoint}_server_cpu_us_per_request_{kind}"] = round(m["cpu_us"])
            if kind != "off":
                out[f"{endpoint}_throughput_difference_percent_{kind}"] = round(
                    100 * (base["req_s"] - m["req_s"]) / base["req_s"], 1)
    out["target_difference_percent"] = 10
    print(json.dumps(out))


if __name__ == "__main__":
    main()
