"""The platform's services: booking, payment, inventory, notification.

Each is a real aiohttp server on 127.0.0.1 with its own prometheus-client registry exposing the
application metric names the product documents. A ``Fault`` makes a service slow or failing, and
``pause``/``resume`` stop it answering at all (its port closed), as an outage does.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

SERVICES = ("booking", "payment", "inventory", "notification")
HOST = "127.0.0.1"
DOWNSTREAM_TIMEOUT_S = 3.0
PAUSE_GRACE_S = 0.5
_UNCOUNTED = frozenset({"/metrics", "/health"})  # scrapes and probes are not the platform's traffic
_DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    """What a failure episode does to a service: a share of requests answered 503, and added latency."""

    error_rate: float = 0.0
    extra_latency_s: float = 0.0


class DemoService:
    """One service: ``start()`` listens on a free port (the same one again after ``pause``/``resume``)."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.fault = Fault()
        self.port = 0
        self.downstream: dict[str, str] = {}
        self._rng = random.Random(f"{seed}:{name}")
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._session: aiohttp.ClientSession | None = None
        self._next_id = 0
        self.registry = CollectorRegistry()
        labels = ["service", "method", "route"]
        self.requests = Counter("http_requests_total", "HTTP requests answered, by route and status.",
                                [*labels, "status"], registry=self.registry)
        self.duration = Histogram("http_request_duration_seconds", "Time to answer an HTTP request.", labels,
                                  registry=self.registry)
        self.active = Gauge("http_active_connections", "HTTP requests being answered.", ["service"],
                            registry=self.registry)
        self.db = Histogram("db_query_duration_seconds", "Time of one database query.", ["service", "operation"],
                            buckets=_DB_BUCKETS, registry=self.registry)
        self.cache = Counter("cache_requests_total", "Cache lookups, by hit or miss.", ["service", "result"],
                             registry=self.registry)
        self.active.labels(name).set(0)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def address(self) -> str:
        """host:port, as a scrape target names it."""
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._site is not None

    async def start(self) -> None:
        app = web.Application(middlewares=[self._instrument])
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        for method, path, handler in self._routes():
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DOWNSTREAM_TIMEOUT_S))
        await self.resume()

    async def pause(self) -> None:
        """Stop answering: the port is closed, open (keep-alive) connections are dropped, and new ones
        are refused until ``resume``."""
        if self._site is not None and self._runner is not None and self._runner.server is not None:
            site, self._site = self._site, None
            await site.stop()
            await self._runner.server.shutdown(PAUSE_GRACE_S)

    async def resume(self) -> None:
        if self._site is not None or self._runner is None:
            return
        site = web.TCPSite(self._runner, HOST, self.port, reuse_address=True)
        await site.start()
        self._site = site
        if not self.port:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._site = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- instrumentation -------------------------------------------------------------------------

    @web.middleware
    async def _instrument(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request.match_info.route.resource
        route = info.canonical if info is not None else "unmatched"
        if route in _UNCOUNTED:
            return await handler(request)
        gauge = self.active.labels(self.name)
        gauge.inc()
        started = time.perf_counter()
        status = 500
        try:
            if self.fault.extra_latency_s:
                await asyncio.sleep(self.fault.extra_latency_s * (0.5 + self._rng.random()))
            if self._rng.random() < self.fault.error_rate:
                response: web.StreamResponse = web.json_response({"error": "service unavailable"}, status=503)
            else:
                response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            gauge.dec()
            self.duration.labels(self.name, request.method, route).observe(time.perf_counter() - started)
            self.requests.labels(self.name, request.method, route, str(status)).inc()

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, request: web.Request) -> web.Response:
        failing = self.fault.error_rate >= 0.5
        return web.json_response({"status": "fail" if failing else "pass", "service": self.name},
                                 status=503 if failing else 200)

    async def _query(self, operation: str, typical_s: float) -> None:
        """A simulated database query: its time is drawn around ``typical_s`` and observed."""
        seconds = self._rng.lognormvariate(0, 0.5) * typical_s
        await asyncio.sleep(seconds)
        self.db.labels(self.name, operation).observe(seconds)

    def _cached(self, hit_ratio: float) -> bool:
        hit = self._rng.random() < hit_ratio
        self.cache.labels(self.name, "hit" if hit else "miss").inc()
        return hit

    async def _call(self, service: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST to a downstream service: its status and JSON, or 503 when it cannot be reached."""
        assert self._session is not None
        try:
            async with self._session.post(self.downstream[service] + path, json=body) as r:
                return r.status, await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return 503, {"error": f"{service} unreachable"}

    # -- routes ----------------------------------------------------------------------------------

    def _routes(self) -> list[tuple[str, str, Handler]]:
        return {
            "booking": [("GET", "/search", self._search), ("POST", "/bookings", self._book),
                        ("GET", "/bookings/{id}", self._get_booking)],
            "payment": [("POST", "/payments", self._pay)],
            "inventory": [("GET", "/availability", self._availability), ("POST", "/reservations", self._reserve)],
            "notification": [("POST", "/notifications", self._notify)],
        }[self.name]

    async def _search(self, request: web.Request) -> web.Response:
        if not self._cached(0.8):
            await self._query("select", 0.01)
        return web.json_response({"results": self._rng.randint(0, 40)})

    async def _get_booking(self, request: web.Request) -> web.Response:
        if not self._cached(0.6):
            await self._query("select", 0.005)
        return web.json_response({"id": request.match_info["id"]})

    async def _book(self, request: web.Request) -> web.Response:
        """A booking: reserve seats, take the payment, send the confirmation (its failure is not fatal)."""
        order = await request.json()
        status, _ = await self._call("inventory", "/reservations", {"seats": order.get("seats", 1)})
        if status != 200:
            return web.json_response({"error": "no seats could be reserved"}, status=503)
        status, _ = await self._call("payment", "/payments", {"amount": order.get("amount", 0),
                                                              "currency": order.get("currency", "EUR")})
        if status != 200:
            return web.json_response({"error": "payment failed"}, status=502)
        await self._query("insert", 0.008)
        await self._call("notification", "/notifications", {"kind": "confirmation"})
        self._next_id += 1
        return web.json_response({"id": self._next_id, "status": "created"}, status=201)

    async def _pay(self, request: web.Request) -> web.Response:
        await request.json()
        await self._query("insert", 0.02)
        if self._rng.random() < 0.02:
            return web.json_response({"error": "card declined"}, status=402)
        return web.json_response({"status": "paid"})

    async def _availability(self, request: web.Request) -> web.Response:
        if not self._cached(0.9):
            await self._query("select", 0.004)
        return web.json_response({"available": self._rng.randint(0, 200)})

    async def _reserve(self, request: web.Request) -> web.Response:
        await request.json()
        await self._query("update", 0.006)
        return web.json_response({"status": "reserved"})

    async def _notify(self, request: web.Request) -> web.Response:
        await request.json()
        if not self._cached(0.5):
            await self._query("select", 0.002)
        return web.json_response({"status": "queued"}, status=202)
