"""SQLite persistence: the embedded default, one file in DATA_DIR, WAL journal."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.datadir import open_sqlite, transaction
from engine.tsdb.backend import FlushBatch, StoredState, StoreError, WalBatch
from engine.tsdb.types import Metadata

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, labels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metadata (name TEXT PRIMARY KEY, type TEXT NOT NULL, help TEXT NOT NULL,
                                     unit TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (series_id INTEGER NOT NULL, min_t INTEGER NOT NULL,
                                   max_t INTEGER NOT NULL, data BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_series_time ON chunks (series_id, min_t);
CREATE INDEX IF NOT EXISTS chunks_max_t ON chunks (max_t);
CREATE TABLE IF NOT EXISTS wal (id INTEGER PRIMARY KEY, max_t INTEGER NOT NULL, data BLOB NOT NULL);
"""

DB_FILE = "metrics.db"
_IN_BATCH = 500


def encode_wal(batch: WalBatch) -> bytes:
    n = len(batch)
    return zlib.compress(
        n.to_bytes(8, "little") + batch.refs.tobytes() + batch.ts.tobytes() + batch.vals.tobytes(), 1
    )


def decode_wal(blob: bytes) -> WalBatch:
    raw = zlib.decompress(blob)
    n = int.from_bytes(raw[:8], "little")
    out = WalBatch()
    out.refs.frombytes(raw[8 : 8 + 8 * n])
    out.ts.frombytes(raw[8 + 8 * n : 8 + 16 * n])
    out.vals.frombytes(raw[8 + 16 * n : 8 + 24 * n])
    return out


class SQLiteBackend:
    """Chunks, series and a sample WAL in one SQLite file; safe to SIGKILL at any moment."""

    def __init__(self, data_dir: str | os.PathLike[str], *, repair: bool = False) -> None:
        self.path = Path(data_dir) / DB_FILE
        self.repair = repair
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"data directory {directory} cannot be created: {exc.strerror}") from None
        if not os.access(directory, os.W_OK | os.X_OK):
            raise StoreError(f"data directory {directory} is not writable")
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            raise StoreError(f"database {self.path} is not readable and writable")
        try:
            conn = open_sqlite(self.path, "metrics database", self.repair)
            conn.execute("PRAGMA page_size=16384")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a valid metrics database: {exc}") from None
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("store is closed")
        return self._conn

    def open(self) -> StoredState:
        self._conn = self._connect()
        self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            series = [(ref, tuple(tuple(p) for p in json.loads(text))) for ref, text in
                      self.conn.execute("SELECT id, labels FROM series ORDER BY id")]
            metadata = {name: Metadata(t, h, u) for name, t, h, u in
                        self.conn.execute("SELECT name, type, help, unit FROM metadata")}
            row = self.conn.execute("SELECT value FROM meta WHERE key='persisted_upto'").fetchone()
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise StoreError(f"{self.path} is not a valid metrics database: {exc}") from None
        return StoredState(series, metadata, int(row[0]) if row else 0)

    def replay_wal(self) -> Iterator[WalBatch]:
        for (blob,) in self.conn.execute("SELECT data FROM wal ORDER BY id"):
            try:
                yield decode_wal(blob)
            except (zlib.error, ValueError):
                continue  # a torn WAL row cannot exist under SQLite's atomic commit; skip defensively

    def write(self, batch: FlushBatch) -> None:
        with self._lock, transaction(self.conn, self.path) as conn:
            if batch.new_series:
                conn.executemany(
                    "INSERT OR IGNORE INTO series (id, labels) VALUES (?, ?)",
                    ((ref, json.dumps(labels, separators=(",", ":"))) for ref, labels in batch.new_series),
                )
            if batch.metadata:
                conn.executemany(
                    "INSERT OR REPLACE INTO metadata (name, type, help, unit) VALUES (?, ?, ?, ?)",
                    ((n, m.type, m.help, m.unit) for n, m in batch.metadata.items()),
                )
            if len(batch.wal):
                conn.execute(
                    "INSERT INTO wal (max_t, data) VALUES (?, ?)", (max(batch.wal.ts), encode_wal(batch.wal))
                )
            if batch.chunks:
                conn.executemany(
                    "INSERT OR REPLACE INTO chunks (series_id, min_t, max_t, data) VALUES (?, ?, ?, ?)",
                    ((c.ref, c.min_t, c.max_t, c.data) for c in batch.chunks),
                )
            if batch.persisted_upto is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('persisted_upto', ?)",
                    (str(batch.persisted_upto),),
                )
                conn.execute("DELETE FROM wal WHERE max_t < ?", (batch.persisted_upto,))
            if batch.purge_before is not None:
                conn.execute("DELETE FROM chunks WHERE max_t < ?", (batch.purge_before,))

    def read_chunks(self, refs: Iterable[int], mint: int, maxt: int) -> Iterator[tuple[int, bytes]]:
        ordered = sorted(refs)
        for i in range(0, len(ordered), _IN_BATCH):
            part = ordered[i : i + _IN_BATCH]
            marks = ",".join("?" * len(part))
            with self._read_lock:
                rows = self._reader.execute(  # type: ignore[union-attr]
                    f"SELECT series_id, data FROM chunks WHERE series_id IN ({marks}) AND max_t > ? AND min_t <= ?"
                    " ORDER BY series_id, min_t",
                    (*part, mint, maxt),
                ).fetchall()
            yield from rows

    def orphan_series(self, candidates: Iterable[int]) -> list[int]:
        with self._lock:
            return [ref for ref in candidates
                    if self.conn.execute("SELECT 1 FROM chunks WHERE series_id=? LIMIT 1", (ref,)).fetchone() is None]

    def delete_series(self, refs: Iterable[int]) -> None:
        with self._lock:
            self.conn.executemany("DELETE FROM series WHERE id=?", ((r,) for r in refs))

    def ping(self) -> None:
        with self._read_lock:
            if self._reader is None:
                raise StoreError("store is closed")
            self._reader.execute("SELECT 1 FROM meta LIMIT 1").fetchall()

    def stats(self) -> dict[str, int]:
        with self._lock:
            conn = self.conn
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            chunks, chunk_bytes = conn.execute("SELECT count(*), coalesce(sum(length(data)), 0) FROM chunks").fetchone()
            wal_rows = conn.execute("SELECT count(*) FROM wal").fetchone()[0]
        return {
            "file_bytes": page_size * pages,
            "used_bytes": page_size * (pages - free),
            "chunks": chunks,
            "chunk_bytes": chunk_bytes,
            "wal_rows": wal_rows,
        }

    def vacuum(self) -> None:
        """Checkpoint the journal and give free pages back (for measurements and maintenance)."""
        with self._lock:
            self.conn.execute("VACUUM")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.OperationalError as exc:  # a full disk: the journal is replayed at the next start
                    log.warning("checkpoint at close failed; the journal stays for the next start: %s", exc)
                finally:
                    self._conn.close()
                    self._conn = None
