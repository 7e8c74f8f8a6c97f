"""mongodb: the ``ping`` command through pymongo (blocking: run on the checks' thread pool)."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import MongoClient
from pymongo.uri_parser import parse_uri

from engine.health.checkers.base import Context, Result
from engine.health.model import CheckSpec


async def check(spec: CheckSpec, ctx: Context) -> Result:
    url = spec.params["url"]
    if ctx.policy is not None:
        for host, port in parse_uri(url, connect_timeout=spec.timeout)["nodelist"]:
            await ctx.policy.resolve(host, port)
    details = await asyncio.get_running_loop().run_in_executor(ctx.threads, _ping, url, spec.timeout)
    return Result(ok=True, duration=0.0, details=details)


def _ping(url: str, timeout: float) -> dict[str, Any]:
    ms = max(1, int(timeout * 1000))
    client: MongoClient[Any] = MongoClient(url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms)
    try:
        client.admin.command("ping")
        info = client.server_info()
    finally:
        client.close()
    return {"version": info.get("version")}
