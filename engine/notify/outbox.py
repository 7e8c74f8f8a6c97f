"""The notifier's SQLite file (DATA_DIR/notifications.db): outbox and delivery log, notification log,
API channels (their settings encrypted, engine/secretbox.py). Blocking: the notifier calls it from its
own thread.

A notification is committed here before any network call; its row is the delivery log entry too
(status pending → sent | failed, attempts, errors), kept ALERTS_TTL. The notification log (what each
group last notified) is written in the same transaction as the notifications it led to, so after a
restart a group neither repeats what it sent nor forgets what it owes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

from engine.datadir import open_database, transaction
from engine.logs import log_fields
from engine.notify.dispatch import LogEntry
from engine.secretbox import SecretBox, is_sealed

log = logging.getLogger(__name__)
FILE = "notifications.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, channel TEXT NOT NULL, created_at REAL NOT NULL,
  group_key TEXT NOT NULL, route_key TEXT NOT NULL, alert_status TEXT NOT NULL, alerts TEXT NOT NULL,
  payload TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
  last_attempt_at REAL, sent_at REAL, last_error TEXT, response TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (channel, status, id);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at);
CREATE TABLE IF NOT EXISTS nflog (key TEXT PRIMARY KEY, firing TEXT NOT NULL, resolved TEXT NOT NULL,
  sent_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS channels (name TEXT PRIMARY KEY, type TEXT NOT NULL, settings TEXT NOT NULL);
"""
COLUMNS = ("id", "key", "channel", "created_at", "group_key", "route_key", "alert_status", "alerts", "payload",
           "status", "attempts", "next_attempt_at", "last_attempt_at", "sent_at", "last_error", "response")
_LIST = ", ".join(c for c in COLUMNS if c != "payload")


class Outbox:
    def __init__(self, data_dir: Path | str, secrets: SecretBox, repair: bool = False) -> None:
        self.path = Path(data_dir) / FILE
        self.secrets = secrets
        """Seals the API channels' settings (their secrets) at rest."""
        self.repair = repair
        self.conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        self.conn = open_database(self.path, "notifications database", _SCHEMA, self.repair, synchronous="FULL")
        self._seal_channels()

    def _seal_channels(self) -> None:
        """Encrypt channels stored before encryption existed; a channel the key cannot decrypt stops
        start-up (SecretsKeyError) rather than being lost by the next write."""
        with self._lock:
            rows = self._db().execute("SELECT name, settings FROM channels").fetchall()
        plain = []
        for name, settings in rows:
            if is_sealed(settings):
                self.secrets.open(settings, f"channel {name!r} in {self.path}")
            else:
                plain.append((self.secrets.seal(settings), name))
        if plain:  # the old text overwritten on disk too, not left in free space or the WAL
            with self._lock:
                db = self._db()
                db.execute("PRAGMA secure_delete = ON")
                with transaction(db, self.path):
                    db.executemany("UPDATE channels SET settings = ? WHERE name = ?", plain)
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                db.execute("PRAGMA secure_delete = OFF")
            log.info("channel secrets encrypted at rest", extra=log_fields(channels=len(plain), path=str(self.path)))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _db(self) -> sqlite3.Connection:
        assert self.conn is not None, "outbox not open"
        return self.conn

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> list[int]:
        """One transaction; the ids of inserted rows."""
        ids = []
        with self._lock, transaction(self._db(), self.path) as db:
            for sql, args in statements:
                cur = db.execute(sql, args)
                if sql.startswith("INSERT INTO outbox"):
                    ids.append(int(cur.lastrowid or 0))
        return ids

    # -- outbox -----------------------------------------------------------------------------------

    def enqueue(self, rows: list[dict[str, Any]], log_updates: list[tuple[str, LogEntry | None]]) -> list[int]:
        """Commit notifications (and the notification log they follow from) before any is sent."""
        statements: list[tuple[str, tuple[Any, ...]]] = [(
            "INSERT INTO outbox (key, channel, created_at, group_key, route_key, alert_status, alerts, payload, "
            "status, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
            (r["key"], r["channel"], r["created_at"], r["group_key"], r["route_key"], r["alert_status"],
             json.dumps(r["alerts"]), json.dumps(r["payload"]), r["created_at"])) for r in rows]
        for key, entry in log_updates:
            if entry is None:
                statements.append(("DELETE FROM nflog WHERE key = ?", (key,)))
            else:
                statements.append(("INSERT OR REPLACE INTO nflog (key, firing, resolved, sent_at) VALUES (?, ?, ?, ?)",
                                   (key, json.dumps(sorted(entry.firing)), json.dumps(sorted(entry.resolved)),
                                    entry.sent_at)))
        return self._write(statements)

    def next_pending(self, channel: str) -> dict[str, Any] | None:
        """The oldest pending notification of a channel (per-channel order: it goes first)."""
        with self._lock:
            row = self._db().execute(f"SELECT {', '.join(COLUMNS)} FROM outbox WHERE channel = ? AND "
                                     "status = 'pending' ORDER BY id LIMIT 1", (channel,)).fetchone()
        return None if row is None else _row(row, COLUMNS)

    def record_attempt(self, row_id: int, status: str, attempts: int, attempt_at: float, next_attempt_at: float,
                       error: str | None, response: dict[str, Any] | None) -> None:
        self._write([("UPDATE outbox SET status = ?, attempts = ?, last_attempt_at = ?, next_attempt_at = ?, "
                      "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END, last_error = ?, response = ? "
                      "WHERE id = ?", (status, attempts, attempt_at, next_attempt_at, status, attempt_at, error,
                                       None if response is None else json.dumps(response), row_id))])

    def pending_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db().execute("SELECT channel, COUNT(*) FROM outbox WHERE status = 'pending' "
                                      "GROUP BY channel").fetchall()
        return {c: n for c, n in rows}

    def channels_with_pending(self) -> list[str]:
        return list(self.pending_counts())

    def list(self, channel: str | None = None, status: str | None = None, alert: str | None = None,
             since: float | None = None, limit: int = 100) -> list[dict[str, Any]]:
        where, args = [], []
        for clause, value in (("channel = ?", channel), ("status = ?", status), ("created_at >= ?", since)):
            if value is not None:
                where.append(clause)
                args.append(value)
        if alert is not None:
            where.append("alerts LIKE ? ESCAPE '\\'")
            escaped = json.dumps(alert)[1:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f'%"{escaped}"%')
        sql = f"SELECT {_LIST} FROM outbox"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db().execute(sql, (*args, limit)).fetchall()
        return [_row(r, tuple(c for c in COLUMNS if c != "payload")) for r in rows]

    def get(self, row_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db().execute(f"SELECT {', '.join(COLUMNS)} FROM outbox WHERE id = ?", (row_id,)).fetchone()
        return None if row is None else _row(row, COLUMNS)

    def purge(self, before: float) -> None:
        self._write([("DELETE FROM outbox WHERE created_at < ? AND status != 'pending'", (before,))])

    def load_log(self) -> dict[str, LogEntry]:
        out = {}
        with self._lock:
            rows = self._db().execute("SELECT key, firing, resolved, sent_at FROM nflog").fetchall()
        for key, firing, resolved, sent_at in rows:
            try:
                out[key] = LogEntry(set(json.loads(firing)), set(json.loads(resolved)), float(sent_at))
            except (ValueError, TypeError):
                log.warning("unreadable notification log entry skipped", extra=log_fields(key=key))
        return out

    # -- API channels ---------------------------------------------------------------------------

    def api_channels(self) -> list[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db().execute("SELECT name, type, settings FROM channels ORDER BY name").fetchall()
        out = []
        for name, kind, settings in rows:
            try:
                out.append((name, kind, json.loads(self.secrets.open(settings, f"channel {name!r} in {self.path}"))))
            except ValueError:
                log.warning("unreadable stored channel skipped", extra=log_fields(channel=name))
        return out

    def put_channel(self, name: str, kind: str, settings: dict[str, Any]) -> None:
        self._write([("INSERT OR REPLACE INTO channels (name, type, settings) VALUES (?, ?, ?)",
                      (name, kind, self.secrets.seal(json.dumps(settings))))])

    def delete_channel(self, name: str) -> None:
        self._write([("DELETE FROM channels WHERE name = ?", (name,))])


def _row(row: tuple[Any, ...], columns: tuple[str, ...]) -> dict[str, Any]:
    out = dict(zip(columns, row, strict=True))
    for key in ("alerts", "payload", "response"):
        if out.get(key) is not None:
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                out[key] = None
    return out
