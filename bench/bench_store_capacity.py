"""The head holding 100k active series: memory per series and per sample, and a /metrics-style scan.

100k series with 10 minutes of 5 s samples each (12M samples) are appended, then the process's
RSS growth is read; a full "live series" pass (what /metrics does) is timed.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.tsdb.sqlite import SQLiteBackend  # noqa: E402
from engine.tsdb.store import Store  # noqa: E402
from engine.tsdb.types import make_labels  # noqa: E402

SERIES = 100_000
SAMPLES = 120
T0 = 1_800_000_000_000


def main() -> None:
    proc = psutil.Process()
    before = proc.memory_info().rss
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(SQLiteBackend(tmp))
        store.open()
        refs = [store.ref(make_labels("app_requests_total", {"service": f"svc-{i % 100}", "instance": f"i-{i}"}))
                for i in range(SERIES)]
        after_series = proc.memory_info().rss
        start = time.perf_counter()
        for k in range(SAMPLES):
            t = T0 + k * 5000
            for ref in refs:
                store.append(ref, t, float(k))
            store.prepare_flush(t, close_windows=False)  # in service the WAL buffer is written every 10 s
        append_s = time.perf_counter() - start
        full = proc.memory_info().rss
        t0 = time.perf_counter()
        live = sum(len(group) for _, group in store.live(T0 + SAMPLES * 5000))
        scan_ms = (time.perf_counter() - t0) * 1000
        store.backend.close()
    print(json.dumps({
        "benchmark": "store_capacity",
        "active_series": live,
        "samples": SERIES * SAMPLES,
        "rss_mb_total": round(full / 2**20, 1),
        "bytes_per_series_without_samples": round((after_series - before) / SERIES),
        "bytes_per_sample_in_head": round((full - after_series) / (SERIES * SAMPLES), 2),
        "append_samples_per_s": round(SERIES * SAMPLES / append_s),
        "live_scan_ms": round(scan_ms, 1),
    }))


if __name__ == "__main__":
    main()
