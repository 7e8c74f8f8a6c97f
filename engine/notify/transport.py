"""Sending one payload over HTTP: bounded time, bounded response, TLS verified, no redirects followed,
and, for channels created through the API, every connection judged by the network policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

MAX_RESPONSE_BYTES = 4096
USER_AGENT = "metrics-service-notifier"


@dataclass
class Result:
    """What a receiver answered. ``permanent``: retrying cannot help (a 4xx other than 408 and 429)."""

    ok: bool
    status: int | None = None
    body: str = ""
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body}


async def post(session: aiohttp.ClientSession, url: str, data: bytes, headers: dict[str, str],
               timeout: float) -> Result:
    """POST and read at most MAX_RESPONSE_BYTES of the answer; any 2xx is success."""
    try:
        async with session.post(url, data=data, headers={"User-Agent": USER_AGENT, **headers},
                                timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False) as resp:
            raw = await resp.content.read(MAX_RESPONSE_BYTES)
            body = raw.decode("utf-8", "replace")
            if 200 <= resp.status < 300:
                return Result(True, resp.status, body)
            retry = _retry_after(resp.headers.get("Retry-After"))
            permanent = 400 <= resp.status < 500 and resp.status not in (408, 425, 429)
            return Result(False, resp.status, body, f"HTTP {resp.status}", retry, permanent)
    except TimeoutError:
        return Result(False, error=f"timed out after {timeout:g}s")
    except aiohttp.ClientError as exc:
        return Result(False, error=f"{type(exc).__name__}: {exc}")
    except ValueError as exc:  # the network policy's BlockedTarget, a malformed URL
        return Result(False, error=str(exc), permanent=True)


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value), 3600.0)
