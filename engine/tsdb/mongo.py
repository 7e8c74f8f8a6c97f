"""MongoDB persistence (MONGODB_URI): the ``Backend`` of the time-series store on pymongo, and the
connection every store on MongoDB shares.

Collections (``metrics.<host name>.*`` in the URI's database, ``metrics_service`` when it names none):
``series`` {_id: ref, labels: [[name, value], ...]}, ``metadata`` {_id: metric name, type, help, unit},
``chunks`` {ref, minT, maxT, maxAt: Date, data}, ``wal`` {_id: sequence, maxT, data} and ``meta``
{_id: "persisted_upto", value}. Indexes: chunks (ref, minT) unique for reads, upserts and the orphan
check; chunks ``maxAt`` for the retention purge and as the TTL index honouring METRICS_TTL; wal
``maxT`` for the trim after a flush. WAL and chunk payloads are the SQLite backend's bytes.

Atomicity of ``write``: on a replica set or behind mongos the whole batch is one multi-document
transaction. On a standalone server (no transactions) the writes are ordered so that a crash at any
point leaves a state ``open`` + ``replay_wal`` turn into the same history:

1. series and metadata (upserts): extra series without samples are harmless, dropped as orphans;
2. the WAL documents: until the chunks are written, every unpersisted sample is in the WAL;
3. the chunks (upserts on (ref, minT), so writing a window twice replaces it with the same data);
   chunks past ``persisted_upto`` are never read (queries read chunks only below it and the head),
   and the next flush rewrites them from the replayed WAL;
4. ``persisted_upto``, then the WAL documents wholly below it: replay skips samples under it;
5. the retention purge (idempotent).

Series refs are allocated in memory, so each instance writes its own collections, named after its
host name: replicas sharing a database keep their series side by side (the compose file's replicas
have fixed host names; on Kubernetes a StatefulSet's pods do, a Deployment's do not, and series a
replaced pod wrote are then no longer read: their chunks expire with METRICS_TTL, the small series,
metadata and WAL collections stay until dropped by hand). The writer holds a lease
in ``meta`` ({_id: "writer", holder, until}), taken at ``open`` and renewed by every write (each
FLUSH_INTERVAL): a second process on the same collections (two servers on one host) is refused at
start-up with a message saying so, until the lease runs out (WRITER_LEASE_S after the holder's last
write; at once after its clean stop). The holder is the host name and DATA_DIR, so the same instance
restarted after a crash takes its store back at once. A writer that finds its lease taken over stops
writing (its writes fail).

pymongo is imported inside functions only, so a server without MONGODB_URI never loads it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from engine.logs import log_fields
from engine.settings import redact_uris
from engine.tsdb.backend import EncodedChunk, FlushBatch, StoredState, StoreError, WalBatch
from engine.tsdb.sqlite import decode_wal, encode_wal
from engine.tsdb.types import Labels, Metadata

if TYPE_CHECKING:
    from pymongo.client_session import ClientSession
    from pymongo.database import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_DATABASE = "metrics_service"
"""Used when MONGODB_URI names no database (``mongodb://host:27017``)."""
SERVER_SELECTION_MS = 3000
"""How long start-up waits for an unreachable server before it stops with an error (the URI's own
``serverSelectionTimeoutMS`` wins)."""
SOCKET_TIMEOUT_MS = 20_000
"""A hung server fails a write (kept for the next flush) instead of blocking the writer forever."""
TTL_MAX_S = 2**31 - 1
_CONFLICT_CODES = (85, 86)  # IndexOptionsConflict, IndexKeySpecsConflict: a TTL changed since last start


class MongoUnavailable(StoreError):
    """MongoDB did not answer, or refused an operation, after start-up: the API answers 503."""


def translated(fn: Callable[P, T]) -> Callable[P, T]:
    """A store method whose driver errors become MongoUnavailable (one line, no credentials)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        from pymongo.errors import PyMongoError

        try:
            return fn(*args, **kwargs)
        except PyMongoError as exc:
            raise MongoUnavailable(f"MongoDB: {one_line(exc)}") from exc

    return wrapper


def to_date(seconds: float) -> datetime:
    """A Unix time as the Date a TTL index reads (BSON dates have millisecond precision)."""
    return datetime.fromtimestamp(seconds, UTC)


def ttl_seconds(setting: float) -> int:
    """``expireAfterSeconds`` for a TTL setting: whole seconds, at least 1 and at most MongoDB's
    limit (2**31 - 1 s, 68 years: a 100y setting keeps everything as long as MongoDB can)."""
    return min(TTL_MAX_S, max(1, round(setting)))


@dataclass(frozen=True)
class IndexSpec:
    """One index: ``keys`` as (field, direction) pairs; ``ttl`` for a TTL index (seconds)."""

    collection: str
    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    ttl: int | None = None

    def options(self) -> dict[str, Any]:
        """The keyword arguments of ``IndexModel`` for this spec."""
        out: dict[str, Any] = {"name": self.name}
        if self.unique:
            out["unique"] = True
        if self.ttl is not None:
            out["expireAfterSeconds"] = self.ttl
        return out


def ensure_indexes(db: Database[Any], specs: list[IndexSpec]) -> None:
    """Create the indexes; one whose options changed (a new TTL setting) is dropped and made again."""
    from pymongo import IndexModel
    from pymongo.errors import OperationFailure

    for spec in specs:
        coll = db[spec.collection]
        try:
            coll.create_indexes([IndexModel(list(spec.keys), **spec.options())])
        except OperationFailure as exc:
            if exc.code not in _CONFLICT_CODES:
                raise
            log.info("index options changed; rebuilding it",
                     extra=log_fields(collection=spec.collection, index=spec.name))
            coll.drop_index(spec.name)
            coll.create_indexes([IndexModel(list(spec.keys), **spec.options())])


def supports_transactions(hello: dict[str, Any]) -> bool:
    """Multi-document transactions need a replica set member or a mongos (``hello``'s answer)."""
    return "setName" in hello or hello.get("msg") == "isdbgrid"


def server_address(uri: str) -> str:
    """The hosts of a URI without its credentials, for messages."""
    netloc = urlsplit(uri).netloc
    return netloc.rsplit("@", 1)[-1] or uri


def unreachable_message(uri: str, timeout_ms: int) -> str:
    return (f"MongoDB at {server_address(uri)} (MONGODB_URI) did not answer within {timeout_ms / 1000:g} s;"
            " start it, fix MONGODB_URI, or unset it to keep history in DATA_DIR")


class MongoConnection:
    """One MongoClient for every store on MONGODB_URI: connected (and checked with ``hello``) by the
    first ``acquire``, closed by the last ``release``."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._client: Any = None
        self._db: Database[Any] | None = None
        self._users = 0
        self.transactions = False
        """Whether the server runs multi-document transactions (a replica set or mongos)."""

    def acquire(self) -> Database[Any]:
        """The database (StoreError, in one line, when the server does not answer or refuses)."""
        if self._db is None:
            self._db = self._connect()
        self._users += 1
        return self._db

    def _connect(self) -> Database[Any]:
        from pymongo import MongoClient
        from pymongo.errors import OperationFailure, PyMongoError, ServerSelectionTimeoutError

        options: dict[str, Any] = {"socketTimeoutMS": SOCKET_TIMEOUT_MS, "appname": "metrics-service"}
        lowered = self.uri.lower()
        timeout_ms = SERVER_SELECTION_MS
        if "serverselectiontimeoutms=" not in lowered:
            options["serverSelectionTimeoutMS"] = timeout_ms
        if "connecttimeoutms=" not in lowered:
            options["connectTimeoutMS"] = timeout_ms
        client: Any = None
        try:
            client = MongoClient(self.uri, **options)
            timeout_ms = client.options.server_selection_timeout * 1000
            try:
                hello = client.admin.command("hello")
            except OperationFailure as exc:
                if exc.code != 59:  # CommandNotFound: a server before 4.4.2 knows it as isMaster
                    raise
                hello = client.admin.command("isMaster")
            db = client.get_default_database(default=DEFAULT_DATABASE)
        except ServerSelectionTimeoutError:
            if client is not None:
                client.close()
            raise StoreError(unreachable_message(self.uri, timeout_ms)) from None
        except PyMongoError as exc:  # a bad URI option, an unresolvable SRV name, refused credentials
            if client is not None:
                client.close()
            raise StoreError(f"MongoDB at {server_address(self.uri)} (MONGODB_URI): {one_line(exc)}") from None
        self._client = client
        self.transactions = supports_transactions(hello)
        return db

    @property
    def client(self) -> Any:
        if self._client is None:
            raise StoreError("MongoDB connection is closed")
        return self._client

    def atomically(self, work: Callable[[ClientSession | None], T]) -> None:
        """``work(session)`` in one transaction where the server has them (retried by the driver on
        a transient error, so ``work`` must be repeatable); ``work(None)`` on a standalone server."""
        if self.transactions:
            with self.client.start_session() as session:
                session.with_transaction(work)
        else:
            work(None)

    def release(self) -> None:
        self._users -= 1
        if self._users <= 0 and self._client is not None:
            self._client.close()
            self._client, self._db, self._users = None, None, 0





@dataclass(frozen=True)
class MetricsCollections:
    """One instance's collections, ``metrics.<name>.*``: series refs are allocated in each process's
    memory, so every replica keeps its own series next to the others' in the shared database."""

    series: str
    metadata: str
    chunks: str
    wal: str
    meta: str

    @classmethod
    def of(cls, name: str) -> MetricsCollections:
        """``name``: the host name (a compose service's ``hostname``, a StatefulSet pod's name)."""
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "default"
        return cls(*(f"metrics.{safe}.{kind}" for kind in ("series", "metadata", "chunks", "wal", "meta")))

    def all(self) -> set[str]:
        return {self.series, self.metadata, self.chunks, self.wal, self.meta}


WAL_DOC_SAMPLES = 200_000
"""Samples per WAL document: 4.8 MB before compression, under BSON's 16 MB document limit."""
_IN_BATCH = 1000
WRITER_LEASE_S = 60.0
"""How long a writer that stopped writing (killed, or cut off from MongoDB) keeps others out."""


def metrics_indexes(names: MetricsCollections, metrics_ttl: float) -> list[IndexSpec]:
    """Every query path of ``MongoBackend``, and the chunks' TTL (METRICS_TTL)."""
    return [
        IndexSpec(names.chunks, "ref_min_t", (("ref", 1), ("minT", 1)), unique=True),
        IndexSpec(names.chunks, "max_at_ttl", (("maxAt", 1),), ttl=ttl_seconds(metrics_ttl)),
        IndexSpec(names.wal, "max_t", (("maxT", 1),)),
    ]


def series_document(ref: int, labels: Labels) -> dict[str, Any]:
    return {"_id": ref, "labels": [list(pair) for pair in labels]}


def series_from_document(doc: dict[str, Any]) -> tuple[int, Labels]:
    return doc["_id"], tuple((name, value) for name, value in doc["labels"])


def chunk_document(c: EncodedChunk) -> dict[str, Any]:
    """``maxAt``: the chunk's last sample as a Date, what the TTL index and the purge read."""
    return {"ref": c.ref, "minT": c.min_t, "maxT": c.max_t, "maxAt": to_date(c.max_t / 1000), "data": c.data}


def wal_documents(batch: WalBatch, first_seq: int) -> list[dict[str, Any]]:
    """A batch as WAL documents numbered from ``first_seq``, at most WAL_DOC_SAMPLES samples each."""
    docs = []
    for i in range(0, len(batch), WAL_DOC_SAMPLES):
        part = WalBatch(batch.refs[i:i + WAL_DOC_SAMPLES], batch.ts[i:i + WAL_DOC_SAMPLES],
                        batch.vals[i:i + WAL_DOC_SAMPLES])
        docs.append({"_id": first_seq + len(docs), "maxT": max(part.ts), "data": encode_wal(part)})
    return docs


def metadata_document(name: str, m: Metadata) -> dict[str, Any]:
    return {"_id": name, "type": m.type, "help": m.help, "unit": m.unit}


class MongoBackend:
    """Series, chunks and a sample WAL in MongoDB; the same contract as ``SQLiteBackend``."""

    def __init__(self, conn: MongoConnection, metrics_ttl: float, name: str, owner: str) -> None:
        """``name``: whose collections (MetricsCollections.of); ``owner``: this process's name for
        the writer lease (host name and DATA_DIR)."""
        self.conn = conn
        self.names = MetricsCollections.of(name)
        self.owner = owner
        self.indexes = metrics_indexes(self.names, metrics_ttl)
        self._db: Database[Any] | None = None
        self._next_seq = 1

    @property
    def db(self) -> Database[Any]:
        if self._db is None:
            raise StoreError("store is closed")
        return self._db

    def open(self) -> StoredState:
        from pymongo.errors import OperationFailure, PyMongoError

        db = self.conn.acquire()
        try:
            missing = self.names.all() - set(db.list_collection_names())
            for name in sorted(missing):  # a transaction cannot create one before MongoDB 4.4
                try:
                    db.create_collection(name, check_exists=False)
                except OperationFailure as exc:
                    if exc.code != 48:  # NamespaceExists: made meanwhile
                        raise
            ensure_indexes(db, self.indexes)
            self._claim(db)
            names = self.names
            series = [series_from_document(d) for d in db[names.series].find().sort("_id", 1)]
            metadata = {d["_id"]: Metadata(d["type"], d["help"], d["unit"]) for d in db[names.metadata].find()}
            meta = db[names.meta].find_one({"_id": "persisted_upto"})
            last = db[names.wal].find_one({}, {"_id": 1}, sort=[("_id", -1)])
        except StoreError:
            self.conn.release()
            raise
        except (PyMongoError, KeyError, TypeError, ValueError) as exc:
            self.conn.release()
            raise StoreError(f"MongoDB metrics store cannot be read: {one_line(exc)}") from None
        self._db = db
        self._next_seq = last["_id"] + 1 if last else 1
        return StoredState(series, metadata, int(meta["value"]) if meta else 0)

    def _claim(self, db: Database[Any]) -> None:
        """Take the writer lease, free or already ours (StoreError naming the holder otherwise)."""
        from pymongo.errors import DuplicateKeyError

        now = datetime.now(UTC)
        try:
            db[self.names.meta].update_one(
                {"_id": "writer", "$or": [{"holder": self.owner}, {"until": {"$lt": now}}]},
                {"$set": {"holder": self.owner, "until": lease_end(now)}}, upsert=True)
        except DuplicateKeyError:  # held by another writer whose lease runs on
            held = db[self.names.meta].find_one({"_id": "writer"}) or {}
            raise StoreError(writer_busy_message(db.name, held.get("holder"), held.get("until"))) from None

    def replay_wal(self) -> Iterator[WalBatch]:
        for doc in self.db[self.names.wal].find().sort("_id", 1):  # at start-up: a driver error stops it, as it should
            yield decode_wal(doc["data"])

    @translated
    def write(self, batch: FlushBatch) -> None:
        wal = wal_documents(batch.wal, self._next_seq) if len(batch.wal) else []
        self._next_seq += len(wal)  # used even if the write fails: some documents may be in already
        self.conn.atomically(lambda session: self._apply(batch, wal, session))

    def _apply(self, batch: FlushBatch, wal: list[dict[str, Any]], session: ClientSession | None) -> None:
        """The writes in the order the module docstring explains."""
        from pymongo import ReplaceOne

        db, names = self.db, self.names
        renewed = db[names.meta].update_one({"_id": "writer", "holder": self.owner},
                                            {"$set": {"until": lease_end(datetime.now(UTC))}}, session=session)
        if not renewed.matched_count:
            raise StoreError(f"the MongoDB metrics store in database {db.name} was taken over by another"
                             " writer; this one no longer writes there")
        if batch.new_series:
            db[names.series].bulk_write([ReplaceOne({"_id": ref}, series_document(ref, labels), upsert=True)
                                         for ref, labels in batch.new_series], ordered=False, session=session)
        if batch.metadata:
            db[names.metadata].bulk_write([ReplaceOne({"_id": n}, metadata_document(n, m), upsert=True)
                                           for n, m in batch.metadata.items()], ordered=False, session=session)
        if wal:
            db[names.wal].insert_many(wal, session=session)
        if batch.chunks:
            db[names.chunks].bulk_write([ReplaceOne({"ref": c.ref, "minT": c.min_t}, chunk_document(c), upsert=True)
                                         for c in batch.chunks], ordered=False, session=session)
        if batch.persisted_upto is not None:
            db[names.meta].update_one({"_id": "persisted_upto"}, {"$set": {"value": batch.persisted_upto}},
                                      upsert=True, session=session)
            db[names.wal].delete_many({"maxT": {"$lt": batch.persisted_upto}}, session=session)
        if batch.purge_before is not None:
            db[names.chunks].delete_many({"maxAt": {"$lt": to_date(batch.purge_before / 1000)}}, session=session)

    def read_chunks(self, refs: Iterable[int], mint: int, maxt: int) -> Iterator[tuple[int, bytes]]:
        ordered = sorted(refs)
        for i in range(0, len(ordered), _IN_BATCH):
            yield from self._chunks(ordered[i:i + _IN_BATCH], mint, maxt)

    @translated
    def _chunks(self, refs: list[int], mint: int, maxt: int) -> list[tuple[int, bytes]]:
        rows = self.db[self.names.chunks].find({"ref": {"$in": refs}, "maxT": {"$gt": mint}, "minT": {"$lte": maxt}},
                                               {"_id": 0, "ref": 1, "data": 1}).sort([("ref", 1), ("minT", 1)])
        return [(d["ref"], d["data"]) for d in rows]

    @translated
    def orphan_series(self, candidates: Iterable[int]) -> list[int]:
        wanted = list(candidates)
        kept: set[int] = set()
        for i in range(0, len(wanted), _IN_BATCH):
            kept.update(self.db[self.names.chunks].distinct("ref", {"ref": {"$in": wanted[i:i + _IN_BATCH]}}))
        return [ref for ref in wanted if ref not in kept]

    @translated
    def delete_series(self, refs: Iterable[int]) -> None:
        gone = list(refs)
        if gone:
            self.db[self.names.series].delete_many({"_id": {"$in": gone}})

    @translated
    def ping(self) -> None:
        self.db.command("ping")

    @translated
    def stats(self) -> dict[str, int]:
        """The SQLite backend's figures, from dbStats and the chunks' collection statistics."""
        db = self.db
        totals = db.command("dbStats")
        chunks = next(db[self.names.chunks].aggregate([{"$collStats": {"storageStats": {}}}]), {}) \
            .get("storageStats", {})
        return {
            "file_bytes": int(totals.get("storageSize", 0) + totals.get("indexSize", 0)),
            "used_bytes": int(totals.get("dataSize", 0)),
            "chunks": int(chunks.get("count", 0)),
            "chunk_bytes": int(chunks.get("size", 0)),
            "wal_rows": db[self.names.wal].estimated_document_count(),
        }

    def close(self) -> None:
        """Give the writer lease back (another instance may take the store at once) and disconnect."""
        from pymongo.errors import PyMongoError

        if self._db is not None:
            try:
                self._db[self.names.meta].delete_one({"_id": "writer", "holder": self.owner})
            except PyMongoError as exc:  # the lease then runs out by itself
                log.warning("writer lease not given back: %s", one_line(exc))
            self._db = None
            self.conn.release()


def lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=WRITER_LEASE_S)


def writer_busy_message(database: str, holder: Any, until: Any) -> str:
    until_text = until.strftime("%H:%M:%S UTC") if isinstance(until, datetime) else "unknown"
    return (f"the MongoDB metrics store in database {database} is written by {holder} (lease until"
            f" {until_text}); each instance on one host needs its own MONGODB_URI database")


def one_line(exc: BaseException) -> str:
    """A driver's error as one line without credentials (pymongo's can span lines)."""
    text = redact_uris(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
