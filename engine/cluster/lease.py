"""The leader lease: one key in Redis, taken with SET NX PX, renewed and released only by its holder.

Each acquisition increments a fencing token. The holder believes it leads only until a local
deadline (two thirds of the lease after it sent the last successful renew, measured on its own
monotonic clock), so a replica that cannot renew -- Redis unreachable, or the process paused --
stops before the key can expire in Redis and another replica take it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

PREFIX = "metrics-service:cluster:"
LEADER_KEY = PREFIX + "leader"
FENCE_KEY = PREFIX + "leader:fence"

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[3] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
RENEW_DEADLINE = 2 / 3
"""Share of the lease the holder trusts after a renew was sent (Kubernetes: 10 s of 15 s)."""
RETRY_PERIOD = 2 / 15
"""Share of the lease between renewals and acquisition attempts (Kubernetes: 2 s of 15 s)."""


class LeaderLease:
    """This replica's view of the lease. ``held()`` is the only question callers ask before work
    that only the leader may do; it answers from the local clock, never from Redis. ``client`` is a
    redis.asyncio client."""

    def __init__(self, client: Any, holder: str, lease_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.holder = holder
        self.lease_ms = int(lease_s * 1000)
        self.trust_s = lease_s * RENEW_DEADLINE
        self.retry_s = lease_s * RETRY_PERIOD
        self.monotonic = monotonic
        self.token: int | None = None
        """The fencing token of our current term; None when we do not hold the lease."""
        self._valid_until = 0.0
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._client = client

    def held(self) -> bool:
        return self.token is not None and self.monotonic() < self._valid_until

    async def step(self) -> float:
        """Renew (or try to take) the lease once; seconds until the next step. Redis errors propagate:
        the local deadline still ends our term in time."""
        sent = self.monotonic()
        if self.token is not None:
            if sent >= self._valid_until:
                self.token = None  # we could not renew in time: our term is over, whatever Redis says
            elif await self._renew(keys=[LEADER_KEY, FENCE_KEY], args=[self.holder, self.lease_ms, self.token]):
                self._valid_until = sent + self.trust_s
                return self.retry_s
            else:
                self.token = None
        token = int(await self._acquire(keys=[LEADER_KEY, FENCE_KEY], args=[self.holder, self.lease_ms]))
        if token:
            self.token = token
            self._valid_until = sent + self.trust_s
            return self.retry_s
        remaining_ms = int(await self._client.pttl(LEADER_KEY))
        return self.retry_s if remaining_ms < 0 else min(self.retry_s, remaining_ms / 1000 + 0.01)

    async def release(self) -> None:
        """Give the lease up at shutdown so another replica takes over at once."""
        token, self.token = self.token, None
        if token is not None:
            await self._release(keys=[LEADER_KEY, FENCE_KEY], args=[self.holder, token])

    async def leader(self) -> str | None:
        value = await self._client.get(LEADER_KEY)
        return None if value is None else value.decode()
