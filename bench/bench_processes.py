"""Reading the host's top processes (engine/collectors/processes.py), as the ``processes`` topic,
/api/metrics/processes and a firing alert do: the time of one reading on this host, then with 500
more (sleeping) processes, and how late an asyncio loop's 1 ms ticks get while readings run on
another thread (the server reads on its collector thread; its switch interval is 1 ms, as
server/runner.py sets it).

Targets: a reading of ~100 processes well under the 10 ms a collection cycle may take; the loop
never late by more than a few milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.collectors.processes import HostProcesses  # noqa: E402

RUNS = 30
EXTRA = 500


def readings(source: HostProcesses) -> tuple[int, float, float]:
    """Processes seen, median and worst milliseconds of one reading (top 50)."""
    times = []
    total = 0
    for _ in range(RUNS):
        started = time.perf_counter()
        total, _rows = source(50)
        times.append(1000 * (time.perf_counter() - started))
    return total, statistics.median(times), max(times)


async def loop_lag(source: HostProcesses | None) -> float:
    """The worst lateness (ms) of a 1 ms ticker while RUNS readings run on a worker thread (with no
    source: while the thread sleeps as long, the machine's own noise)."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    job = (lambda: [source(50) for _ in range(RUNS)]) if source else (lambda: time.sleep(0.5))
    work = loop.run_in_executor(None, job)
    while not work.done():
        due = time.perf_counter() + 0.001
        await asyncio.sleep(0.001)
        worst = max(worst, 1000 * (time.perf_counter() - due))
    await work
    return worst


def main() -> None:
    sys.setswitchinterval(0.001)
    source = HostProcesses()
    source(50)
    total, median, worst = readings(source)
    lag = asyncio.run(loop_lag(source))
    idle_lag = asyncio.run(loop_lag(None))
    sleepers = [subprocess.Popen(["sleep", "120"]) for _ in range(EXTRA)]
    try:
        source(50)
        total_more, median_more, worst_more = readings(source)
        lag_more = asyncio.run(loop_lag(source))
    finally:
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()
    print(json.dumps({
        "benchmark": "processes",
        "cpus": os.cpu_count(),
        "processes": total, "read_ms_median": round(median, 2), "read_ms_max": round(worst, 2),
        "loop_lag_ms_max": round(lag, 2), "loop_lag_ms_max_without_readings": round(idle_lag, 2),
        "processes_more": total_more, "read_ms_median_more": round(median_more, 2),
        "read_ms_max_more": round(worst_more, 2), "loop_lag_ms_max_more": round(lag_more, 2),
    }))


if __name__ == "__main__":
    main()
