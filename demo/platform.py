"""The demo platform wired to a metrics-service server, through its public API only.

``start()`` runs the services, registers them as scrape targets (``POST /api/targets``) and their
health checks (``POST /api/health/services``), then generates traffic, pushes the business figures
(``POST /api/metrics/batch``) and plays a failure episode every ``episode_every`` seconds.
``stop()`` undoes all of it. A server without one of these APIs gets a log line and the rest goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import httpx

from demo.options import DemoOptions
from demo.services import SERVICES, DemoService
from demo.traffic import EPISODE_BY_NAME, EPISODES, Episode, TrafficGenerator

log = logging.getLogger(__name__)

DEMO_LABEL = {"demo": "true"}
"""On every target and check the demo registers: what it may replace or remove on a server."""
SERVER_TIMEOUT_S = 10.0
MAX_BATCH_ITEMS = 10_000
"""The push API's batch limit: business figures kept across failed pushes never grow past it."""


class DemoPlatform:
    """The booking platform and its traffic, reporting to the server at ``server_url``."""

    def __init__(self, server_url: str, options: DemoOptions | None = None, token: str | None = None) -> None:
        """``token``: a bearer token or API key (admin: the platform registers targets and checks) for a
        server with authentication on."""
        self.server_url = server_url
        self.token = token
        self.options = options or DemoOptions()
        self.services = {name: DemoService(name, self.options.seed) for name in SERVICES}
        self.traffic: TrafficGenerator | None = None
        self.current_episode: Episode | None = None
        self.pushed_items = 0
        self._unsent: list[dict[str, Any]] = []
        self._client: httpx.AsyncClient | None = None
        self._targets: list[str] = []
        self._checks: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._warned: set[str] = set()
        self.episode_order = list(EPISODES)
        random.Random(self.options.seed).shuffle(self.episode_order)

    async def start(self) -> None:
        """Services listening, registered with the server, traffic and episodes running."""
        for service in self.services.values():
            await service.start()
        for service in self.services.values():
            service.downstream = {name: s.url for name, s in self.services.items()}
        self._client = httpx.AsyncClient(base_url=self.server_url, timeout=SERVER_TIMEOUT_S,
                                         headers={"Authorization": f"Bearer {self.token}"} if self.token else None)
        await self._register_targets()
        await self._register_checks()
        self.traffic = TrafficGenerator(self.services["booking"].url, self.options.seed, self.options.rate)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.traffic.run(), name="demo-traffic"),
                       loop.create_task(self._push_loop(), name="demo-push")]
        if self.options.episode_every > 0:
            self._tasks.append(loop.create_task(self._episode_loop(), name="demo-episodes"))

    async def stop(self) -> None:
        """Stop the traffic, push what is left, unregister from the server, stop the services."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            if self._client is not None:
                if self.traffic is not None:
                    with contextlib.suppress(httpx.HTTPError):
                        await self.push()
                await self._unregister()
        finally:
            if self._client is not None:
                await self._client.aclose()
                self._client = None
            for service in self.services.values():
                await service.stop()

    def describe(self) -> list[str]:
        """Where everything is, one line each, for the terminal."""
        lines = [f"{name:<13} {s.url}  (metrics {s.url}/metrics, health {s.url}/health)"
                 for name, s in self.services.items()]
        lines.append(f"{'server':<13} {self.server_url}")
        lines.append(f"targets registered: {len(self._targets)}, health checks registered: {len(self._checks)}")
        return lines

    # -- episodes --------------------------------------------------------------------------------

    async def episode(self, name: str, duration_s: float | None = None) -> None:
        """Play one failure episode now, to its end (or until cancelled: the services recover then too)."""
        episode = EPISODE_BY_NAME[name]
        self.current_episode = episode
        log.info("demo episode begins", extra={"fields": {"episode": name, "what": episode.description}})
        await episode.begin(self.services)
        try:
            await asyncio.sleep(episode.duration_s if duration_s is None else duration_s)
        finally:
            await episode.end(self.services)
            self.current_episode = None
            log.info("demo episode ends", extra={"fields": {"episode": name}})

    async def _episode_loop(self) -> None:
        index = 0
        while True:
            await asyncio.sleep(self.options.episode_every)
            await self.episode(self.episode_order[index % len(self.episode_order)].name)
            index += 1

    # -- business metrics through the push API ---------------------------------------------------

    async def push(self) -> None:
        """Push the business figures gathered since the last push, with those a failed push kept
        (a server restarting or busy loses no bookings; refused items are not sent again)."""
        assert self._client is not None and self.traffic is not None
        items = (self._unsent + self.traffic.business.drain())[-MAX_BATCH_ITEMS:]
        self._unsent = items
        r = await self._client.post("/api/metrics/batch", json={"metrics": items})
        if r.status_code >= 500:
            log.warning("the server could not take business metrics; kept for the next push",
                        extra={"fields": {"status": r.status_code, "items": len(items)}})
            return
        self._unsent = []
        if r.status_code in (404, 405):
            self._warn_once("push", "the server has no push API (POST /api/metrics/batch): business metrics dropped")
            return
        if r.status_code >= 400:
            log.warning("the server refused business metrics", extra={"fields": {
                "status": r.status_code, "answer": r.text[:500]}})
            return
        self.pushed_items += len(items)

    async def _push_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.push_interval)
            try:
                await self.push()
            except httpx.HTTPError as exc:
                log.warning("pushing business metrics failed", extra={"fields": {"error": str(exc)}})

    # -- registration ----------------------------------------------------------------------------

    async def _register_targets(self) -> None:
        assert self._client is not None
        listed = await self._client.get("/api/targets")
        if listed.status_code in (404, 405):
            self._warn_once("targets", "the server has no targets API (POST /api/targets): services not scraped")
            return
        for entry in listed.json().get("entries", []) if listed.status_code == 200 else []:
            if entry.get("labels") == DEMO_LABEL:  # an earlier demo run that could not unregister
                await self._client.delete(f"/api/targets/{entry['id']}")
        for name, service in self.services.items():
            body = {"job": name, "targets": [service.address], "labels": DEMO_LABEL,
                    "interval": self.options.scrape_interval}
            r = await self._client.post("/api/targets", json=body)
            if r.status_code >= 400:
                log.warning("the server refused a scrape target", extra={"fields": {
                    "job": name, "status": r.status_code, "answer": r.text[:500]}})
                continue
            self._targets.append(r.json()["entry"]["id"])

    async def _register_checks(self) -> None:
        assert self._client is not None
        checks: list[tuple[str, dict[str, Any]]] = [  # what others depend on comes first
            ("redis", {"type": "redis", "url": self.options.redis_url}),
            ("postgres", {"type": "postgres", "url": self.options.postgres_url})]
        checks += sorted(((name, {"type": "http", "url": f"{s.url}/health"}) for name, s in self.services.items()),
                         key=lambda check: check[0] == "booking")
        for name, fields in checks:
            body = {"name": name, **fields, "interval": self.options.check_interval, "timeout": "2s",
                    "retries": 1, "labels": DEMO_LABEL}
            if name == "booking":  # a booking needs seats and a payment; a lost confirmation is not fatal
                body["dependsOn"] = ["inventory", "payment"]
            r = await self._client.post("/api/health/services", json=body)
            if r.status_code == 404 or r.status_code == 405:
                self._warn_once("health", "the server has no health-check API (POST /api/health/services): "
                                          "no checks registered")
                return
            if r.status_code == 409:
                r = await self._replace_check(name, body)
            if r.status_code >= 400:
                log.warning("the server refused a health check", extra={"fields": {
                    "check": name, "status": r.status_code, "answer": r.text[:500]}})
                continue
            self._checks.append(name)

    async def _replace_check(self, name: str, body: dict[str, Any]) -> httpx.Response:
        """A check of that name exists: replace it if an earlier demo made it, never a user's own."""
        assert self._client is not None
        current = await self._client.get(f"/api/health/services/{name}")
        labels = current.json().get("labels") if current.status_code == 200 else None
        if labels != DEMO_LABEL:
            return current if current.status_code >= 400 else httpx.Response(409, text=f"{name}: a user's check")
        return await self._client.put(f"/api/health/services/{name}", json=body)

    async def _unregister(self) -> None:
        assert self._client is not None
        try:
            for target in self._targets:
                await self._client.delete(f"/api/targets/{target}")
            for name in reversed(self._checks):  # dependents before what they depend on
                await self._client.delete(f"/api/health/services/{name}")
        except httpx.HTTPError as exc:
            log.warning("unregistering the demo from the server failed", extra={"fields": {"error": str(exc)}})
        self._targets, self._checks = [], []

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)
