"""The storage the same behaviour tests run on: SQLite files always, a real MongoDB server when
MONGODB_URI is set. Without it the MongoDB cases are skipped with the reason shown; there is no
in-process stand-in for MongoDB."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from engine.alerts.db import AlertDB
from engine.audit import AuditLog
from engine.health.db import HealthDB
from engine.mongo import MongoAlertDB, MongoAuditLog, MongoHealthDB
from engine.tsdb.backend import Backend
from engine.tsdb.mongo import MongoBackend, MongoConnection
from engine.tsdb.sqlite import SQLiteBackend

NO_MONGODB = "MONGODB_URI not set: no MongoDB server on this machine"
TTL_S = float(2**31 - 1)
"""The longest TTL MongoDB takes (68 years): the tests' samples near 1970 must not be expired by
MongoDB's TTL monitor in the middle of a test."""
NAME = "test-host"
OWNER = "test-host:/data"
BACKENDS = [pytest.param("sqlite"),
            pytest.param("mongo", marks=pytest.mark.skipif(not os.environ.get("MONGODB_URI"), reason=NO_MONGODB))]


def storage_for(kind: str, tmp_path: Path) -> Storage:
    """A test's storage: ``tmp_path``, or a database of its own on MONGODB_URI's server."""
    if kind == "sqlite":
        return Storage("sqlite", tmp_path)
    return Storage("mongo", tmp_path, database_uri(os.environ["MONGODB_URI"],
                                                   f"metrics_service_test_{uuid.uuid4().hex[:12]}"))


def database_uri(uri: str, name: str) -> str:
    """MONGODB_URI with its database replaced by a test's own."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path="/" + name))


@dataclass
class Storage:
    """Where one test's data lives (a directory, or its own MongoDB database); each call opens a new
    connection to it, as a restarted process would."""

    kind: str
    path: Path
    uri: str | None = None
    _connections: list[MongoConnection] = field(default_factory=list)

    def _connection(self) -> MongoConnection:
        assert self.uri is not None
        conn = MongoConnection(self.uri)
        self._connections.append(conn)
        return conn

    def backend(self) -> Backend:
        return MongoBackend(self._connection(), TTL_S, NAME, OWNER) if self.uri else SQLiteBackend(self.path)

    def alert_db(self) -> Any:
        return MongoAlertDB(self._connection(), TTL_S) if self.uri else AlertDB(self.path)

    def health_db(self) -> Any:
        return MongoHealthDB(self._connection(), TTL_S) if self.uri else HealthDB(self.path)

    def audit_log(self) -> Any:
        return MongoAuditLog(self._connection(), TTL_S) if self.uri else AuditLog(self.path)

    def drop(self) -> None:
        """Drop the test's database and close what the test left open (a simulated crash)."""
        if self.uri is None:
            return
        from pymongo import MongoClient

        with MongoClient(self.uri, serverSelectionTimeoutMS=5000) as client:
            client.drop_database(client.get_default_database())
        for conn in self._connections:
            while conn._client is not None:
                conn.release()
