"""postgres: connect and SELECT 1 (asyncpg: no thread needed)."""

from __future__ import annotations

from engine.health.checkers.base import CheckFailed, Context, Result, pinned_url
from engine.health.model import CheckSpec


async def check(spec: CheckSpec, ctx: Context) -> Result:
    import asyncpg  # loaded by the first postgres check, not by every server

    url = spec.params["url"]
    verify_name = ("postgres", "postgresql") if "sslmode=verify" in url else ()  # verify-full checks the name
    url = await pinned_url(url, ctx.policy, 5432, verify_name)
    conn = await asyncpg.connect(url, timeout=spec.timeout, command_timeout=spec.timeout)
    try:
        if await conn.fetchval("SELECT 1") != 1:
            raise CheckFailed("SELECT 1 did not answer 1")
        version = conn.get_server_version()
    finally:
        await conn.close(timeout=spec.timeout)
    return Result(ok=True, duration=0.0, details={"serverVersion": f"{version.major}.{version.minor}"})
