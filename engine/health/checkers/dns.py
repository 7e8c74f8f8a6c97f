"""dns: resolve a name with the system resolver (getaddrinfo in the loop's thread pool)."""

from __future__ import annotations

import asyncio
import socket
import time

from engine.health.checkers.base import Context, Result
from engine.health.model import CheckSpec


async def check(spec: CheckSpec, ctx: Context) -> Result:
    host = spec.params["host"]
    started = time.perf_counter()
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return Result(ok=False, duration=0.0, error=f"{host} does not resolve: {exc.strerror}",
                      dns_lookup=time.perf_counter() - started)
    lookup = time.perf_counter() - started
    addresses = sorted({str(i[4][0]) for i in infos})
    result = Result(ok=True, duration=0.0, dns_lookup=lookup, details={"addresses": addresses[:20]})
    expected = spec.params.get("expectedAddress")
    if expected is not None and expected not in addresses:
        result.ok, result.error = False, f"{host} resolves to {', '.join(addresses[:5])}, not {expected}"
    return result
