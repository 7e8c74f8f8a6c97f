"""/api/v1/query throughput with OpenTelemetry tracing off and on (target: at most 5 % lower with it on).

Two servers run side by side, one with OTEL_ENABLED exporting every span to a real OTLP/HTTP
receiver in a third process (it reads each export and answers 200, decoding nothing: on a 2-core
machine a collector's CPU would otherwise be charged to the traced server), the other with tracing
off. Each round measures both back to back, in alternating order, and the differences are the median
of the rounds' on/off ratios, so the machine's swings hit both alike. The server's own CPU time per
request is measured too: on a machine shared with other work it is the steadier figure (run with both
servers off, this machine showed up to 10 % throughput and 4 % CPU "differences" under a load average
of 8).
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
ROUNDS = int(os.environ.get("BENCH_TRACING_ROUNDS", "8"))
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


async def measure(servers: dict[str, tuple[int, psutil.Process]]) -> dict[str, dict[str, float]]:
    """Per query: median requests a second and server CPU microseconds a request of each server, and
    the median of each round's on/off ratios (the two measured back to back, the order alternating
    from round to round, so the machine's drift and the order cancel out)."""
    out: dict[str, dict[str, float]] = {}
    for query_name, query in QUERIES.items():
        for port, _ in servers.values():
            await load(port, query, 1.0)  # warm-up: first-use imports and caches
        rates: dict[str, list[float]] = {k: [] for k in servers}
        costs: dict[str, list[float]] = {k: [] for k in servers}
        for n in range(ROUNDS):
            for kind in sorted(servers, reverse=n % 2 == 1):
                port, proc = servers[kind]
                cpu, start = cpu_seconds(proc), time.perf_counter()
                done = await load(port, query, ROUND_S)
                elapsed = time.perf_counter() - start
                time.sleep(EXPORT_SETTLE_S)  # the exporter's batch for this round is sent (and charged) now
                rates[kind].append(done / elapsed)
                costs[kind].append(1e6 * (cpu_seconds(proc) - cpu) / done)
        out[query_name] = {
            **{f"req_s_{k}": statistics.median(v) for k, v in rates.items()},
            **{f"cpu_us_{k}": statistics.median(v) for k, v in costs.items()},
            "throughput_ratio": statistics.median(on / off for on, off in zip(rates["on"], rates["off"], strict=True)),
            "cpu_ratio": statistics.median(on / off for on, off in zip(costs["on"], costs["off"], strict=True)),
        }
    return out


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
        out[f"{name}_req_s_off"] = round(m["req_s_off"], 1)
        out[f"{name}_req_s_on"] = round(m["req_s_on"], 1)
        out[f"{name}_throughput_difference_percent"] = round(100 * (1 - m["throughput_ratio"]), 1)
        out[f"{name}_server_cpu_us_per_request_off"] = round(m["cpu_us_off"])
        out[f"{name}_server_cpu_us_per_request_on"] = round(m["cpu_us_on"])
        out[f"{name}_cpu_difference_percent"] = round(100 * (m["cpu_ratio"] - 1), 1)
    out["target_difference_percent"] = 5
    print(json.dumps(out))


if __name__ == "__main__":
    main()
