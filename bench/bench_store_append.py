"""Appending samples straight into the store (target >= 500k samples/s)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.tsdb.sqlite import SQLiteBackend  # noqa: E402
from engine.tsdb.store import Store  # noqa: E402
from engine.tsdb.types import make_labels  # noqa: E402

SERIES = 10_000
ROUNDS = 100


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(SQLiteBackend(tmp))
        store.open()
        refs = [store.ref(make_labels("bench_metric", {"instance": f"host-{i}", "job": "bench"}))
                for i in range(SERIES)]
        append = store.append
        start = time.perf_counter()
        for k in range(ROUNDS):
            t = 1_000_000 + k * 5000
            v = float(k)
            for ref in refs:
                append(ref, t, v)
        elapsed = time.perf_counter() - start
        n = SERIES * ROUNDS
        t0 = time.perf_counter()
        store.flush(1_000_000 + ROUNDS * 5000)
        flush_s = time.perf_counter() - t0
        store.backend.close()
    print(json.dumps({
        "benchmark": "store_append",
        "samples": n,
        "series": SERIES,
        "samples_per_s": round(n / elapsed),
        "target_samples_per_s": 500_000,
        "flush_of_those_samples_s": round(flush_s, 3),
    }))


if __name__ == "__main__":
    main()
