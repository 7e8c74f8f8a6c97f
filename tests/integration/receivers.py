"""Real receivers on 127.0.0.1 for notification tests: an HTTP server that records what it gets
(a webhook or a Slack incoming webhook) and can fail its first requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Recorder:
    """``fail_first`` requests answer ``fail_status``; every request is recorded; ``hang`` requests
    are held until ``release`` is set (a receiver that does not answer)."""

    fail_first: int = 0
    fail_status: int = 500
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _handle(self, request: web.Request) -> web.Response:
        got = Received(request.path, dict(request.headers), await request.read())
        self.requests.append(got)
        self._changed.set()
        if self.hang:
            await self.release.wait()
        if len(self.requests) <= self.fail_first:
            return web.Response(status=self.fail_status, text="failing on purpose")
        self.accepted.append(got)
        return web.Response(text="ok")

    async def start(self) -> Recorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until ``count`` requests were accepted (a bounded deadline, woken by each request)."""
        async def until() -> None:
            while len(self.accepted) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(until(), timeout)
        return self.accepted


async def first_match(items: Callable[[], Iterable[T]], match: Callable[[T], bool], changed: asyncio.Event,
                      timeout: float) -> T:
    """The first of ``items()`` that matches, waiting (woken by ``changed``, which whoever adds items
    sets) up to ``timeout`` seconds."""
    async def until() -> T:
        while True:
            found = next((item for item in items() if match(item)), None)
            if found is not None:
                return found
            changed.clear()
            await changed.wait()
    return await asyncio.wait_for(until(), timeout)
