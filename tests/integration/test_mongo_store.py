"""The MongoDB store (MONGODB_URI). The alert state contract runs on every backend (``storage``);
the rest needs a real MongoDB server and is skipped without MONGODB_URI, except start-up against an
unreachable server, which a closed local port shows here. The time-series, health history and audit
contracts are the SQLite tests of tests/unit, parametrized the same way."""

from __future__ import annotations

import os
import socket

import httpx
import pytest

from engine.alerts.model import AlertInstance, TimelineEvent
from engine.alerts.silences import Silence, SilenceMatcher
from engine.mongo import ALERT_INSTANCES, AUDIT, alert_indexes
from engine.tsdb.backend import StoreError
from engine.tsdb.mongo import MetricsCollections, MongoBackend, MongoConnection
from engine.tsdb.store import Store
from engine.tsdb.types import make_labels
from server.runner import start_server
from tests.backends import NAME, NO_MONGODB, OWNER, TTL_S, Storage, storage_for
from tests.integration.conftest import free_port, make_settings
from tests.integration.test_cli_process import run_cli

MIN = 60_000
NAMES = MetricsCollections.of(NAME)
CHUNKS, META, WAL = NAMES.chunks, NAMES.meta, NAMES.wal
needs_mongodb = pytest.mark.skipif(not os.environ.get("MONGODB_URI"), reason=NO_MONGODB)


def instance(iid: str, state: str, resolved_at: float | None = None) -> AlertInstance:
    return AlertInstance(id=iid, rule_id="r1", fingerprint=f"fp-{iid}", name="HighCPU", labels={"severity": "page"},
                         annotations={"summary": "cpu"}, state=state, value=0.97, active_at=100.0, fired_at=110.0,
                         resolved_at=resolved_at)


def silence(sid: str, ends_at: float) -> Silence:
    return Silence(id=sid, matchers=[SilenceMatcher("alertname", "HighCPU")], starts_at=100.0, ends_at=ends_at,
                   created_by="alice", comment="maintenance", updated_at=100.0)


def test_alert_state_round_trips_and_purges_resolved_history_only(storage):
    db = storage.alert_db()
    db.open()
    try:
        db.write([instance("a", "firing"), instance("b", "resolved", 200.0), instance("c", "resolved", 900.0)],
                 [TimelineEvent("a", 110.0, "firing", "system"), TimelineEvent("b", 150.0, "firing", "system"),
                  TimelineEvent("b", 200.0, "resolved", "alice", "by hand"),
                  TimelineEvent("a", 120.0, "acknowledged", "bob", "looking")],
                 [silence("s-old", 300.0), silence("s-new", 5000.0)])
        assert [i.id for i in db.load_instances(live_only=True)] == ["a"]
        assert sorted(i.id for i in db.load_instances(live_only=False)) == ["a", "b", "c"]
        assert [i.id for i in db.recent_resolved(since=0.0, limit=5)] == ["c", "b"]
        assert [i.id for i in db.recent_resolved(since=0.0, limit=1)] == ["c"]
        assert [i.id for i in db.recent_resolved(since=500.0, limit=5)] == ["c"]
        assert db.instance("b").resolved_at == 200.0 and db.instance("zz") is None
        assert [(e.kind, e.by) for e in db.timeline("a")] == [("firing", "system"), ("acknowledged", "bob")]
        assert sorted(s.id for s in db.load_silences()) == ["s-new", "s-old"]
        db.write([instance("a", "resolved", 400.0)], [TimelineEvent("a", 400.0, "resolved", "system")], [],
                 ["s-new"])
        assert db.load_instances(live_only=True) == []
        assert [s.id for s in db.load_silences()] == ["s-old"]
        db.purge(before=500.0)  # b and a resolved before 500, their timelines with them; c and its age stay
        assert [i.id for i in db.load_instances(live_only=False)] == ["c"]
        assert db.timeline("a") == [] and db.timeline("b") == []
        assert db.load_silences() == []
    finally:
        db.close()
    again = storage.alert_db()  # a new connection: what a restart reads
    again.open()
    try:
        (c,) = again.load_instances(live_only=False)
        assert c == instance("c", "resolved", 900.0)
    finally:
        again.close()


# -- against a real MongoDB server only ------------------------------------------------------------


@pytest.fixture
def mongo(tmp_path):
    if not os.environ.get("MONGODB_URI"):
        pytest.skip(NO_MONGODB)
    place = storage_for("mongo", tmp_path)
    try:
        yield place
    finally:
        place.drop()


def server_indexes(db, collection: str) -> dict[str, dict]:
    return {i["name"]: i for i in db[collection].list_indexes()}


def test_indexes_and_ttls_are_on_the_server_and_follow_a_changed_setting(mongo: Storage):
    backend = mongo.backend()
    backend.open()
    try:
        found = server_indexes(backend.db, CHUNKS)
        assert found["max_at_ttl"]["expireAfterSeconds"] == int(TTL_S)
        assert found["ref_min_t"]["unique"] is True and list(found["ref_min_t"]["key"]) == ["ref", "minT"]
        assert "max_t" in server_indexes(backend.db, WAL)
    finally:
        backend.close()
    shorter = MongoBackend(MongoConnection(mongo.uri), 3600.0, NAME, OWNER)  # METRICS_TTL changed between starts
    shorter.open()
    try:
        assert server_indexes(shorter.db, CHUNKS)["max_at_ttl"]["expireAfterSeconds"] == 3600
    finally:
        shorter.close()
    alerts = mongo.alert_db()
    alerts.open()
    try:
        names = set(server_indexes(alerts.db, ALERT_INSTANCES))
        assert {s.name for s in alert_indexes(TTL_S) if s.collection == ALERT_INSTANCES} <= names
        assert server_indexes(alerts.db, ALERT_INSTANCES)["resolved_ttl"]["expireAfterSeconds"] == int(TTL_S)
    finally:
        alerts.close()


def test_a_crash_between_the_chunks_and_persisted_upto_replays_to_the_same_history(mongo: Storage):
    """What the standalone write order promises: chunks written, persisted_upto not yet moved."""
    store = Store(mongo.backend(), head_retention_ms=10 * MIN)
    store.open()
    ref = store.ref(make_labels("node_x_total", {"i": "0"}))
    for k in range(1000):
        store.append(ref, k * 5000, float(k))
    store.flush(999 * 5000)
    assert store.persisted_upto == 60 * MIN
    db = store.backend.db
    chunks = db[CHUNKS].count_documents({"ref": ref})
    db[META].update_one({"_id": "persisted_upto"}, {"$set": {"value": 30 * MIN}})  # the crash's state
    wal_docs = db[WAL].count_documents({})
    store.backend.close()
    again = Store(mongo.backend())
    again.open()
    try:
        assert again.persisted_upto == 30 * MIN and wal_docs >= 1
        ts, vals = again.samples(again.ref(make_labels("node_x_total", {"i": "0"})), -1, 999 * 5000)
        assert list(ts) == [k * 5000 for k in range(1000)] and list(vals) == [float(k) for k in range(1000)]
        again.flush(999 * 5000)  # writes the window's chunks again: in place (upserts on ref, minT)
        assert again.backend.db[CHUNKS].count_documents({"ref": ref}) == chunks == 2
        assert again.samples(ref, -1, 999 * 5000)[0].tolist() == [k * 5000 for k in range(1000)]
    finally:
        again.backend.close()


def test_a_second_writer_is_refused_and_a_displaced_one_stops_writing(mongo: Storage):
    first = Store(mongo.backend())
    first.open()
    other = MongoBackend(MongoConnection(mongo.uri), TTL_S, NAME, "other-host:/data")
    with pytest.raises(StoreError, match=r"is written by test-host:/data \(lease until .*\); each instance on one"
                                         r" host needs its own MONGODB_URI database"):
        other.open()
    ref = first.ref(make_labels("up", {}))
    first.append(ref, 1000, 1.0)
    first.flush(2000)
    db = first.backend.db  # the lease ran out and the other instance took it:
    db[META].update_one({"_id": "writer"}, {"$set": {"holder": "other-host:/data"}})
    first.append(ref, 3000, 1.0)
    with pytest.raises(StoreError, match="taken over by another writer"):
        first.flush(4000)
    assert db[WAL].count_documents({}) == 1  # nothing of the refused write
    first.backend.close()  # leaves the other's lease alone
    state = other.open()
    try:
        assert state.series == [(ref, make_labels("up", {}))]
    finally:
        other.close()
    check = MongoConnection(mongo.uri)
    try:
        assert check.acquire()[META].find_one({"_id": "writer"}) is None  # a clean stop gives the lease back
    finally:
        check.release()


async def test_a_server_on_mongodb_keeps_series_audit_and_health_there(mongo: Storage, tmp_path):
    running = await start_server(make_settings(tmp_path, mongodb_uri=mongo.uri))
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as c:
            assert (await c.get("/readyz")).status_code == 200
            r = await c.post("/api/alerts/silences", json={"matchers": ['room="b"'], "duration": "1h",
                                                            "comment": "maintenance"})
            assert r.status_code < 300, r.text
    finally:
        await running.stop()
    conn = MongoConnection(mongo.uri)
    db = conn.acquire()
    try:
        series = MetricsCollections.of(socket.gethostname()).series
        assert db[series].count_documents({}) > 0  # the host's metrics, flushed at stop
        assert db[AUDIT].count_documents({"method": "POST"}) == 1
        assert db["alerts.silences"].count_documents({}) == 1
    finally:
        conn.release()


# -- runs here: an unreachable server ---------------------------------------------------------------


def test_start_up_against_an_unreachable_mongodb_stops_with_one_line_and_exit_2(tmp_path):
    port = free_port()  # nothing listens there
    r = run_cli("serve", "--data-dir", str(tmp_path), "--port", "0",
                env={"MONGODB_URI": f"mongodb://admin:s3cret@127.0.0.1:{port}/metrics"}, timeout=60)
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert f"MongoDB at 127.0.0.1:{port} (MONGODB_URI) did not answer within 3 s" in line
    assert "s3cret" not in line and "Traceback" not in r.stderr


def test_the_uri_s_own_server_selection_timeout_is_the_one_waited_and_reported():
    port = free_port()
    conn = MongoConnection(f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=200")
    with pytest.raises(StoreError, match=rf"^MongoDB at 127\.0\.0\.1:{port} \(MONGODB_URI\) did not answer within "
                                         r"0\.2 s;"):
        conn.acquire()
    with pytest.raises(StoreError, match="closed"):
        conn.client  # noqa: B018 (nothing was connected)


def test_a_malformed_uri_option_is_one_line_naming_the_server():
    conn = MongoConnection(f"mongodb://127.0.0.1:{free_port()}/?replicaSet=")
    with pytest.raises(StoreError) as err:
        conn.acquire()
    assert str(err.value).startswith("MongoDB at 127.0.0.1:") and "\n" not in str(err.value)
