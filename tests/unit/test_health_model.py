"""Health-check definitions, the state machine and the network policy, without I/O."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from engine.health.checkers.base import Result
from engine.health.model import CheckError, keep_secrets, parse_check, parse_check_list
from engine.health.state import CheckState, effective
from engine.netpolicy import BlockedTarget, NetPolicy
from engine.settings import SettingsError, load_settings


def test_the_seeds_add_service_example_is_accepted_with_milliseconds_and_the_type_from_the_url():
    spec = parse_check({"name": "custom-service", "url": "http://custom-service:8080/health", "interval": 30000,
                        "timeout": 5000, "retries": 3})
    assert (spec.type, spec.interval, spec.timeout, spec.retries) == ("http", 30.0, 5.0, 3)
    issue = parse_check({"name": "booking", "type": "http", "url": "http://booking:8080/health", "interval": "30s",
                         "timeout": "5s", "retries": 3})
    assert (issue.interval, issue.timeout) == (30.0, 5.0)
    assert issue.record()["expectedStatus"] == ["2xx"]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "a", "type": "ftp", "url": "ftp://x"}, "type"),
    ({"name": "a", "type": "http", "url": "http://x", "interval": "-5s"}, "interval"),
    ({"name": "a", "type": "http", "url": "http://x", "interval": -5000}, "interval"),
    ({"name": "a", "type": "http", "url": "not a url"}, "url"),
    ({"name": "a", "type": "http", "url": "http://"}, "url"),
    ({"name": "a", "type": "http", "url": "http://x:99999/"}, "url"),
    ({"name": "a b", "type": "http", "url": "http://x"}, "name"),
    ({"name": "a", "type": "tcp", "host": "x", "port": 0}, "port"),
    ({"name": "a", "type": "tcp", "host": "x", "port": 1, "url": "http://x"}, "url"),
    ({"name": "a", "type": "http", "url": "http://x", "retries": 0}, "retries"),
    ({"name": "a", "type": "http", "url": "http://x", "labels": {"service": "b"}}, "labels"),
    ({"name": "a", "type": "http", "url": "http://x", "headers": {"X": "a\r\nb"}}, "headers"),
    ({"name": "a", "type": "http", "url": "http://x", "expectedStatus": "7xx"}, "expectedStatus"),
    ({"name": "a", "type": "http", "url": "http://x", "jsonPath": "$.ok"}, "jsonValue"),
    ({"name": "a", "type": "http", "url": "http://x", "dependsOn": ["a"]}, "dependsOn"),
    ({"name": "a", "type": "dns", "host": "x", "expectedAddress": "nope"}, "expectedAddress"),
    ({"name": "a", "type": "redis", "url": "http://x"}, "url"),
    ({"name": "a", "type": "command", "command": "true"}, "type"),
])
def test_bad_definitions_name_the_field(body, field):
    with pytest.raises(CheckError) as err:
        parse_check(body, "api")
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


def test_command_checks_only_from_the_config_when_enabled():
    body = {"name": "disk", "type": "command", "command": "test -d /"}
    with pytest.raises(CheckError):
        parse_check(body, "config")
    assert parse_check(body, "config", commands_allowed=True).params["command"] == ("test", "-d", "/")
    with pytest.raises(CheckError):
        parse_check(body, "api", commands_allowed=True)


def test_secrets_are_hidden_in_public_and_kept_when_sent_back():
    spec = parse_check({"name": "db", "type": "postgres", "url": "postgresql://app:s3cret@db:5432/app"})
    assert spec.public()["url"] == "postgresql://app:***@db:5432/app"
    web = parse_check({"name": "w", "url": "https://w/h", "headers": {"Authorization": "Bearer t0ken"}})
    assert web.public()["headers"] == {"Authorization": "***"}
    back = keep_secrets(web.public(), web)
    assert back["headers"] == {"Authorization": "Bearer t0ken"}
    assert keep_secrets(spec.public(), spec)["url"] == "postgresql://app:s3cret@db:5432/app"


def test_a_list_names_the_item_and_refuses_duplicates():
    with pytest.raises(CheckError) as err:
        parse_check_list([{"name": "a", "url": "http://a"}, {"name": "b", "type": "tcp", "host": "b"}], "config",
                         commands_allowed=False)
    assert err.value.field == "[1] (b).port"
    with pytest.raises(CheckError, match="defined twice"):
        parse_check_list([{"name": "a", "url": "http://a"}, {"name": "a", "url": "http://b"}], "config",
                         commands_allowed=False)


def test_settings_take_health_checks_from_yaml_and_name_the_setting(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("health_checks:\n  - {name: web, url: 'http://127.0.0.1:1/', interval: 10s}\n")
    settings = load_settings(env={"DATA_DIR": str(tmp_path)}, config_file=str(config), dotenv_path=None)
    assert [c.name for c in settings.health_checks] == ["web"]
    assert settings.health_checks[0].source == "config"
    config.write_text("health_checks:\n  - {name: web, url: 'http://127.0.0.1:1/', interval: nope}\n")
    with pytest.raises(SettingsError, match=r"^HEALTH_CHECKS: \[0\] \(web\)\.interval: "):
        load_settings(env={"DATA_DIR": str(tmp_path)}, config_file=str(config), dotenv_path=None)
    with pytest.raises(SettingsError, match="HEALTH_CHECK_ALLOW"):
        load_settings(env={"DATA_DIR": str(tmp_path), "HEALTH_CHECK_ALLOW": "10.0.0.0/8,not a host"},
                      dotenv_path=None)
    with pytest.raises(SettingsError, match="HEALTH_COMMANDS_ENABLED"):
        load_settings(env={"DATA_DIR": str(tmp_path), "HEALTH_CHECKS": "[{name: c, type: command, command: 'true'}]"},
                      dotenv_path=None)


def _result(ok: bool, slow: bool = False) -> Result:
    return Result(ok=ok, duration=0.01, error=None if ok else "refused", slow=slow)


def test_state_changes_need_retries_consecutive_results():
    st = CheckState()
    assert st.observe(_result(True), 1, retries=3) and st.own == "up"  # the first success counts at once
    assert not st.observe(_result(False), 2, retries=3)
    assert not st.observe(_result(False), 3, retries=3)
    assert st.own == "up" and st.consecutive_failures == 2
    assert st.observe(_result(False), 4, retries=3) and st.own == "down" and st.since == 4
    assert not st.observe(_result(True), 5, retries=3)
    assert not st.observe(_result(False), 6, retries=3)  # a failure in between starts the count over
    st.observe(_result(True), 7, retries=3)
    st.observe(_result(True), 8, retries=3)
    assert st.own == "down"
    assert st.observe(_result(True), 9, retries=3) and st.own == "up"
    assert st.observe(_result(True, slow=True), 10, retries=1) and st.own == "degraded"


def test_from_unknown_a_failure_still_needs_its_retries():
    st = CheckState()
    assert not st.observe(_result(False), 1, retries=2)
    assert st.own == "unknown"
    assert st.observe(_result(False), 2, retries=2) and st.own == "down"


def test_a_dependency_down_makes_a_healthy_check_degraded_with_the_reason():
    assert effective("up", ["db"]) == ("degraded", "dependency db is down")
    assert effective("down", ["db"]) == ("down", None)
    assert effective("up", []) == ("up", None)


def test_the_default_policy_refuses_metadata_and_link_local_but_not_loopback():
    policy = NetPolicy.from_entries(())
    for host in ("169.254.169.254", "fe80::1", "metadata.google.internal", "0.0.0.0", "::ffff:169.254.169.254"):
        with pytest.raises(BlockedTarget):
            policy.check_name(host)
    for host in ("127.0.0.1", "::1", "localhost", "10.1.2.3", "example.com"):
        policy.check_name(host)


def test_allow_entries_restrict_and_deny_entries_win():
    policy = NetPolicy.from_entries(["127.0.0.0/8", "169.254.169.254", "!127.0.0.2"])
    policy.check_address(ipaddress.ip_address("127.0.0.1"))
    policy.check_address(ipaddress.ip_address("169.254.169.254"))  # listed: explicitly allowed
    for addr in ("127.0.0.2", "10.0.0.1"):
        with pytest.raises(BlockedTarget):
            policy.check_address(ipaddress.ip_address(addr))


async def test_a_name_is_judged_by_the_addresses_it_resolves_to():
    with pytest.raises(BlockedTarget):
        await NetPolicy.from_entries(["10.0.0.0/8"]).resolve("localhost", 80)
    assert "127.0.0.1" in await NetPolicy.from_entries(()).resolve("localhost", 80)


def test_a_number_too_small_for_milliseconds_says_so():
    with pytest.raises(CheckError, match=r"got 30 \(a number is milliseconds\)"):
        parse_check({"name": "a", "url": "http://a", "interval": 30})


async def test_the_scheduler_caps_checks_in_flight_and_skips_a_run_still_going():
    from engine.health.scheduler import Scheduler

    release = asyncio.Event()
    in_flight, most, runs = 0, 0, []

    async def run(name: str) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        runs.append(name)
        try:
            await release.wait()
        finally:
            in_flight -= 1

    scheduler = Scheduler(run, concurrency=2)
    for i in range(5):
        scheduler.set(f"c{i}", 1.0)
    scheduler.start()
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while scheduler.skipped < 5:  # every check came due again while its first run still waited
            assert asyncio.get_running_loop().time() < deadline, (runs, scheduler.skipped)
            await asyncio.sleep(0.05)
        assert most == 2 and len(runs) == 2  # the other three wait for a slot
        release.set()
        while len(runs) < 5:
            assert asyncio.get_running_loop().time() < deadline, runs
            await asyncio.sleep(0.05)
        assert most == 2
        assert len(scheduler.lateness) >= 5
    finally:
        await scheduler.stop()


def test_history_is_purged_after_the_ttl(storage):
    """On every backend (SQLite, and MongoDB when MONGODB_URI is set)."""
    from engine.health.db import HistoryEvent

    db = storage.health_db()
    db.open()
    try:
        db.write([HistoryEvent("a", 100.0, "failure", error="refused"), HistoryEvent("a", 200.0, "state", "down", "up"),
                  HistoryEvent("b", 300.0, "failure", error="timed out")])
        assert db.purge(before=250.0) == 2
        assert [(e.service, e.ts) for e in db.history("b")] == [("b", 300.0)]
        assert db.history("a") == []
    finally:
        db.close()


async def test_plain_text_driver_urls_are_pinned_to_the_judged_address():
    from engine.health.checkers.base import pinned_url

    policy = NetPolicy.from_entries(())
    pinned = await pinned_url("redis://:pw@localhost:6390/0", policy, 6379, ("rediss",))
    assert pinned in ("redis://:pw@127.0.0.1:6390/0", "redis://:pw@[::1]:6390/0")
    assert await pinned_url("rediss://:pw@localhost/0", policy, 6379, ("rediss",)) == "rediss://:pw@localhost/0"
    assert await pinned_url("redis://localhost/0", None, 6379, ()) == "redis://localhost/0"  # config: trusted
    with pytest.raises(BlockedTarget):
        await pinned_url("redis://localhost/0", NetPolicy.from_entries(["10.0.0.0/8"]), 6379, ())
