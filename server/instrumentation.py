"""The server's own request metrics, recorded in memory and ingested into the store like any source."""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

from aiohttp import web

from engine.tsdb.types import Family

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_LE = tuple(repr(b) for b in BUCKETS) + ("+Inf",)


class HttpMetrics:
    """http_requests_total, http_request_duration_seconds and http_active_connections."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.requests: dict[tuple[str, str, str], int] = {}
        self.durations: dict[tuple[str, str], list[float]] = {}  # bucket counts..., sum, count
        self.active = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        h = self.durations.get((method, route))
        if h is None:
            h = self.durations[(method, route)] = [0.0] * (len(BUCKETS) + 3)
        h[bisect_left(BUCKETS, seconds)] += 1
        h[-2] += seconds
        h[-1] += 1

    def families(self) -> list[Family]:
        svc = self.service
        total = Family("http_requests_total", "counter", "HTTP requests handled, by route and status.")
        for (method, route, status), n in self.requests.items():
            total.add(n, {"service": svc, "method": method, "route": route, "status": status})
        hist = Family("http_request_duration_seconds", "histogram", "HTTP request latency.", "seconds")
        for (method, route), h in self.durations.items():
            labels = {"service": svc, "method": method, "route": route}
            cumulative = 0.0
            for le, count in zip(_LE, h[: len(_LE)], strict=True):
                cumulative += count
                hist.add(cumulative, {**labels, "le": le}, "_bucket")
            hist.add(h[-2], labels, "_sum")
            hist.add(h[-1], labels, "_count")
        active = Family("http_active_connections", "gauge", "HTTP requests and WebSocket streams in progress.")
        active.add(self.active, {"service": svc})
        return [total, hist, active]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        start = time.perf_counter()
        self.active += 1
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.active -= 1
            self.observe(request.method, route, status, time.perf_counter() - start)
