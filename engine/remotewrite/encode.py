"""Remote write 1.0 bytes written by hand: a series' labels are encoded once, each sample is 9 bytes
and a varint, and a WriteRequest is its TimeSeries entries side by side (field 1 of each message)."""

from __future__ import annotations

import struct
import zlib
from array import array
from collections.abc import Iterable

from engine.protobuf import field, varint
from engine.tsdb.types import Labels

_DOUBLE = struct.Struct("<d")


def encode_labels(labels: Iterable[tuple[str, str]]) -> bytes:
    """TimeSeries field 1 for each label, in the order given (sorted by name, as receivers expect)."""
    return b"".join(field(b"\x0a", field(b"\x0a", k.encode()) + field(b"\x12", v.encode())) for k, v in labels)


def series_hash(labels: Labels) -> int:
    """A stable 32-bit hash of a label set: which shard sends the series (its order is kept there)."""
    return zlib.crc32("\xff".join(f"{k}\xfe{v}" for k, v in labels).encode())


def encode_series(label_bytes: bytes, ts: array | list[int], vals: array | list[float],
                  stamps: dict[int, tuple[bytes, bytes]]) -> bytes:
    """One TimeSeries message: the labels, then each sample (value, timestamp) as Prometheus writes it.
    ``stamps`` caches each timestamp's encoding for the caller's batch (its series share a few)."""
    parts = [label_bytes]
    pack = _DOUBLE.pack
    for t, v in zip(ts, vals, strict=True):
        head_tail = stamps.get(t)
        if head_tail is None:
            stamp = varint(t)
            head_tail = stamps[t] = (b"\x12" + bytes((10 + len(stamp),)) + b"\x09", b"\x10" + stamp)
        parts.append(head_tail[0] + pack(v) + head_tail[1])
    return b"".join(parts)


def write_request(series: Iterable[bytes]) -> bytes:
    """A WriteRequest of encoded TimeSeries messages (uncompressed)."""
    return b"".join(field(b"\x0a", s) for s in series)
