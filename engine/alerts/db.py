"""Alert state on disk (DATA_DIR/alerts.db): instances, their timelines and silences.

Small and write-through: every change is committed when the operation that made it ends, so a
SIGKILL loses nothing already reported to a user.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from engine.alerts.model import AlertInstance, TimelineEvent
from engine.alerts.silences import Silence, SilenceMatcher
from engine.datadir import open_database, transaction
from engine.logs import log_fields
from engine.timefmt import rfc3339
from engine.tsdb.backend import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, state TEXT NOT NULL, resolved_at REAL,
                                      record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS instances_state ON instances (state);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, ts REAL NOT NULL,
                                   kind TEXT NOT NULL, by TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_instance ON events (instance_id, seq);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, ends_at REAL NOT NULL, record TEXT NOT NULL);
"""

DB_FILE = "alerts.db"
T = TypeVar("T")
log = logging.getLogger(__name__)


class AlertDB:
    def __init__(self, data_dir: str | Path, *, repair: bool = False) -> None:
        self.path = Path(data_dir) / DB_FILE
        self.repair = repair
        self._conn: sqlite3.Connection | None = None
        self._skipped: set[tuple[str, str]] = set()

    def open(self) -> None:
        self._conn = open_database(self.path, "alert database", SCHEMA, self.repair)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("alert database is closed")
        return self._conn

    def load_instances(self, live_only: bool) -> list[AlertInstance]:
        sql = "SELECT id, record FROM instances" + (" WHERE state IN ('pending', 'firing')" if live_only else "")
        return self._decoded("instance", self.conn.execute(sql), decode_instance)

    def recent_resolved(self, since: float, limit: int) -> list[AlertInstance]:
        rows = self.conn.execute(
            "SELECT id, record FROM instances WHERE state='resolved' AND resolved_at >= ? ORDER BY resolved_at DESC"
            " LIMIT ?", (since, limit))
        return self._decoded("instance", rows, decode_instance)

    def instance(self, instance_id: str) -> AlertInstance | None:
        rows = self.conn.execute("SELECT id, record FROM instances WHERE id=?", (instance_id,))
        found = self._decoded("instance", rows, decode_instance)
        return found[0] if found else None

    def timeline(self, instance_id: str) -> list[TimelineEvent]:
        rows = self.conn.execute(
            "SELECT instance_id, ts, kind, by, detail FROM events WHERE instance_id=? ORDER BY seq", (instance_id,))
        return [TimelineEvent(*r) for r in rows]

    def load_silences(self) -> list[Silence]:
        return self._decoded("silence", self.conn.execute("SELECT id, record FROM silences"), decode_silence)

    def _decoded(self, kind: str, rows: Iterable[tuple[str, str]], decode: Callable[[str], T]) -> list[T]:
        """The rows that decode. One that does not (written by an older version, or damaged) is logged
        once and skipped: a single bad row must not fail the start or every listing after it."""
        out = []
        for row_id, record in rows:
            try:
                out.append(decode(record))
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
                if (kind, row_id) not in self._skipped:
                    self._skipped.add((kind, row_id))
                    log.warning("unreadable stored %s skipped: %s: %s", kind, type(exc).__name__, exc,
                                extra=log_fields(row_id=row_id, path=str(self.path)))
        return out

    def write(self, instances: list[AlertInstance], events: list[TimelineEvent],
              silences: list[Silence] = (), deleted_silences: list[str] = ()) -> None:
        """One transaction for everything an operation changed."""
        if not (instances or events or silences or deleted_silences):
            return
        with transaction(self.conn, self.path) as conn:
            conn.executemany("INSERT OR REPLACE INTO instances (id, state, resolved_at, record) VALUES (?, ?, ?, ?)",
                             [(i.id, i.state, i.resolved_at, json.dumps(i.to_record())) for i in instances])
            conn.executemany("INSERT INTO events (instance_id, ts, kind, by, detail) VALUES (?, ?, ?, ?, ?)",
                             [(e.instance_id, e.ts, e.kind, e.by, e.detail) for e in events])
            conn.executemany("INSERT OR REPLACE INTO silences (id, ends_at, record) VALUES (?, ?, ?)",
                             [(s.id, s.ends_at, json.dumps(silence_record(s))) for s in silences])
            conn.executemany("DELETE FROM silences WHERE id=?", [(i,) for i in deleted_silences])

    def purge(self, before: float) -> None:
        """Forget resolved instances, their timelines and expired silences older than ALERTS_TTL."""
        with transaction(self.conn, self.path) as conn:
            conn.execute("DELETE FROM events WHERE instance_id IN (SELECT id FROM instances WHERE state='resolved'"
                         " AND resolved_at < ?)", (before,))
            conn.execute("DELETE FROM instances WHERE state='resolved' AND resolved_at < ?", (before,))
            conn.execute("DELETE FROM silences WHERE ends_at < ?", (before,))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def silence_record(s: Silence) -> dict[str, Any]:
    return {"id": s.id, "matchers": [{"name": m.name, "value": m.value, "is_regex": m.is_regex,
                                      "is_equal": m.is_equal} for m in s.matchers],
            "starts_at": s.starts_at, "ends_at": s.ends_at, "created_by": s.created_by, "comment": s.comment,
            "updated_at": s.updated_at}


def decode_instance(record: str) -> AlertInstance:
    inst = AlertInstance.from_record(json.loads(record))
    inst.to_json(rfc3339)  # what every listing does with it, so a time past year 9999 fails here
    return inst


def decode_silence(record: str) -> Silence:
    d = json.loads(record)
    d["matchers"] = [SilenceMatcher(**m) for m in d["matchers"]]
    silence = Silence(**d)  # compiles the matchers: a regex RE2 refuses fails here
    silence.to_json(silence.starts_at, rfc3339)
    return silence
