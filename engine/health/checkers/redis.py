"""redis: PING, then INFO's basics (version, uptime, clients, memory) as details."""

from __future__ import annotations

from engine.health.checkers.base import CheckFailed, Context, Result, pinned_url
from engine.health.model import CheckSpec

INFO_FIELDS = ("redis_version", "uptime_in_seconds", "connected_clients", "used_memory", "role")


async def check(spec: CheckSpec, ctx: Context) -> Result:
    import redis.asyncio as aioredis  # the client costs ~6 MB: loaded by the first redis check

    url = await pinned_url(spec.params["url"], ctx.policy, 6379, ("rediss",))
    client = aioredis.from_url(url, socket_timeout=spec.timeout, socket_connect_timeout=spec.timeout,
                               retry_on_timeout=False, single_connection_client=True)
    try:
        if not await client.ping():
            raise CheckFailed("PING did not answer PONG")
        info = await client.info("server") | await client.info("clients") | await client.info("memory")
        info |= await client.info("replication")
    finally:
        await client.aclose()
    return Result(ok=True, duration=0.0, details={k: info[k] for k in INFO_FIELDS if k in info})
