"""Chunk codec size and speed on 1M deterministic, node-exporter-like samples (target <= 4 bytes/sample).

Each series is one 30-minute chunk of 360 samples at a 5 s interval; timestamps carry +-2 ms of
scrape jitter. The mix, by share of samples:

- 30% cpu_seconds: CPU-seconds counters with 2 decimals (USER_HZ ticks / 100)
- 20% byte_counters: network/disk byte counters, bursty increments, a reset in 1 of 20 series
- 10% load: two-decimal gauges (load averages) as parsed from "%.2f"
- 15% memory_bytes: memory gauges in bytes (KiB granular, as /proc/meminfo)
- 10% int_gauges: small integer gauges (open fds, threads)
- 15% ratios: noisy full-precision float gauges in [0, 1] (cache hit ratios), not decimals
"""

from __future__ import annotations

import json
import random
import sys
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.tsdb.chunks import decode_chunk, encode_chunk  # noqa: E402

SAMPLES = 1_000_000
PER_CHUNK = 360
START_MS = 1_700_000_000_000
MIX = {"cpu_seconds": 0.30, "byte_counters": 0.20, "load": 0.10, "memory_bytes": 0.15,
       "int_gauges": 0.10, "ratios": 0.15}


def timestamps(rng: random.Random) -> array:
    start = START_MS + rng.randrange(5000)
    return array("q", (start + 5000 * i + rng.randint(-2, 2) for i in range(PER_CHUNK)))


def cpu_seconds(rng: random.Random) -> list[float]:
    busy = rng.random()
    ticks = rng.randrange(10**9)
    out = []
    for _ in range(PER_CHUNK):
        ticks += max(0, round(500 * busy + rng.gauss(0, 20)))
        out.append(ticks / 100)
    return out


def byte_counters(rng: random.Random) -> list[float]:
    rate = 10 ** rng.uniform(2, 7)
    total = rng.randrange(10**12)
    reset_at = rng.randrange(PER_CHUNK) if rng.random() < 0.05 else -1
    out = []
    for i in range(PER_CHUNK):
        total = 0 if i == reset_at else total + int(rate * 5 * rng.expovariate(1.0))
        out.append(float(total))
    return out


def load(rng: random.Random) -> list[float]:
    x = rng.uniform(0, 8)
    out = []
    for _ in range(PER_CHUNK):
        x = max(0.0, x + rng.gauss(0, 0.05))
        out.append(float(f"{x:.2f}"))
    return out


def memory_bytes(rng: random.Random) -> list[float]:
    kib = rng.randrange(1 << 20, 1 << 25)
    out = []
    for _ in range(PER_CHUNK):
        kib = max(0, kib + round(rng.gauss(0, 2000)))
        out.append(float(kib * 1024))
    return out


def int_gauges(rng: random.Random) -> list[float]:
    x = rng.randrange(10, 5000)
    out = []
    for _ in range(PER_CHUNK):
        x = max(0, x + rng.choice((-1, 0, 0, 0, 1)))
        out.append(float(x))
    return out


def ratios(rng: random.Random) -> list[float]:
    x = rng.uniform(0.5, 0.99)
    out = []
    for _ in range(PER_CHUNK):
        x = min(1.0, max(0.0, x + rng.gauss(0, 0.01)))
        out.append(x)
    return out


def generate() -> list[tuple[str, array, array]]:
    rng = random.Random(20240601)
    chunks = []
    total_chunks = SAMPLES // PER_CHUNK
    for kind, share in MIX.items():
        make = globals()[kind]
        for _ in range(round(total_chunks * share)):
            chunks.append((kind, timestamps(rng), array("d", make(rng))))
    return chunks


def main() -> None:
    chunks = generate()
    n = sum(len(ts) for _, ts, _ in chunks)
    start = time.perf_counter()
    blobs = [encode_chunk(ts, vals) for _, ts, vals in chunks]
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = [decode_chunk(blob) for blob in blobs]
    decode_s = time.perf_counter() - start
    size: dict[str, int] = dict.fromkeys(MIX, 0)
    count: dict[str, int] = dict.fromkeys(MIX, 0)
    for (kind, ts, vals), blob, (dts, dvals) in zip(chunks, blobs, decoded, strict=True):
        if dts != ts or dvals.tobytes() != vals.tobytes():
            raise SystemExit(f"round trip failed for a {kind} chunk")
        size[kind] += len(blob)
        count[kind] += len(ts)
    print(json.dumps({
        "benchmark": "chunks",
        "samples": n,
        "samples_per_chunk": PER_CHUNK,
        "mix": {kind: round(count[kind] / n, 3) for kind in MIX},
        "bytes_per_sample": round(sum(size.values()) / n, 3),
        "bytes_per_sample_by_kind": {kind: round(size[kind] / count[kind], 3) for kind in MIX},
        "target_bytes_per_sample": 4.0,
        "encode_samples_per_s": round(n / encode_s),
        "decode_samples_per_s": round(n / decode_s),
    }))


if __name__ == "__main__":
    main()
