"""/api/v1/query throughput with OpenTelemetry tracing off and on (target: at most 5 % lower with it on).

Two servers run side by side, one with OTEL_ENABLED exporting every span to a real OTLP/HTTP
receiver in a third process (it reads each export and answers 200, decoding nothing: on a 2-core
machine a collector's CPU would otherwise be charged to the traced server), the other with tracing
off. Rounds alternate between them so the machine's swings hit both alike; each figure is the median
round. The server's own CPU time per request is measured too: on a machine shared with other work it
is the steadier figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

import aiohttp
import httpx
import psutil
from serverproc import free_port, serve

ROUND_S = float(os.environ.get("BENCH_TRACING_ROUND_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_TRACING_ROUNDS", "5"))
CONCURRENCY = 4
EXPORT_SETTLE_S = 1.5
QUERIES = {"cheap": "vector(1)", "cpu_rate_sum": "sum by (mode) (rate(node_cpu_seconds_total[1m]))"}

RECEIVER = """
import sys
from aiohttp import web
received = 0
async def export(request):
    global received
    received += len(await request.read())
    return web.Response(body=b"", content_type="application/x-protobuf")
async def count(request):
    return web.Response(text=str(received))
app = web.Application(client_max_size=64 << 20)
app.router.add_post("/v1/traces", export)
app.router.add_get("/count", count)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


async def load(port: int, query: str, seconds: float) -> int:
    """Requests answered to CONCURRENCY clients looping for ``seconds``."""
    url = f"http://127.0.0.1:{port}/api/v1/query"
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with session.get(url, params={"query": query}) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"/api/v1/query answered {r.status}")
            done += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    return done


def cpu_seconds(proc: psutil.Process) -> float:
    """User and system CPU of the server, its threads (the exporter's) included."""
    times = proc.cpu_times()
    return times.user + times.system


async def measure(servers: dict[str, tuple[int, psutil.Process]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per query and per server: median requests a second and median server CPU microseconds a request."""
    rates = {q: {k: [] for k in servers} for q in QUERIES}
    costs = {q: {k: [] for k in servers} for q in QUERIES}
    for query_name, query in QUERIES.items():
        for port, _ in servers.values():
            await load(port, query, 1.0)  # warm-up: first-use imports and caches
        for _ in range(ROUNDS):
            for kind, (port, proc) in servers.items():
                cpu, start = cpu_seconds(proc), time.perf_counter()
                done = await load(port, query, ROUND_S)
                elapsed = time.perf_counter() - start
                time.sleep(EXPORT_SETTLE_S)  # the exporter's batch for this round is sent (and charged) now
                rates[query_name][kind].append(done / elapsed)
                costs[query_name][kind].append(1e6 * (cpu_seconds(proc) - cpu) / done)
    return {q: {k: {"req_s": statistics.median(rates[q][k]), "cpu_us": statistics.median(costs[q][k])}
                for k in servers} for q in QUERIES}


def main() -> None:
    receiver_port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(receiver_port)])
    try:
        common = {"COLLECTION_INTERVAL": "5", "LOG_LEVEL": "warning", "RATE_LIMIT": "off"}
        with serve(**common) as (off, off_port), \
                serve(**common, OTEL_ENABLED="true",
                      OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver_port}") as (on, on_port):
            time.sleep(6)  # one collection cycle, so the cpu query has samples to rate
            figures = asyncio.run(measure({"off": (off_port, psutil.Process(off.pid)),
                                           "on": (on_port, psutil.Process(on.pid))}))
            exported = int(httpx.get(f"http://127.0.0.1:{receiver_port}/count").text)
    finally:
        receiver.terminate()
        receiver.wait(10)
    out: dict[str, object] = {"benchmark": "tracing", "concurrency": CONCURRENCY, "rounds": ROUNDS,
                              "round_s": ROUND_S, "otlp_bytes_received": exported}
    for name, m in figures.items():
        off_, on_ = m["off"], m["on"]
        out[f"{name}_req_s_off"] = round(off_["req_s"], 1)
        out[f"{name}_req_s_on"] = round(on_["req_s"], 1)
        out[f"{name}_throughput_difference_percent"] = round(100 * (off_["req_s"] - on_["req_s"]) / off_["req_s"], 1)
        out[f"{name}_server_cpu_us_per_request_off"] = round(off_["cpu_us"])
        out[f"{name}_server_cpu_us_per_request_on"] = round(on_["cpu_us"])
        out[f"{name}_cpu_difference_percent"] = round(100 * (on_["cpu_us"] - off_["cpu_us"]) / off_["cpu_us"], 1)
    out["target_difference_percent"] = 5
    print(json.dumps(out))


if __name__ == "__main__":
    main()
