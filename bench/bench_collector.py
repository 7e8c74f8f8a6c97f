"""CPU time of one SystemCollector.collect() cycle (target <= 10 ms on a 2-core Linux box)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.collectors.system import SystemCollector  # noqa: E402

CYCLES = 200


def main() -> None:
    collector = SystemCollector()
    collector.collect()  # warm-up: imports, regex and psutil caches
    cpu_ms = []
    series = 0
    for _ in range(CYCLES):
        start = time.process_time()
        families = collector.collect()
        cpu_ms.append((time.process_time() - start) * 1e3)
        series = sum(len(fam.samples) for fam in families)
    cpu_ms.sort()
    print(json.dumps({
        "benchmark": "system_collection_cycle",
        "cpu_ms_per_cycle_median": round(statistics.median(cpu_ms), 3),
        "cpu_ms_per_cycle_p99": round(cpu_ms[int(0.99 * (CYCLES - 1))], 3),
        "series_per_cycle": series,
        "target_cpu_ms": 10,
    }))


if __name__ == "__main__":
    main()
