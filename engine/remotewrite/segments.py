"""The persistent queue of one remote: an append-only log of records in numbered segment files, and a
read position saved after each delivered round, so an outage or a restart loses nothing.

A record is what one feed tick produced for the remote: encoded TimeSeries entries, each with its
shard hash and sample count. Layout: header (payload length, CRC-32 of the payload, lowest and highest
timestamp, sample count) then the payload. Appends are fsynced once per tick (a second's samples at most
are at risk in a power cut); a torn tail found on open is cut off. Segments wholly read are deleted.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_HEADER = struct.Struct("<IIqqI")
_ENTRY = struct.Struct("<III")
SEGMENT_BYTES = 16 << 20
"""A segment is closed once it holds this much; a record never spans two."""
_POSITION = "position"


@dataclass(slots=True)
class Record:
    segment: int
    end: int
    """Offset just past the record in its segment: the read position once it is delivered."""
    min_t: int
    max_t: int
    samples: int
    entries: list[tuple[int, int, bytes]]
    """(shard hash, sample count, TimeSeries bytes)."""


def encode_record(entries: list[tuple[int, int, bytes]], min_t: int, max_t: int) -> bytes:
    payload = b"".join(_ENTRY.pack(h, n, len(b)) + b for h, n, b in entries)
    samples = sum(n for _, n, _ in entries)
    return _HEADER.pack(len(payload), zlib.crc32(payload), min_t, max_t, samples) + payload


class SegmentLog:
    """Blocking file work: called from the remote write thread only."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.read_pos = (1, 0)
        self.write_seg = 1
        self._file = None
        self._written = 0

    def open(self) -> None:
        """Find the read position and the segment to append to (under the data dir's lock: a second
        server must not cut the tail another is writing)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.read_pos = self._load_position()
        segments = self.segments()
        self.write_seg = segments[-1] if segments else max(1, self.read_pos[0])
        if segments:
            self._cut_torn_tail(self.write_seg)
        self._written = self._path(self.write_seg).stat().st_size if segments else 0

    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.seg") if p.stem.isdigit())

    def _path(self, n: int) -> Path:
        return self.dir / f"{n:08d}.seg"

    def _load_position(self) -> tuple[int, int]:
        try:
            seg, off = (self.dir / _POSITION).read_text().split()
            return int(seg), int(off)
        except (OSError, ValueError):
            segs = self.segments()
            return (segs[0] if segs else 1), 0

    def _cut_torn_tail(self, n: int) -> None:
        """Truncate the last segment after its last whole record (a crash mid-append)."""
        good = 0
        for rec in self._scan(n, 0):
            good = rec.end
        with open(self._path(n), "r+b") as f:
            if f.seek(0, os.SEEK_END) != good:
                f.truncate(good)

    def append(self, data: bytes) -> None:
        """Write records (one or several side by side) and fsync them."""
        if self._written and self._written + len(data) > SEGMENT_BYTES:
            self._close_file()
            self.write_seg += 1
            self._written = 0
        if self._file is None:
            self._file = open(self._path(self.write_seg), "ab")  # noqa: SIM115 (kept open between ticks)
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._written += len(data)

    def read(self, limit: int) -> list[Record]:
        """Up to ``limit`` records from the read position on (nothing is consumed)."""
        out: list[Record] = []
        seg, off = self.read_pos
        while len(out) < limit and seg <= self.write_seg:
            for rec in self._scan(seg, off):
                out.append(rec)
                if len(out) >= limit:
                    break
            seg, off = seg + 1, 0
        return out

    def _scan(self, seg: int, off: int) -> Iterator[Record]:
        try:
            f = open(self._path(seg), "rb")  # noqa: SIM115 (closed below, read record by record)
        except FileNotFoundError:
            return
        with f:
            f.seek(off)
            while True:
                head = f.read(_HEADER.size)
                if len(head) < _HEADER.size:
                    return
                length, crc, min_t, max_t, samples = _HEADER.unpack(head)
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    return
                off += _HEADER.size + length
                yield Record(seg, off, min_t, max_t, samples, _entries(payload))

    def consume(self, upto: Record) -> None:
        """Everything up to and including ``upto`` is delivered (or given up): save the position and
        delete segments left behind. The position file is replaced atomically, not fsynced: losing
        it in a power cut resends a round, which receivers take as duplicates of the same samples."""
        self.read_pos = (upto.segment, upto.end)
        if upto.segment < self.write_seg and upto.end >= self._path(upto.segment).stat().st_size:
            self.read_pos = (upto.segment + 1, 0)
        tmp = self.dir / (_POSITION + ".tmp")
        tmp.write_text(f"{self.read_pos[0]} {self.read_pos[1]}\n")
        os.replace(tmp, self.dir / _POSITION)
        for n in self.segments():
            if n < self.read_pos[0]:
                self._path(n).unlink(missing_ok=True)

    def pending(self) -> int:
        """Samples not yet delivered, by a scan from the read position."""
        samples = 0
        seg, off = self.read_pos
        while seg <= self.write_seg:
            samples += sum(rec.samples for rec in self._scan(seg, off))
            seg, off = seg + 1, 0
        return samples

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> None:
        self._close_file()


def _entries(payload: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    pos, end = 0, len(payload)
    view = memoryview(payload)
    while pos < end:
        h, n, length = _ENTRY.unpack_from(payload, pos)
        pos += _ENTRY.size
        out.append((h, n, bytes(view[pos:pos + length])))
        pos += length
    return out
