"""Nothing stored is lost without a word: one owner per data dir, the rule file as the source of truth,
damaged databases refused (or moved aside with --repair), a full disk reported and survived.

Every test drives `metrics-service serve` as a real process on a real data dir.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import httpx
import pytest

from engine.alerts.db import AlertDB
from engine.datadir import StorageFullError
from engine.engine import Engine
from engine.tsdb.types import Family
from tests.integration.conftest import make_settings
from tests.integration.test_cli_process import (
    Server,
    _evaluated_after,
    free_port,
    run_cli,
    stored_load1,
    wait_for_flush_after,
)

RULE = {"name": "ProcessUp", "expr": "process_resident_memory_bytes > 0", "labels": {"severity": "info"},
        "notificationChannels": [{"type": "slack", "destination": "#ops"}]}


def post(server: Server, path: str, body: dict) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={"X-User": "carol"}, timeout=10)


def log_entries(server: Server) -> list[dict]:
    return [json.loads(line) for line in "".join(server.log).splitlines() if line.startswith("{")]


def test_a_second_server_on_the_same_data_dir_exits_2_naming_the_holder(tmp_path):
    port = free_port()
    first = Server(tmp_path, port)
    try:
        created = post(first, "/api/alerts/rules", RULE)
        assert created.status_code == 201
        r = run_cli("serve", "--data-dir", str(tmp_path), "--port", str(free_port()))
        assert r.returncode == 2
        (line,) = r.stderr.strip().splitlines()
        assert f"is in use by pid {first.proc.pid} serving {first.url}" in line and str(tmp_path) in line
        assert post(first, "/api/alerts/rules", {**RULE, "name": "Second"}).status_code == 201
    finally:
        assert first.stop(signal.SIGTERM) == 0
    again = Server(tmp_path, port)  # the lock went with the first server
    try:
        names = {r["name"] for r in again.get("/api/alerts/rules").json()["rules"]}
        assert {"ProcessUp", "Second"} <= names
    finally:
        again.proc.kill()  # a lock left by a killed process does not block the next start
        again.proc.communicate(timeout=10)
    last = Server(tmp_path, port)
    assert last.get("/livez").status_code == 200  # answered: the signal handlers are in place
    assert last.stop(signal.SIGTERM) == 0


def test_deleting_the_side_file_keeps_every_rule_and_resolves_no_alert(tmp_path):
    env = {"EVALUATION_INTERVAL": "0.2"}
    port = free_port()
    srv = Server(tmp_path, port, **env)
    try:
        ids = [post(srv, "/api/alerts/rules", {**RULE, "name": f"ProcessUp{i}"}).json()["rule"]["id"]
               for i in range(3)]
        _evaluated_after(srv, time.time() + 0.3, "ProcessUp2")
        alerts = [a for a in srv.get("/api/alerts").json()["alerts"] if a["ruleId"] in ids]
        assert sorted(a["state"] for a in alerts) == ["firing"] * 3
        for a in alerts:
            assert post(srv, f"/api/alerts/{a['id']}/acknowledge", {"comment": "known"}).status_code == 200
    finally:
        assert srv.stop(signal.SIGTERM) == 0
    rule_file = tmp_path / "rules" / "managed.rules.yaml"
    before = rule_file.read_bytes()
    (tmp_path / "rules" / "managed.json").unlink()

    again = Server(tmp_path, port, **env)
    try:
        _evaluated_after(again, time.time() + 0.3, "ProcessUp2")
        rules = {r["id"]: r for r in again.get("/api/alerts/rules").json()["rules"]}
        assert all(rules[i]["editable"] for i in ids)
        after = {a["id"]: a for a in again.get("/api/alerts").json()["alerts"] if a["ruleId"] in ids}
        assert after.keys() == {a["id"] for a in alerts}
        assert all(a["state"] == "firing" and a["acknowledgement"]["by"] == "carol" for a in after.values())
        resolved = again.get("/api/alerts", params={"state": "resolved"}).json()["alerts"]
        assert [a for a in resolved if a["ruleId"] in ids] == []
        assert rule_file.read_bytes() == before  # not rewritten from a partial view
    finally:
        assert again.stop(signal.SIGTERM) == 0


def damage_in_the_middle(path) -> None:
    """Overwrite whole pages in the middle of a real SQLite file with garbage."""
    size = path.stat().st_size
    page = 4096
    with open(path, "r+b") as f:
        f.seek((size // page // 2) * page)
        f.write(b"\xde\xad\xbe\xef" * (2 * page // 4))


def alert_db_with_rows(data_dir) -> None:
    """A real alerts.db, several pages long."""
    db = AlertDB(data_dir)
    db.open()
    db.conn.executemany("INSERT INTO events (instance_id, ts, kind, by, detail) VALUES (?, ?, ?, ?, ?)",
                        [(f"id-{i}", float(i), "firing", "system", "detail " * 20) for i in range(5000)])
    db.close()


@pytest.mark.parametrize("damage", ["empty", "garbage"])
def test_a_damaged_alert_database_stops_start_up_and_repair_moves_it_aside(tmp_path, damage):
    db = tmp_path / "alerts.db"
    if damage == "empty":
        db.write_bytes(b"")
    else:
        alert_db_with_rows(tmp_path)
        damage_in_the_middle(db)
    r = run_cli("serve", "--data-dir", str(tmp_path), "--port", str(free_port()))
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert str(db) in line and "--repair" in line and "Traceback" not in r.stderr
    damaged = db.read_bytes()

    srv = Server(tmp_path, free_port(), extra_args=["--repair"])
    try:
        (aside,) = tmp_path.glob("alerts.db.damaged-*")
        assert aside.read_bytes() == damaged
        assert srv.get("/readyz").status_code == 200
        moved = [e for e in log_entries(srv) if e["message"].startswith("damaged file moved aside")]
        assert [e["file"] for e in moved] == [str(db)]
    finally:
        assert srv.stop(signal.SIGTERM) == 0


def test_an_empty_metrics_database_stops_start_up(tmp_path):
    (tmp_path / "metrics.db").write_bytes(b"")
    r = run_cli("serve", "--data-dir", str(tmp_path), "--port", str(free_port()))
    assert r.returncode == 2 and "metrics.db" in r.stderr and "empty" in r.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MiB filesystem (tmpfs) the test can fill; skipped where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def fill(directory) -> None:
    with open(directory / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def wait_ready(server: Server, status: int) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = server.get("/readyz")
        if r.status_code == status:
            return r.json()
    raise AssertionError(f"/readyz did not answer {status}")


def test_a_full_disk_fails_readiness_refuses_writes_and_keeps_samples_until_space_returns(small_disk):
    data = small_disk / "data"
    srv = Server(data, free_port())
    try:
        wait_for_flush_after(srv, time.time() + 0.3)
        fill(small_disk)
        full_since = time.time()
        body = wait_ready(srv, 503)
        check = body["checks"]["store:writable"][0]
        assert check["status"] == "fail" and check["output"].startswith("disk full")
        r = post(srv, "/api/alerts/rules", RULE)
        assert r.status_code == 507 and r.json()["error"]["code"] == "insufficient_storage"
        assert RULE["name"] not in {x["name"] for x in srv.get("/api/alerts/rules").json()["rules"]}
        deadline = time.monotonic() + 20
        while time.time() < full_since + 2.0 and time.monotonic() < deadline:  # several failed flushes
            wait_ready(srv, 503)
        freed_at = time.time()
        (small_disk / "filler").unlink()
        assert wait_ready(srv, 200)["checks"]["store:writable"][0]["status"] == "pass"
        assert post(srv, "/api/alerts/rules", RULE).status_code == 201
    finally:
        srv.proc.kill()  # only what was written survives
        srv.log.append(srv.proc.communicate(timeout=10)[1])
    ts = stored_load1(data)
    during = [t for t in ts if full_since * 1000 <= t <= freed_at * 1000]
    assert len(during) >= 5  # collected while the disk was full, written once space came back
    assert all(b - a < 1000 for a, b in zip(ts, ts[1:], strict=False))
    messages = [e["message"] for e in log_entries(srv)]
    assert sum(m.startswith("disk full") for m in messages) == 1
    assert messages.count("disk writable again, pending samples written") == 1


async def test_stopping_on_a_full_disk_still_releases_the_data_dir(small_disk):
    """The last flush fails: the error is raised, and the files and the lock are released anyway."""
    settings = make_settings(small_disk)
    engine = Engine(settings, collect_system=False)
    engine.open()
    family = Family("pending_total", "counter", "Samples the full disk keeps from being written.")
    family.add(1.0, {"job": "x"})
    engine.ingest_families("push", [family])
    fill(small_disk)
    with pytest.raises(StorageFullError):
        await engine.stop()
    (small_disk / "filler").unlink()
    again = Engine(settings, collect_system=False)
    again.open()  # the lock was released
    again.close()
