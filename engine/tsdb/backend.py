"""What a persistence backend must do, so SQLite and MongoDB are interchangeable behind the store."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from engine.tsdb.types import Labels, Metadata


class StoreError(Exception):
    """Storage cannot be opened or used; the message is meant for the operator."""


@dataclass(slots=True)
class WalBatch:
    """Samples appended since the previous flush, in append order."""

    refs: array = field(default_factory=lambda: array("q"))
    ts: array = field(default_factory=lambda: array("q"))
    vals: array = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.refs)

    def extend(self, other: WalBatch) -> None:
        self.refs.extend(other.refs)
        self.ts.extend(other.ts)
        self.vals.extend(other.vals)


@dataclass(slots=True)
class EncodedChunk:
    ref: int
    min_t: int
    max_t: int
    data: bytes


@dataclass(slots=True)
class FlushBatch:
    """One atomic write: new series and metadata, recent samples, and closed windows as chunks."""

    new_series: list[tuple[int, Labels]] = field(default_factory=list)
    metadata: dict[str, Metadata] = field(default_factory=dict)
    wal: WalBatch = field(default_factory=WalBatch)
    chunks: list[EncodedChunk] = field(default_factory=list)
    persisted_upto: int | None = None
    purge_before: int | None = None
    raw_chunks: list[tuple[int, array, array]] = field(default_factory=list)
    """Closed-window samples the store encodes into ``chunks`` before the backend sees the batch."""


@dataclass(slots=True)
class StoredState:
    series: list[tuple[int, Labels]]
    metadata: dict[str, Metadata]
    persisted_upto: int


class Backend(Protocol):
    def open(self) -> StoredState:
        """Open (creating if needed) and return what the head needs to rebuild itself."""
        ...

    def replay_wal(self) -> Iterator[WalBatch]:
        """Samples written to the WAL and not yet known to be in chunks, oldest first."""
        ...

    def write(self, batch: FlushBatch) -> None:
        """Apply one batch atomically: after a crash either all of it is there or none."""
        ...

    def read_chunks(self, refs: Iterable[int], mint: int, maxt: int) -> Iterator[tuple[int, bytes]]:
        """(ref, chunk) pairs overlapping (mint, maxt], ordered by ref then time."""
        ...

    def orphan_series(self, candidates: Iterable[int]) -> list[int]:
        """Those of the candidate refs that have no chunk left."""
        ...

    def delete_series(self, refs: Iterable[int]) -> None: ...

    def ping(self) -> None:
        """Raise if the backend cannot answer a trivial read."""
        ...

    def stats(self) -> dict[str, int]: ...

    def close(self) -> None: ...
