"""The audit log (DATA_DIR/audit.db): one row per mutating request, kept ALERTS_TTL.

Written by the server's audit middleware through ``Engine.record_audit``; read by ``GET /api/audit``
and the ``audit`` stream topic. Rows are small and written on the loop as they happen (a few tens of
microseconds in WAL mode), so an action's audit row exists before its answer is sent.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.datadir import open_database, transaction
from engine.timefmt import rfc3339
from engine.tsdb.backend import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, ts REAL NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
                                  kind TEXT NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL, path TEXT NOT NULL,
                                  target TEXT, status INTEGER NOT NULL, result TEXT NOT NULL, remote TEXT NOT NULL,
                                  request_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
"""
DB_FILE = "audit.db"
RESULTS = ("ok", "denied", "failed")
FILTERS = ("actor", "role", "method", "route", "target", "result")
COLUMNS = ("id", "ts", "actor", "role", "kind", "method", "route", "path", "target", "status", "result", "remote",
           "request_id")


@dataclass(frozen=True)
class AuditEntry:
    """Who (actor, role, kind), what (method, route, path, target), the outcome (status, result:
    ok, denied for 401/403, failed otherwise), when (ts) and from where (remote address, request id)."""

    ts: float
    actor: str
    role: str
    kind: str
    method: str
    route: str
    path: str
    target: str | None
    status: int
    remote: str
    request_id: str

    @property
    def result(self) -> str:
        return "ok" if self.status < 400 else "denied" if self.status in (401, 403) else "failed"


def entry_json(row: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(COLUMNS, row, strict=True))
    return {"id": d["id"], "time": rfc3339(d["ts"]), "actor": d["actor"], "role": d["role"], "kind": d["kind"],
            "method": d["method"], "route": d["route"], "path": d["path"], "target": d["target"],
            "status": d["status"], "result": d["result"], "remote": d["remote"], "requestId": d["request_id"]}


class AuditLog:
    def __init__(self, data_dir: str | Path, *, repair: bool = False) -> None:
        self.path = Path(data_dir) / DB_FILE
        self.repair = repair
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        self._conn = open_database(self.path, "audit log", SCHEMA, self.repair)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("audit log is closed")
        return self._conn

    def record(self, e: AuditEntry) -> dict[str, Any]:
        """Store one entry; returns it as the API shows it."""
        row = (e.ts, e.actor, e.role, e.kind, e.method, e.route, e.path, e.target, e.status, e.result, e.remote,
               e.request_id)
        with transaction(self.conn, self.path) as conn:
            cur = conn.execute(f"INSERT INTO audit ({', '.join(COLUMNS[1:])}) VALUES ({', '.join('?' * len(row))})",
                               row)
        return entry_json((cur.lastrowid, *row))

    def entries(self, filters: dict[str, str], since: float | None, limit: int) -> list[dict[str, Any]]:
        """Newest first; ``filters`` are exact matches on FILTERS columns."""
        where, args = [], []
        for name, value in filters.items():
            if name not in FILTERS:
                raise KeyError(name)
            where.append(f"{name} = ?")
            args.append(value)
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        sql = (f"SELECT {', '.join(COLUMNS)} FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY id DESC LIMIT ?")
        return [entry_json(r) for r in self.conn.execute(sql, (*args, limit))]

    def purge(self, before: float) -> None:
        with transaction(self.conn, self.path) as conn:
            conn.execute("DELETE FROM audit WHERE ts < ?", (before,))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
