"""Health history on disk (DATA_DIR/health.db): every state change and every failed check, with its
error text, kept HEALTH_CHECKS_TTL. Written in batches by one thread; opened the checked way
(``open_sqlite``) like the other SQLite files."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from engine.datadir import open_database, transaction
from engine.tsdb.backend import StoreError

DB_FILE = "health.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, service TEXT NOT NULL, ts REAL NOT NULL,
                                   kind TEXT NOT NULL, state TEXT, previous TEXT, error TEXT, duration REAL);
CREATE INDEX IF NOT EXISTS events_service ON events (service, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
"""


@dataclass(frozen=True)
class HistoryEvent:
    """``kind``: ``state`` (a change to ``state`` from ``previous``; ``error`` is the reason) or
    ``failure`` (one failed check and its error)."""

    service: str
    ts: float
    kind: str
    state: str | None = None
    previous: str | None = None
    error: str | None = None
    duration: float | None = None


class HealthDB:
    def __init__(self, data_dir: str | Path, *, repair: bool = False) -> None:
        self.path = Path(data_dir) / DB_FILE
        self.repair = repair
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        self._conn = open_database(self.path, "health history database", SCHEMA, self.repair)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("health history database is closed")
        return self._conn

    def write(self, events: list[HistoryEvent]) -> None:
        if not events:
            return
        with transaction(self.conn, self.path) as conn:
            conn.executemany("INSERT INTO events (service, ts, kind, state, previous, error, duration)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(e.service, e.ts, e.kind, e.state, e.previous, e.error, e.duration) for e in events])

    def history(self, service: str, limit: int = 100) -> list[HistoryEvent]:
        """The newest events of one check, newest first."""
        rows = self.conn.execute(
            "SELECT service, ts, kind, state, previous, error, duration FROM events WHERE service=?"
            " ORDER BY ts DESC, seq DESC LIMIT ?", (service, limit))
        return [HistoryEvent(*r) for r in rows]

    def forget(self, service: str) -> None:
        self.conn.execute("DELETE FROM events WHERE service=?", (service,))

    def purge(self, before: float) -> int:
        return self.conn.execute("DELETE FROM events WHERE ts < ?", (before,)).rowcount

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
