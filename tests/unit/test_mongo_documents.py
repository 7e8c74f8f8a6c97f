"""The parts of the MongoDB store that need no server: documents to and from batches, the index
specifications and their TTLs from the settings, transaction detection, messages, and that a server
without MONGODB_URI never loads pymongo. What talks to a server is in
tests/integration/test_mongo_store.py (skipped without MONGODB_URI)."""

from __future__ import annotations

import subprocess
import sys
from array import array
from datetime import UTC, datetime

import pytest
from pymongo import IndexModel

from engine.alerts.model import AlertInstance
from engine.audit import AuditEntry, AuditLog, entry_json
from engine.health.db import HistoryEvent
from engine.mongo import (
    ALERT_EVENTS,
    ALERT_INSTANCES,
    AUDIT,
    HEALTH_EVENTS,
    SILENCES,
    alert_indexes,
    audit_document,
    audit_indexes,
    audit_row,
    health_document,
    health_event,
    health_indexes,
    instance_document,
)
from engine.settings import load_settings
from engine.tsdb import mongo
from engine.tsdb.backend import EncodedChunk, StoreError, WalBatch
from engine.tsdb.chunks import decode_chunk, encode_chunk
from engine.tsdb.mongo import (
    MetricsCollections,
    MongoUnavailable,
    chunk_document,
    metrics_indexes,
    series_document,
    series_from_document,
    server_address,
    supports_transactions,
    translated,
    ttl_seconds,
    wal_documents,
)
from engine.tsdb.sqlite import decode_wal
from engine.tsdb.types import make_labels


def batch(n: int) -> WalBatch:
    return WalBatch(array("q", [i % 7 + 1 for i in range(n)]), array("q", [1000 + i for i in range(n)]),
                    array("d", [i * 0.5 for i in range(n)]))


def test_a_wal_batch_becomes_numbered_documents_under_the_size_limit_and_decodes_back(monkeypatch):
    monkeypatch.setattr(mongo, "WAL_DOC_SAMPLES", 4)
    docs = wal_documents(batch(10), first_seq=41)
    assert [d["_id"] for d in docs] == [41, 42, 43]
    assert [d["maxT"] for d in docs] == [1003, 1007, 1009]
    back = WalBatch()
    for d in docs:
        back.extend(decode_wal(d["data"]))
    whole = batch(10)
    assert (back.refs, back.ts, back.vals) == (whole.refs, whole.ts, whole.vals)
    assert wal_documents(WalBatch(), 1) == []


def test_a_chunk_document_carries_its_last_sample_as_the_ttl_date():
    ts, vals = array("q", [1_700_000_000_000, 1_700_000_015_500]), array("d", [1.0, 2.5])
    doc = chunk_document(EncodedChunk(7, ts[0], ts[-1], encode_chunk(ts, vals)))
    assert (doc["ref"], doc["minT"], doc["maxT"]) == (7, ts[0], ts[-1])
    assert doc["maxAt"] == datetime(2023, 11, 14, 22, 13, 35, 500000, tzinfo=UTC)
    assert decode_chunk(doc["data"]) == (ts, vals)


def test_series_labels_keep_their_order_and_type_through_a_document():
    labels = make_labels("http_requests_total", {"method": "GET", "code": "200"})
    doc = series_document(12, labels)
    assert doc == {"_id": 12, "labels": [list(p) for p in labels]}
    assert series_from_document(doc) == (12, labels)


def test_ttls_come_from_the_settings_in_whole_seconds_within_mongodb_s_limit():
    s = load_settings(env={"DATA_DIR": "/tmp/x", "METRICS_TTL": "1h", "ALERTS_TTL": "90d",
                           "HEALTH_CHECKS_TTL": "100y"}, dotenv_path=None)
    metrics = metrics_indexes(MetricsCollections.of("host"), s.metrics_ttl)
    assert [(i.name, i.ttl) for i in metrics if i.ttl] == [("max_at_ttl", 3600)]
    assert {(i.collection, i.ttl) for i in alert_indexes(s.alerts_ttl) if i.ttl} == \
        {(ALERT_INSTANCES, 7_776_000), (ALERT_EVENTS, 7_776_000), (SILENCES, 7_776_000)}
    assert [i.ttl for i in health_indexes(s.health_checks_ttl) if i.ttl] == [2**31 - 1]  # 100y > 68 years
    assert [i.ttl for i in audit_indexes(s.alerts_ttl) if i.ttl] == [7_776_000]
    assert ttl_seconds(0.4) == 1 and ttl_seconds(59.6) == 60


def test_index_specs_cover_each_query_and_build_valid_index_models():
    names = MetricsCollections.of("metrics-1")
    specs = [*metrics_indexes(names, 60.0), *alert_indexes(60.0), *health_indexes(60.0), *audit_indexes(60.0)]
    keys = {(s.collection, s.keys) for s in specs}
    assert ("metrics.metrics-1.chunks", (("ref", 1), ("minT", 1))) in keys  # read_chunks, upserts, orphans
    assert ("metrics.metrics-1.wal", (("maxT", 1),)) in keys  # the trim after persisted_upto moves
    assert (ALERT_EVENTS, (("instance_id", 1), ("_id", 1))) in keys  # a timeline in order
    assert (HEALTH_EVENTS, (("service", 1), ("ts", -1), ("_id", -1))) in keys  # a check's newest events
    assert {k[0][0] for c, k in keys if c == AUDIT} == {"at", "actor", "role", "method", "route", "target", "result"}
    assert len({(s.collection, s.name) for s in specs}) == len(specs)
    unique = IndexModel(list(specs[0].keys), **specs[0].options()).document
    assert unique["unique"] is True and "expireAfterSeconds" not in unique
    ttl = IndexModel(list(specs[1].keys), **specs[1].options()).document
    assert ttl["expireAfterSeconds"] == 60 and ttl["name"] == "max_at_ttl" and "unique" not in ttl

def test_each_host_has_its_own_metrics_collections_with_safe_names():
    one = MetricsCollections.of("metrics-1")
    assert (one.series, one.chunks, one.meta) == ("metrics.metrics-1.series", "metrics.metrics-1.chunks",
                                                  "metrics.metrics-1.meta")
    assert MetricsCollections.of("pod.ns.svc$x").wal == "metrics.pod_ns_svc_x.wal"
    assert MetricsCollections.of("").series == "metrics.default.series"
    assert len(MetricsCollections.of("h" * 300).metadata) == len("metrics..metadata") + 64
    assert MetricsCollections.of("metrics-1").all().isdisjoint(MetricsCollections.of("metrics-2").all())


@pytest.mark.parametrize("hello,expected", [({"setName": "rs0", "isWritablePrimary": True}, True),
                                            ({"msg": "isdbgrid"}, True),
                                            ({"isWritablePrimary": True, "maxWireVersion": 21}, False)])
def test_transactions_are_used_on_a_replica_set_or_mongos_only(hello, expected):
    assert supports_transactions(hello) is expected


def test_messages_name_the_servers_without_credentials():
    uri = "mongodb://admin:s3cret@db1:27017,db2:27017/app?replicaSet=rs0"
    assert server_address(uri) == "db1:27017,db2:27017"
    assert server_address("mongodb+srv://u:p@cluster0.example.net/") == "cluster0.example.net"


def test_alert_instances_carry_the_ttl_date_only_once_resolved():
    firing = AlertInstance(id="a", rule_id="r", fingerprint="f", name="HighCPU", labels={}, annotations={},
                           state="firing", value=1.0, active_at=100.0)
    assert "resolvedAt" not in instance_document(firing)
    firing.state, firing.resolved_at = "resolved", 1_700_000_000.25
    doc = instance_document(firing)
    assert doc["resolvedAt"] == datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)
    assert (doc["_id"], doc["state"], doc["resolved_at"]) == ("a", "resolved", 1_700_000_000.25)


def test_health_events_round_trip_with_their_ttl_date():
    e = HistoryEvent("db", 1_700_000_000.0, "state", "down", "up", "refused", 0.25)
    doc = health_document(e)
    assert doc["at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert health_event({**doc, "_id": "ignored"}) == e


def test_an_audit_document_shows_as_the_sqlite_log_shows_the_same_entry(tmp_path):
    e = AuditEntry(ts=1_700_000_000.5, actor="alice", role="admin", kind="token", method="DELETE",
                   route="/api/alerts/rules/{id}", path="/api/alerts/rules/r1", target=None, status=403,
                   remote="10.0.0.7", request_id="0123456789abcdef")
    log = AuditLog(tmp_path)
    log.open()
    try:
        shown = log.record(e)
    finally:
        log.close()
    doc = audit_document(shown["id"], e)
    assert entry_json(audit_row(doc)) == shown
    assert doc["_id"] == shown["id"] and doc["result"] == "denied" and doc["at"].tzinfo is UTC


def test_the_engine_does_not_load_pymongo_without_mongodb_uri():
    code = ("import sys, engine.engine, server.runner, console.cli, engine.mongo, engine.tsdb.mongo;"
            " print('pymongo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_driver_errors_after_start_up_become_one_line_unavailable_errors_without_credentials():
    from pymongo.errors import AutoReconnect

    @translated
    def lookup(x: int) -> int:
        if x < 0:
            raise AutoReconnect("mongodb://admin:s3cret@db1:27017/app: connection closed\n  (topology ...)")
        return x * 2

    assert lookup(2) == 4
    with pytest.raises(MongoUnavailable) as err:
        lookup(-1)
    assert str(err.value) == "MongoDB: mongodb://admin:***@db1:27017/app: connection closed"
    assert isinstance(err.value, StoreError)


def test_every_document_survives_bson_encoding_unchanged():
    """What the driver sends is what the readers above decode (bson is pymongo's own encoder)."""
    import bson
    from bson.codec_options import CodecOptions

    ts, vals = array("q", [1_700_000_000_000, 1_700_000_015_500]), array("d", [1.0, 2.5])
    e = AuditEntry(ts=1.5, actor="a", role="admin", kind="token", method="POST", route="/r", path="/r",
                   target=None, status=200, remote="127.0.0.1", request_id="x")
    resolved = AlertInstance(id="a", rule_id="r", fingerprint="f", name="N", labels={"k": "v"}, annotations={},
                             state="resolved", value=1.0, active_at=100.0, resolved_at=200.0)
    docs = [*wal_documents(batch(5), 1), chunk_document(EncodedChunk(7, ts[0], ts[-1], encode_chunk(ts, vals))),
            series_document(3, make_labels("up", {"job": "api"})), instance_document(resolved),
            health_document(HistoryEvent("db", 2.0, "failure", error="refused")), audit_document(9, e)]
    options = CodecOptions(tz_aware=True, tzinfo=UTC)
    for doc in docs:
        assert bson.decode(bson.encode(doc), codec_options=options) == doc
