"""Request rate limits per caller: a token bucket (GCRA) per client IP, or per token subject when the
request is authenticated, with a separate, higher limit for the ingestion routes, and a limit on
failed authentications per IP (brute force).

The buckets live in memory (``MemoryBuckets``, bounded) or, when ``REDIS_URL`` is set, in Redis
(``RedisBuckets``, one atomic Lua script per request) so that replicas share them. A refused request
gets 429 with ``Retry-After``; every limited response carries ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` and ``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers-06).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from itertools import islice
from typing import Any, NamedTuple, Protocol

from aiohttp import web

from engine.logs import log_fields
from engine.settings import RateLimit, Settings, redact_uris
from server.auth import principal_of
from server.errors import error_response

log = logging.getLogger(__name__)

INGEST_ROUTES = frozenset({"/api/metrics/custom", "/api/metrics/business", "/api/metrics/batch",
                           "/metrics/{grouping}", "/api/v1/write"})
"""Routes that take the ingestion limit (``RATE_LIMIT_INGEST``) for their mutating methods."""
UNLIMITED_ROUTES = frozenset({"/livez", "/readyz"})
"""An orchestrator's probes: a 429 there would restart a healthy replica."""
MAX_KEYS = 50_000
"""Buckets kept in memory: a full bucket needs no entry, so only callers active within one burst's
refill time count; past this, the least recently used are dropped (they start again with a full burst)."""
_DECISION = web.RequestKey("rate_limit_decision", tuple)


class Decision(NamedTuple):
    """One request's answer from a bucket (a tuple: made on every request)."""

    allowed: bool
    remaining: int
    reset_s: float
    """Seconds until the bucket is full again."""
    retry_after_s: float
    """Seconds until one more request would be allowed (0 when allowed)."""


def gcra(tat: float | None, now: float, rate: RateLimit, cost: int = 1) -> tuple[Decision, float]:
    """The generic cell rate algorithm: a bucket is one number, its theoretical arrival time (TAT).
    Returns the decision and the TAT to store (unchanged when refused)."""
    interval = 1.0 / rate.per_second
    tat = now if tat is None or tat < now else tat
    new_tat = tat + interval * cost
    allow_at = new_tat - interval * rate.burst
    if now < allow_at:
        return Decision(False, 0, tat - now, allow_at - now), tat
    return Decision(True, int((now - allow_at) / interval + 1e-9), new_tat - now, 0.0), new_tat


class Buckets(Protocol):
    async def take(self, key: str, rate: RateLimit) -> Decision: ...

    async def close(self) -> None: ...


class MemoryBuckets:
    """Buckets of one process, at most ``max_keys`` of them (least recently used dropped first)."""

    def __init__(self, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._tats: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tats)

    async def take(self, key: str, rate: RateLimit) -> Decision:
        return self.take_now(key, rate)

    def take_now(self, key: str, rate: RateLimit) -> Decision:
        now = self.clock()
        decision, tat = gcra(self._tats.get(key), now, rate)
        if decision.allowed:
            self._tats[key] = tat
            self._tats.move_to_end(key)
            if len(self._tats) > self.max_keys:
                self._evict(now)
        return decision

    def _evict(self, now: float) -> None:
        """Drop full buckets (TAT passed) among the least recently used, then the least recently used."""
        for key in [k for k, tat in islice(self._tats.items(), 64) if tat <= now]:
            del self._tats[key]
        while len(self._tats) > self.max_keys:
            self._tats.popitem(last=False)

    def block(self, key: str, seconds: float) -> None:
        """Mark ``key`` refused for ``seconds`` (its TAT that far ahead)."""
        now = self.clock()
        self._tats[key] = now + seconds
        self._tats.move_to_end(key)
        if len(self._tats) > self.max_keys:
            self._evict(now)

    def blocked_for(self, key: str) -> float:
        """Seconds ``key`` stays blocked (0 when it is not)."""
        until = self._tats.get(key)
        return 0.0 if until is None else max(0.0, until - self.clock())

    async def close(self) -> None:
        self._tats.clear()


_GCRA_LUA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if now < allow_at then
  return {0, 0, tostring(tat - now), tostring(allow_at - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1)
return {1, math.floor((now - allow_at) / interval + 1e-9), tostring(new_tat - now), '0'}
"""
"""GCRA in one atomic step on Redis's clock (replicas' clocks may differ); a key expires when its
bucket is full again, so Redis holds only active callers."""


class RedisBuckets:
    """Buckets shared by every replica through Redis. When Redis cannot answer, this replica's own
    ``MemoryBuckets`` decide (a limit still holds, per replica) and one warning is logged per outage.
    During an outage one request at a time asks Redis again, at most every ``RETRY_S``; the others do
    not wait for a hung Redis's timeout."""

    PREFIX = "metrics-service:ratelimit:"
    RETRY_S = 1.0

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        import redis.asyncio as aioredis  # loaded only when REDIS_URL is set
        self.url = url
        self.client = aioredis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script = self.client.register_script(_GCRA_LUA)
        self.fallback = MemoryBuckets()
        self.clock = clock
        self._failing = False
        self._retry_at = 0.0

    async def take(self, key: str, rate: RateLimit) -> Decision:
        import redis
        if self._failing and self.clock() < self._retry_at:
            return self.fallback.take_now(key, rate)
        self._retry_at = self.clock() + self.RETRY_S  # the requests meanwhile do not ask too
        try:
            allowed, remaining, reset_s, retry_s = await self.script(keys=[self.PREFIX + key],
                                                                     args=[repr(1.0 / rate.per_second), rate.burst])
        except (redis.RedisError, OSError) as exc:
            self._retry_at = self.clock() + self.RETRY_S
            if not self._failing:
                self._failing = True
                log.warning("rate limits kept in memory: Redis does not answer",
                            extra=log_fields(redis_url=redact_uris(self.url), error=str(exc)))
            return self.fallback.take_now(key, rate)
        if self._failing:
            self._failing = False
            log.info("rate limits shared through Redis again", extra=log_fields(redis_url=redact_uris(self.url)))
        return Decision(bool(allowed), int(remaining), float(reset_s), float(retry_s))

    async def close(self) -> None:
        await self.client.aclose()


def client_address(request: web.BaseRequest) -> str:
    """The peer's address; an IPv6 peer counts as its /64 (one host usually owns a whole /64)."""
    remote = request.remote or "unknown"
    if ":" not in remote:
        return remote  # IPv4 (or a Unix socket's empty name): as it is, without parsing
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def caller_key(request: web.Request) -> str:
    """``token:<subject>`` or ``apikey:<name>`` for an authenticated caller,
    else ``ip:<address>``."""
    principal = principal_of(request)
    if principal is not None and principal.kind != "anonymous":
        return f"{principal.kind}:{principal.subject}"
    return f"ip:{client_address(request)}"


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else ""


@functools.cache
def _policy(rate: RateLimit) -> tuple[str, str]:
    """RateLimit-Limit and RateLimit-Policy, the same for every answer of one limit."""
    return str(rate.burst), f"{rate.burst};w={max(1, math.ceil(rate.burst / rate.per_second))}"


def _headers(rate: RateLimit, decision: Decision) -> dict[str, str]:
    limit, policy = _policy(rate)
    headers = {"RateLimit-Limit": limit, "RateLimit-Remaining": str(decision.remaining),
               "RateLimit-Reset": str(math.ceil(decision.reset_s)), "RateLimit-Policy": policy}
    if not decision.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after_s)))
    return headers


def too_many(what: str, rate: RateLimit, decision: Decision) -> web.Response:
    retry = max(1, math.ceil(decision.retry_after_s))
    return error_response(429, "rate_limited", f"too many {what}: retry in {retry} s",
                          {"limit": str(rate), "retryAfterSeconds": retry}, _headers(rate, decision))


class RateLimits:
    """The two middlewares: ``failures_middleware`` outside the error middleware (it sees the 401s
    authentication answers and refuses an IP that made too many), ``limit_middleware`` inside the
    authentication middleware (it keys on the principal that middleware found)."""

    def __init__(self, settings: Settings, buckets: Buckets | None = None) -> None:
        self.api = settings.rate_limit
        self.ingest = settings.rate_limit_ingest
        self.failures = settings.auth_failure_limit
        if buckets is None:
            buckets = RedisBuckets(settings.redis_url) if settings.redis_url else MemoryBuckets()
        self.buckets = buckets
        self._blocked = MemoryBuckets()
        """IPs whose failure bucket is empty, as this replica last learnt: refused without asking Redis."""

    async def close(self, _app: Any = None) -> None:
        await self.buckets.close()

    def _rate_for(self, request: web.Request) -> tuple[str, RateLimit | None]:
        canonical = _route(request)
        if canonical in UNLIMITED_ROUTES:
            return "", None
        if canonical in INGEST_ROUTES and request.method not in ("GET", "HEAD"):
            return "ingest", self.ingest
        return "api", self.api

    @web.middleware
    async def limit_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        kind, rate = self._rate_for(request)
        if rate is None:
            return await handler(request)
        decision = await self.buckets.take(f"{kind}:{caller_key(request)}", rate)
        if not decision.allowed:
            return too_many("requests", rate, decision)
        request[_DECISION] = (rate, decision)
        return await handler(request)

    async def send_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """on_response_prepare: the caller's budget on every answer, errors raised by handlers included."""
        taken = request.get(_DECISION)
        if taken is not None:
            response.headers.update(_headers(*taken))

    @web.middleware
    async def failures_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        rate = self.failures
        if rate is None or _route(request) in UNLIMITED_ROUTES:
            return await handler(request)
        if len(self._blocked):  # an address is, or was lately, blocked: is it this one?
            retry = self._blocked.blocked_for(f"authfail:{client_address(request)}")
            if retry > 0:
                return too_many("failed authentications from this address", rate, Decision(False, 0, retry, retry))
        response = await handler(request)
        if response.status == 401:
            key = f"authfail:{client_address(request)}"
            decision = await self.buckets.take(key, rate)
            if decision.remaining == 0:
                self._blocked.block(key, decision.retry_after_s or 1.0 / rate.per_second)
        return response

    def install(self, app: web.Application) -> None:
        """``failures_middleware`` first of all but the metrics one, ``limit_middleware`` last: the
        authentication middleware must sit between them (server/app.py)."""
        app.middlewares.insert(1, self.failures_middleware)
        app.middlewares.append(self.limit_middleware)
        app.on_response_prepare.append(self.send_headers)
        app.on_cleanup.append(self.close)


def check_ingest_routes(app: web.Application) -> None:
    """Fail at start-up when INGEST_ROUTES names a route that does not exist (a renamed path)."""
    routed = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    unknown = sorted((INGEST_ROUTES | UNLIMITED_ROUTES) - routed)
    if unknown:
        raise RuntimeError(f"server/ratelimit.py names routes that do not exist: {', '.join(unknown)}")
