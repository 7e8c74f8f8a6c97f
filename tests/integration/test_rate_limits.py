"""Rate limits on our real server: per client, a separate ingestion limit, 429 with Retry-After and
RateLimit-* headers, probes never limited, and limits shared by two replicas through a real
redis-server (and kept, per replica, while Redis is down)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from engine.settings import RateLimit
from server.auth.tokens import create_token
from server.ratelimit import RedisBuckets
from server.runner import start_server
from tests.integration.conftest import make_settings

SLOW = "3/h burst 3"
"""Three requests, then nothing for twenty minutes: no test waits for a refill."""
PUSH = {"name": "limited_total", "type": "counter", "value": 1}


@contextlib.asynccontextmanager
async def running(tmp_path, name: str = "data", **env):
    server = await start_server(make_settings(tmp_path / name, **env), collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        await server.stop()


def assert_limited(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["ratelimit-limit"] == str(limit)
    assert r.headers["ratelimit-remaining"] == "0"
    assert int(r.headers["ratelimit-reset"]) > 0


async def test_a_client_past_its_burst_gets_429_and_ingestion_has_its_own_limit(tmp_path):
    async with running(tmp_path, rate_limit=SLOW, rate_limit_ingest="2/h burst 2") as client:
        answers = [await client.get("/api/alerts") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
        assert answers[0].headers["ratelimit-limit"] == "3"
        assert answers[0].headers["ratelimit-policy"].startswith("3;w=")
        assert_limited(await client.get("/api/alerts"), 3)
        assert_limited(await client.post("/api/alerts/rules/reload"), 3)  # every API route shares the bucket
        assert (await client.get("/livez")).status_code == 200  # an orchestrator's probes are never refused
        assert (await client.get("/readyz")).status_code in (200, 503)
        for remaining in ("1", "0"):
            r = await client.post("/api/metrics/custom", json=PUSH)
            assert r.status_code != 429 and r.headers["ratelimit-remaining"] == remaining, r.text
        assert_limited(await client.post("/api/metrics/custom", json=PUSH), 2)


async def test_off_means_no_limit_and_no_headers(tmp_path):
    async with running(tmp_path, rate_limit="off", rate_limit_ingest="off") as client:
        for _ in range(10):
            r = await client.get("/api/alerts")
            assert r.status_code == 200 and "ratelimit-limit" not in r.headers


async def test_two_replicas_share_the_limit_through_redis(tmp_path, redis_server):
    _, port = redis_server
    shared = {"redis_url": f"redis://127.0.0.1:{port}/0", "rate_limit": SLOW}
    async with running(tmp_path, "a", **shared) as a, running(tmp_path, "b", **shared) as b:
        assert (await a.get("/api/alerts")).status_code == 200
        assert (await b.get("/api/alerts")).headers["ratelimit-remaining"] == "1"
        assert (await a.get("/api/alerts")).status_code == 200
        assert_limited(await b.get("/api/alerts"), 3)
        assert_limited(await a.get("/api/alerts"), 3)


async def test_limits_hold_per_replica_while_redis_is_down(tmp_path, redis_server):
    proc, port = redis_server
    proc.kill()
    proc.wait()
    async with running(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0", rate_limit=SLOW) as client:
        assert [(await client.get("/api/alerts")).status_code for _ in range(3)] == [200, 200, 200]
        assert_limited(await client.get("/api/alerts"), 3)


def unread_by(port: int) -> int:
    """Bytes sent to the TCP server on ``port`` that it has not read yet (/proc/net/tcp's rx_queue)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.read().splitlines()[1:]]
    return sum(int(row[4].split(":")[1], 16) for row in rows if int(row[1].split(":")[1], 16) == port)


async def test_a_hung_redis_is_asked_once_a_retry_period_not_by_every_request(redis_server):
    import redis
    proc, port = redis_server
    url = f"redis://127.0.0.1:{port}/0"
    now = [0.0]
    buckets = RedisBuckets(url, clock=lambda: now[0])
    rate = RateLimit(3 / 3600, 3)
    try:
        assert (await buckets.take("ip:a", rate)).allowed
        os.kill(proc.pid, signal.SIGSTOP)  # hung, not refusing: its socket takes commands unanswered
        try:
            assert (await buckets.take("ip:a", rate)).allowed  # after the timeout, this replica's bucket
            asked = unread_by(port)
            assert asked > 0
            decisions = [await buckets.take("ip:a", rate) for _ in range(3)]
            assert unread_by(port) == asked, "a request waited on the hung Redis again"
            assert [d.allowed for d in decisions] == [True, True, False]  # the limit holds in memory
            now[0] += RedisBuckets.RETRY_S
            await buckets.take("ip:b", rate)
            assert unread_by(port) > asked  # one request a retry period asks Redis again
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        now[0] += RedisBuckets.RETRY_S
        assert (await buckets.take("ip:c", rate)).allowed
        assert redis.Redis(port=port).exists(RedisBuckets.PREFIX + "ip:c")  # shared through Redis again
    finally:
        await buckets.close()


@pytest.mark.parametrize("limit", ["100/x", "fast"])
async def test_a_wrong_rate_stops_start_up_naming_the_setting(tmp_path, limit):
    from engine.settings import SettingsError
    with pytest.raises(SettingsError, match="RATE_LIMIT_INGEST"):
        make_settings(tmp_path, rate_limit_ingest=limit)


SECRET = "s" * 40


def bearer(subject: str, role: str = "viewer") -> dict[str, str]:
    settings = make_settings(Path("/tmp/unused"), jwt_secret=SECRET)
    return {"Authorization": f"Bearer {create_token(settings, subject, role, 3600, time.time())}"}


async def test_each_token_has_its_own_bucket_from_one_address(tmp_path):
    async with running(tmp_path, auth_enabled="true", jwt_secret=SECRET, rate_limit=SLOW) as client:
        alice, bob = bearer("alice"), bearer("bob")
        assert [(await client.get("/api/alerts", headers=alice)).status_code for _ in range(3)] == [200] * 3
        assert_limited(await client.get("/api/alerts", headers=alice), 3)
        assert_limited(await client.get("/api/alerts", headers=bearer("alice")), 3)  # a new token, same subject
        r = await client.get("/api/alerts", headers=bob)  # same IP, another caller
        assert r.status_code == 200 and r.headers["ratelimit-remaining"] == "2"


async def test_repeated_failed_authentications_from_one_address_are_refused(tmp_path):
    async with running(tmp_path, auth_enabled="true", jwt_secret=SECRET, auth_failure_limit="3/h burst 3") as client:
        wrong = {"Authorization": "Bearer " + create_token(make_settings(tmp_path, jwt_secret="w" * 40), "eve",
                                                           "admin", 3600, time.time())}
        assert [(await client.get("/api/alerts", headers=wrong)).status_code for _ in range(3)] == [401] * 3
        r = await client.get("/api/alerts", headers=wrong)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 60
        r = await client.get("/api/alerts", headers=bearer("alice"))  # even a good token, from that address
        assert r.status_code == 429
        assert (await client.get("/livez")).status_code == 200  # an orchestrator's probes still pass
