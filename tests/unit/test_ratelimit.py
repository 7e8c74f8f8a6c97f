"""The token buckets (GCRA) on an injected clock, and the memory bound of the in-process store."""

from __future__ import annotations

import pytest

from engine.settings import RateLimit, SettingsError, load_settings
from server.ratelimit import MemoryBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**env: str):
    return load_settings(env={"DATA_DIR": "/tmp/x", **env}, dotenv_path=None)


def test_rate_limit_settings_are_parsed_with_their_burst():
    s = settings(RATE_LIMIT="600/m burst 50", RATE_LIMIT_INGEST="5/s", AUTH_FAILURE_LIMIT="off")
    assert (s.rate_limit.per_second, s.rate_limit.burst) == (10.0, 50)
    assert (s.rate_limit_ingest.per_second, s.rate_limit_ingest.burst) == (5.0, 5)
    assert s.auth_failure_limit is None
    assert s.redacted()["rate_limit"] == "600/m burst 50"
    for bad in ("100", "100/d", "0/s", "10/s burst 0", "-1/s"):
        with pytest.raises(SettingsError, match="RATE_LIMIT"):
            settings(RATE_LIMIT=bad)


async def test_a_burst_then_one_request_per_interval():
    clock = Clock()
    buckets = MemoryBuckets(clock=clock)
    rate = RateLimit(per_second=2.0, burst=3)
    decisions = [await buckets.take("k", rate) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after_s == pytest.approx(0.5)
    assert decisions[2].reset_s == pytest.approx(1.5)  # three requests' worth to refill at 2/s
    assert (await buckets.take("other", rate)).allowed  # another caller has its own bucket
    clock.now += 0.5
    assert (await buckets.take("k", rate)).allowed
    assert not (await buckets.take("k", rate)).allowed
    clock.now += 10
    assert (await buckets.take("k", rate)).remaining == 2  # full again, never more than the burst


async def test_callers_rotating_addresses_cannot_grow_the_store():
    clock = Clock()
    buckets = MemoryBuckets(max_keys=1000, clock=clock)
    rate = RateLimit(per_second=1.0, burst=5)
    for i in range(50_000):
        await buckets.take(f"ip:10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", rate)
        clock.now += 0.0001
    assert len(buckets) <= 1000
    for _ in range(5):  # the most recent callers keep their buckets
        await buckets.take("ip:10.0.195.79", rate)
    assert not (await buckets.take("ip:10.0.195.79", rate)).allowed


class Peer:
    """The part of an asyncio transport ``request.remote`` reads."""

    def __init__(self, address: str) -> None:
        self.address = address

    def get_extra_info(self, name: str, default=None):
        return (self.address, 40000) if name == "peername" else default


@pytest.mark.parametrize("peer, key", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"),  # the same host rotating its addresses
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:198.51.100.4", "198.51.100.4"),
])
def test_a_client_is_its_ipv4_address_or_its_ipv6_64(peer, key):
    from aiohttp.test_utils import make_mocked_request

    from server.ratelimit import client_address
    assert client_address(make_mocked_request("GET", "/api/alerts", transport=Peer(peer))) == key
