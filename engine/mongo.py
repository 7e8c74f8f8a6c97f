"""The alert state, health history and audit log on MongoDB (MONGODB_URI), with the same calls as
their SQLite versions (engine/alerts/db.py, engine/health/db.py, engine/audit.py) and the connection
of engine/tsdb/mongo.py.

pymongo is imported inside functions only: a server without MONGODB_URI never loads it. Every
collection has an index for each query its store makes and, where the SQLite version purges by age,
a TTL index (``expireAfterSeconds`` on a Date field) honouring ALERTS_TTL or HEALTH_CHECKS_TTL; the
explicit ``purge`` calls still run, so expiry does not wait for MongoDB's TTL monitor (once a
minute).

Documents whose TTL depends on a state carry the Date field only in that state: an alert instance
has ``resolvedAt`` once resolved, and so do its timeline events; a silence has ``endsAt``. MongoDB
never expires a document without the field, so firing alerts and their timelines stay.
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

from engine.alerts.db import decode_instance, decode_silence, silence_record
from engine.alerts.model import AlertInstance, TimelineEvent
from engine.alerts.silences import Silence
from engine.audit import COLUMNS, FILTERS, AuditEntry, entry_json
from engine.health.db import HistoryEvent
from engine.logs import log_fields
from engine.tsdb.backend import StoreError
from engine.tsdb.mongo import IndexSpec, MongoConnection, ensure_indexes, one_line, to_date, translated, ttl_seconds

if TYPE_CHECKING:
    from pymongo.client_session import ClientSession
    from pymongo.database import Database

log = logging.getLogger(__name__)

ALERT_INSTANCES = "alerts.instances"
ALERT_EVENTS = "alerts.events"
SILENCES = "alerts.silences"
HEALTH_EVENTS = "health.events"
AUDIT = "audit.entries"
COUNTERS = "counters"


class _MongoStore:
    """What the three history stores share: the database from the connection, indexes made on open."""

    what = "store"

    def __init__(self, conn: MongoConnection, indexes: list[IndexSpec]) -> None:
        self.conn = conn
        self.indexes = indexes
        self._db: Database[Any] | None = None

    def open(self) -> None:
        from pymongo.errors import PyMongoError

        db = self.conn.acquire()
        try:
            ensure_indexes(db, self.indexes)
        except PyMongoError as exc:
            self.conn.release()
            raise StoreError(f"MongoDB {self.what}: indexes cannot be created: {one_line(exc)}") from None
        self._db = db

    @property
    def db(self) -> Database[Any]:
        if self._db is None:
            raise StoreError(f"{self.what} is closed")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db = None
            self.conn.release()


def alert_indexes(alerts_ttl: float) -> list[IndexSpec]:
    """Every query path of ``MongoAlertDB``; resolved instances, their timelines and ended silences
    expire after ALERTS_TTL."""
    ttl = ttl_seconds(alerts_ttl)
    return [IndexSpec(ALERT_INSTANCES, "state_resolved_at", (("state", 1), ("resolved_at", -1))),
            IndexSpec(ALERT_INSTANCES, "resolved_ttl", (("resolvedAt", 1),), ttl=ttl),
            IndexSpec(ALERT_EVENTS, "instance_seq", (("instance_id", 1), ("_id", 1))),
            IndexSpec(ALERT_EVENTS, "resolved_ttl", (("resolvedAt", 1),), ttl=ttl),
            IndexSpec(SILENCES, "ends_ttl", (("endsAt", 1),), ttl=ttl)]


def health_indexes(health_checks_ttl: float) -> list[IndexSpec]:
    """``MongoHealthDB``: a check's newest events, and expiry after HEALTH_CHECKS_TTL."""
    return [IndexSpec(HEALTH_EVENTS, "service_ts", (("service", 1), ("ts", -1), ("_id", -1))),
            IndexSpec(HEALTH_EVENTS, "at_ttl", (("at", 1),), ttl=ttl_seconds(health_checks_ttl))]


def audit_indexes(alerts_ttl: float) -> list[IndexSpec]:
    """``MongoAuditLog``: each filter, newest first; expiry after ALERTS_TTL (the audit log's TTL)."""
    return [IndexSpec(AUDIT, "at_ttl", (("at", 1),), ttl=ttl_seconds(alerts_ttl)),
            *(IndexSpec(AUDIT, f"{name}_id", ((name, 1), ("_id", -1))) for name in FILTERS)]


def instance_document(i: AlertInstance) -> dict[str, Any]:
    """An instance as stored: the record the SQLite version keeps as JSON, plus the query fields."""
    doc: dict[str, Any] = {"_id": i.id, "state": i.state, "resolved_at": i.resolved_at,
                           "record": json.dumps(i.to_record())}
    if i.state == "resolved" and i.resolved_at is not None:
        doc["resolvedAt"] = to_date(i.resolved_at)
    return doc


class MongoAlertDB(_MongoStore):
    """``AlertDB``'s calls on MongoDB (used alone: with REDIS_URL, the alert state is in Redis)."""

    what = "alert database"

    def __init__(self, conn: MongoConnection, alerts_ttl: float) -> None:
        super().__init__(conn, alert_indexes(alerts_ttl))
        self._skipped: set[tuple[str, str]] = set()

    @translated
    def load_instances(self, live_only: bool) -> list[AlertInstance]:
        query = {"state": {"$in": ["pending", "firing"]}} if live_only else {}
        return self._decoded("instance", self.db[ALERT_INSTANCES].find(query), decode_instance)

    @translated
    def recent_resolved(self, since: float, limit: int) -> list[AlertInstance]:
        rows = self.db[ALERT_INSTANCES].find({"state": "resolved", "resolved_at": {"$gte": since}}) \
            .sort("resolved_at", -1).limit(limit)
        return self._decoded("instance", rows, decode_instance)

    @translated
    def instance(self, instance_id: str) -> AlertInstance | None:
        found = self._decoded("instance", self.db[ALERT_INSTANCES].find({"_id": instance_id}), decode_instance)
        return found[0] if found else None

    @translated
    def timeline(self, instance_id: str) -> list[TimelineEvent]:
        rows = self.db[ALERT_EVENTS].find({"instance_id": instance_id}).sort("_id", 1)
        return [TimelineEvent(r["instance_id"], r["ts"], r["kind"], r["by"], r["detail"]) for r in rows]

    @translated
    def load_silences(self) -> list[Silence]:
        return self._decoded("silence", self.db[SILENCES].find(), decode_silence)

    def _decoded(self, kind: str, rows: Any, decode: Any) -> list[Any]:
        """As ``AlertDB._decoded``: a document that does not decode is logged once and skipped."""
        out = []
        for row in rows:
            try:
                out.append(decode(row["record"]))
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
                key = (kind, str(row.get("_id")))
                if key not in self._skipped:
                    self._skipped.add(key)
                    log.warning("unreadable stored %s skipped: %s: %s", kind, type(exc).__name__, exc,
                                extra=log_fields(row_id=key[1]))
        return out

    @translated
    def write(self, instances: list[AlertInstance], events: list[TimelineEvent],
              silences: list[Silence] = (), deleted_silences: list[str] = ()) -> None:
        """Everything an operation changed: in one transaction on a replica set; alone, events are
        written before the instances that point at them, so a crash leaves no instance whose
        timeline lacks its latest event."""
        if not (instances or events or silences or deleted_silences):
            return
        self.conn.atomically(lambda s: self._write(instances, events, silences, deleted_silences, s))

    def _write(self, instances: list[AlertInstance], events: list[TimelineEvent], silences: list[Silence],
               deleted: list[str], session: ClientSession | None) -> None:
        from pymongo import ReplaceOne, UpdateMany

        db = self.db
        resolved = {i.id: to_date(i.resolved_at) for i in instances
                    if i.state == "resolved" and i.resolved_at is not None}
        if events:
            docs = [{"instance_id": e.instance_id, "ts": e.ts, "kind": e.kind, "by": e.by, "detail": e.detail}
                    for e in events]
            for d in docs:
                if d["instance_id"] in resolved:
                    d["resolvedAt"] = resolved[d["instance_id"]]
            db[ALERT_EVENTS].insert_many(docs, session=session)
        if resolved:
            db[ALERT_EVENTS].bulk_write([UpdateMany({"instance_id": i}, {"$set": {"resolvedAt": at}})
                                         for i, at in resolved.items()], session=session)
        if instances:
            db[ALERT_INSTANCES].bulk_write([ReplaceOne({"_id": i.id}, instance_document(i), upsert=True)
                                            for i in instances], session=session)
        if silences:
            db[SILENCES].bulk_write([ReplaceOne({"_id": s.id}, {"_id": s.id, "ends_at": s.ends_at,
                                                                "endsAt": to_date(s.ends_at),
                                                                "record": json.dumps(silence_record(s))},
                                                upsert=True) for s in silences], session=session)
        if deleted:
            db[SILENCES].delete_many({"_id": {"$in": list(deleted)}}, session=session)

    @translated
    def purge(self, before: float) -> None:
        """Forget resolved instances, their timelines and expired silences older than ``before``
        (the TTL indexes do the same on MongoDB's schedule). Timelines go first."""
        db = self.db
        old = [d["_id"] for d in db[ALERT_INSTANCES].find(
            {"state": "resolved", "resolved_at": {"$lt": before}}, {"_id": 1})]
        if old:
            db[ALERT_EVENTS].delete_many({"instance_id": {"$in": old}})
            db[ALERT_INSTANCES].delete_many({"_id": {"$in": old}})
        db[SILENCES].delete_many({"endsAt": {"$lt": to_date(before)}})


class MongoHealthDB(_MongoStore):
    """``HealthDB``'s calls on MongoDB: one document per history event."""

    what = "health history database"

    def __init__(self, conn: MongoConnection, health_checks_ttl: float) -> None:
        super().__init__(conn, health_indexes(health_checks_ttl))

    @translated
    def write(self, events: list[HistoryEvent]) -> None:
        if events:
            self.db[HEALTH_EVENTS].insert_many([health_document(e) for e in events])

    @translated
    def history(self, service: str, limit: int = 100) -> list[HistoryEvent]:
        """The newest events of one check, newest first."""
        rows = self.db[HEALTH_EVENTS].find({"service": service}).sort([("ts", -1), ("_id", -1)]).limit(limit)
        return [health_event(r) for r in rows]

    @translated
    def forget(self, service: str) -> None:
        self.db[HEALTH_EVENTS].delete_many({"service": service})

    @translated
    def purge(self, before: float) -> int:
        return self.db[HEALTH_EVENTS].delete_many({"at": {"$lt": to_date(before)}}).deleted_count


_HEALTH_FIELDS = ("service", "ts", "kind", "state", "previous", "error", "duration")


def health_document(e: HistoryEvent) -> dict[str, Any]:
    doc = {name: getattr(e, name) for name in _HEALTH_FIELDS}
    doc["at"] = to_date(e.ts)
    return doc


def health_event(doc: dict[str, Any]) -> HistoryEvent:
    return HistoryEvent(**{name: doc.get(name) for name in _HEALTH_FIELDS})


class MongoAuditLog(_MongoStore):
    """``AuditLog``'s calls on MongoDB. Ids come from a counter document (``$inc``), so they keep
    growing across replicas sharing the database, as the SQLite rowid does in one file."""

    what = "audit log"

    def __init__(self, conn: MongoConnection, alerts_ttl: float) -> None:
        super().__init__(conn, audit_indexes(alerts_ttl))

    @translated
    def record(self, e: AuditEntry) -> dict[str, Any]:
        """Store one entry; returns it as the API shows it."""
        from pymongo import ReturnDocument

        counter = self.db[COUNTERS].find_one_and_update({"_id": AUDIT}, {"$inc": {"n": 1}}, upsert=True,
                                                        return_document=ReturnDocument.AFTER)
        doc = audit_document(counter["n"], e)
        self.db[AUDIT].insert_one(doc)
        return entry_json(audit_row(doc))

    @translated
    def entries(self, filters: dict[str, str], since: float | None, limit: int) -> list[dict[str, Any]]:
        """Newest first; ``filters`` are exact matches on FILTERS fields."""
        query: dict[str, Any] = {}
        for name, value in filters.items():
            if name not in FILTERS:
                raise KeyError(name)
            query[name] = value
        if since is not None:  # "at" finds them by its index; "ts" keeps the exact bound below a millisecond
            query["at"] = {"$gte": to_date(math.floor(since * 1000) / 1000)}
            query["ts"] = {"$gte": since}
        return [entry_json(audit_row(d)) for d in self.db[AUDIT].find(query).sort("_id", -1).limit(limit)]

    @translated
    def purge(self, before: float) -> None:
        self.db[AUDIT].delete_many({"at": {"$lt": to_date(before)}})


def audit_document(entry_id: int, e: AuditEntry) -> dict[str, Any]:
    row = (entry_id, e.ts, e.actor, e.role, e.kind, e.method, e.route, e.path, e.target, e.status, e.result,
           e.remote, e.request_id)
    doc = dict(zip(COLUMNS, row, strict=True))
    doc["_id"] = doc.pop("id")
    doc["at"] = to_date(e.ts)
    return doc


def audit_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    """A stored entry as the SQLite row ``entry_json`` reads."""
    return (doc["_id"], *(doc[name] for name in COLUMNS[1:]))
