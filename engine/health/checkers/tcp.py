"""tcp: connect, optionally send a line and wait for an expected text."""

from __future__ import annotations

import asyncio

from engine.health.checkers.base import MAX_BODY_BYTES, CheckFailed, Context, Result
from engine.health.model import CheckSpec


async def check(spec: CheckSpec, ctx: Context) -> Result:
    p = spec.params
    host = p["host"]
    if ctx.policy is not None:
        host = (await ctx.policy.resolve(host, p["port"]))[0]
    reader, writer = await asyncio.open_connection(host, p["port"], limit=MAX_BODY_BYTES)
    try:
        if "send" in p:
            writer.write(p["send"].encode())
            await writer.drain()
        if "expect" in p:
            await _expect(reader, p["expect"].encode())
    finally:
        writer.close()
    return Result(ok=True, duration=0.0)


async def _expect(reader: asyncio.StreamReader, wanted: bytes) -> None:
    seen = b""
    while wanted not in seen:
        chunk = await reader.read(4096)
        if not chunk:
            raise CheckFailed(f"the connection closed before {wanted.decode(errors='replace')[:100]!r} arrived")
        seen = (seen + chunk)[-(MAX_BODY_BYTES):]
