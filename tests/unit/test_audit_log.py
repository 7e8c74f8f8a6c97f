"""The audit store: filters, newest first, ALERTS_TTL purge, and text that is not valid UTF-8; on
every backend (``storage``: SQLite, and MongoDB when MONGODB_URI is set)."""

from __future__ import annotations

from engine.audit import AuditEntry


def entry(ts: float, actor: str = "alice", status: int = 200, target: str | None = "r1") -> AuditEntry:
    return AuditEntry(ts=ts, actor=actor, role="admin", kind="token", method="DELETE", route="/api/alerts/rules/{id}",
                      path=f"/api/alerts/rules/{target}", target=target, status=status, remote="10.0.0.7",
                      request_id="0123456789abcdef")


def test_entries_filter_and_come_newest_first(storage):
    log = storage.audit_log()
    log.open()
    try:
        log.record(entry(100, "alice"))
        log.record(entry(200, "bob", 403))
        log.record(entry(300, "alice", 500))
        assert [e["actor"] for e in log.entries({}, None, 10)] == ["alice", "bob", "alice"]
        assert [e["result"] for e in log.entries({"actor": "alice"}, None, 10)] == ["failed", "ok"]
        assert [e["actor"] for e in log.entries({"result": "denied"}, None, 10)] == ["bob"]
        assert [e["status"] for e in log.entries({}, 150, 10)] == [500, 403]
        assert len(log.entries({}, None, 1)) == 1
        log.purge(before=250)
        assert [e["status"] for e in log.entries({}, None, 10)] == [500]
    finally:
        log.close()


def test_entries_survive_a_restart(storage):
    log = storage.audit_log()
    log.open()
    shown = log.record(entry(100))
    log.close()
    again = storage.audit_log()
    again.open()
    try:
        assert again.entries({}, None, 10) == [shown]
        assert shown["time"] == "1970-01-01T00:01:40.000Z"
    finally:
        again.close()
