"""mongodb: the ``ping`` command through pymongo (blocking: run on the checks' thread pool)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from engine.health.checkers.base import Context, Result
from engine.health.model import CheckSpec

if TYPE_CHECKING:
    from pymongo import MongoClient


async def check(spec: CheckSpec, ctx: Context) -> Result:
    from pymongo.uri_parser import parse_uri  # the driver costs ~6 MB: loaded by the first mongodb check

    url = spec.params["url"]
    if ctx.policy is not None:
        for host, port in parse_uri(url, connect_timeout=spec.timeout)["nodelist"]:
            await ctx.policy.resolve(host, port)
    details = await asyncio.get_running_loop().run_in_executor(ctx.threads, _ping, url, spec.timeout)
    return Result(ok=True, duration=0.0, details=details)


def _ping(url: str, timeout: float) -> dict[str, Any]:
    from pymongo import MongoClient

    ms = max(1, int(timeout * 1000))
    client: MongoClient[Any] = MongoClient(url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms)
    try:
        client.admin.command("ping")
        info = client.server_info()
    finally:
        client.close()
    return {"version": info.get("version")}
