"""Bytes per sample on disk after persisting 1M samples through the store (target <= 4).

Uses bench_chunks' node-like data mix (one 360-sample, 30-minute run per series), shifted so each
run falls in one storage window as continuous collection does. The SQLite file is vacuumed and
checkpointed before its size is read, so the figure is what the history really costs on disk,
series table and indexes included.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_chunks import START_MS, generate  # noqa: E402

from engine.tsdb.sqlite import SQLiteBackend  # noqa: E402
from engine.tsdb.store import Store  # noqa: E402
from engine.tsdb.types import make_labels  # noqa: E402


def persist(chunks) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        backend = SQLiteBackend(tmp)
        store = Store(backend)
        store.open()
        n = 0
        last = 0
        shift = -START_MS % store.window_ms
        for i, (kind, ts, vals) in enumerate(chunks):
            ref = store.ref(make_labels(f"bench_{kind}", {"instance": f"host-{i % 50}", "id": str(i)}))
            for t, v in zip(ts, vals, strict=True):
                n += store.append(ref, t + shift, v)
            last = max(last, ts[-1] + shift)
        t0 = time.perf_counter()
        store.flush(last + store.window_ms + store.close_grace_ms)
        flush_s = time.perf_counter() - t0
        backend.vacuum()
        stats = backend.stats()
        file_bytes = (Path(tmp) / "metrics.db").stat().st_size
        backend.close()
    return {"samples": n, "file_bytes": file_bytes, "bytes_per_sample": round(file_bytes / n, 3),
            "chunk_payload_bytes_per_sample": round(stats["chunk_bytes"] / n, 3),
            "chunks": stats["chunks"], "flush_s": round(flush_s, 2)}


def main() -> None:
    chunks = generate()
    everything = persist(chunks)
    counters_and_gauges = persist([c for c in chunks if c[0] != "ratios"])
    print(json.dumps({
        "benchmark": "disk_bytes_per_sample",
        "all_kinds": everything,
        "without_noisy_ratios": counters_and_gauges,
        "target_bytes_per_sample": 4.0,
    }))


if __name__ == "__main__":
    main()
