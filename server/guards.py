"""Refuse what a browser page on another site, or a DNS-rebound name, could make us do.

- Host: on a loopback bind only loopback names (``localhost``, ``127.x.x.x``, ``[::1]``) are served,
  so a page whose name was re-pointed at 127.0.0.1 (DNS rebinding) is refused; otherwise
  ``ALLOWED_HOSTS`` when set, any name when not. Refused with 421 Misdirected Request: the request
  reached a server that does not serve that name, and it is told apart from the 403 below.
- Origin: a request carrying an ``Origin`` not in ``CORS_ORIGINS`` (exact origins) is refused (403),
  preflights included; listed origins get CORS answers (preflight cached CORS_MAX_AGE_S, and the
  headers on every response, errors included), with credentials only when ``CORS_CREDENTIALS`` is true.
- Shape: a request that changes something (POST, PUT, PATCH, DELETE) with a body must declare a
  media type its route accepts: JSON unless the route says otherwise in ``ROUTE_POLICIES``. The
  media types a cross-site HTML form can send without a preflight (text/plain, form types) are
  thereby refused where they could change state. URLs are bounded per route too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.settings import Settings
from server.bodies import MAX_BODY_BYTES
from server.errors import ApiError
from server.requestids import HEADER
from server.transport import MAX_REQUEST_LINE

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = frozenset({"application/json"})
FORM = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
MAX_URL_BYTES = 8192
CORS_METHODS = "GET, POST, PUT, DELETE"
CORS_HEADERS = "Authorization, Content-Type, X-User"
CORS_MAX_AGE_S = "600"


@dataclass(frozen=True)
class RoutePolicy:
    """What one route accepts: media types of a body on a mutating method, URL length and body size
    (past the application's ``client_max_size`` the handler reads with ``bodies.read_body``)."""

    body_types: frozenset[str] = JSON
    max_url_bytes: int = MAX_URL_BYTES
    max_body_bytes: int = MAX_BODY_BYTES


DEFAULT_POLICY = RoutePolicy()
PROMETHEUS_READ = RoutePolicy(body_types=FORM, max_url_bytes=MAX_REQUEST_LINE)
"""Read-only, and POSTed as forms by Grafana and promtool; long GET queries as Prometheus allows."""
PUSH_BATCH = RoutePolicy(max_body_bytes=8 << 20)
"""10,000 items of a few hundred bytes each."""
PUSHGATEWAY = RoutePolicy(body_types=frozenset({"text/plain", "application/x-www-form-urlencoded",
                                                 "application/vnd.google.protobuf"}), max_body_bytes=4 << 20)
"""Text format 0.0.4 as prometheus_client sends it, and as ``curl --data-binary`` does (a form type)
in Pushgateway's own examples, or the protobuf format Go clients send; the Origin check keeps browser
pages from using it."""
REMOTE_WRITE = RoutePolicy(body_types=frozenset({"application/x-protobuf"}), max_body_bytes=8 << 20)
"""Snappy-compressed protobuf; Prometheus sends a few hundred KiB at most."""
SOCKET_IO = RoutePolicy(body_types=frozenset({"text/plain", "application/octet-stream"}))
"""Engine.IO's polling POSTs (text packets, or binary ones); Socket.IO's connect handler authenticates."""

ROUTE_POLICIES: dict[str, RoutePolicy] = {
    "/api/v1/query": PROMETHEUS_READ,
    "/api/v1/query_range": PROMETHEUS_READ,
    "/api/v1/series": PROMETHEUS_READ,
    "/api/v1/labels": PROMETHEUS_READ,
    "/api/v1/label/{name}/values": PROMETHEUS_READ,
    "/api/v1/metadata": PROMETHEUS_READ,
    "/api/v1/status/buildinfo": PROMETHEUS_READ,
    "/api/metrics/batch": PUSH_BATCH,
    "/metrics/{grouping}": PUSHGATEWAY,
    "/api/v1/write": REMOTE_WRITE,
    "/socket.io/": SOCKET_IO,
}
"""Every route that departs from ``DEFAULT_POLICY``, by its route pattern (checked at start-up)."""


def check_route_policies(app: web.Application) -> None:
    """Fail at start-up when a policy names a route that does not exist (a renamed path)."""
    routed = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    unknown = sorted(set(ROUTE_POLICIES) - routed)
    if unknown:
        raise RuntimeError(f"ROUTE_POLICIES names routes that do not exist: {', '.join(unknown)}")


def body_limit(request: web.Request) -> int:
    """The largest body the request's route takes."""
    return _policy(request).max_body_bytes


def _policy(request: web.Request) -> RoutePolicy:
    resource = request.match_info.route.resource
    return DEFAULT_POLICY if resource is None else ROUTE_POLICIES.get(resource.canonical, DEFAULT_POLICY)


def host_name(host: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower-case."""
    name = host.strip().lower()
    if name.startswith("["):
        return name[1:].split("]", 1)[0]
    return name.rsplit(":", 1)[0] if name.count(":") == 1 else name


def is_loopback(name: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1."""
    name = name.rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _origin(value: str) -> str:
    return value.strip().lower().rstrip("/")


class RequestGuards:
    """The host, origin and request-shape middlewares for one server's settings."""

    def __init__(self, settings: Settings) -> None:
        self.allowed_hosts = frozenset(host_name(h) for h in settings.allowed_hosts)
        self.any_host = not self.allowed_hosts and not is_loopback(settings.host)
        self.origins = frozenset(_origin(o) for o in settings.cors_origins)
        self.credentials = settings.cors_credentials

    def install(self, app: web.Application) -> None:
        """Add the middlewares (inside ``error_middleware``, which shapes their refusals) and the CORS headers."""
        app.middlewares.extend([self.host_middleware, self.origin_middleware, self.shape_middleware])
        app.on_response_prepare.append(self.cors_headers)

    def host_allowed(self, host: str | None) -> bool:
        if host is None or self.any_host:
            return True
        name = host_name(host)
        return is_loopback(name) or name in self.allowed_hosts

    @web.middleware
    async def host_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        host = request.headers.get("Host")
        if not self.host_allowed(host):
            raise ApiError(421, "host_not_allowed",
                           f"this server does not serve the name {host!r}; add it to ALLOWED_HOSTS to allow it",
                           {"host": host})
        return await handler(request)

    @web.middleware
    async def origin_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        if _origin(origin) not in self.origins:
            raise ApiError(403, "origin_not_allowed",
                           f"requests from {origin} are refused; add it to CORS_ORIGINS to allow a page there",
                           {"origin": origin})
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return web.Response(status=204, headers={"Access-Control-Allow-Methods": CORS_METHODS,
                                                     "Access-Control-Allow-Headers": CORS_HEADERS,
                                                     "Access-Control-Max-Age": CORS_MAX_AGE_S})
        return await handler(request)

    async def cors_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """on_response_prepare: an allowed origin can read every answer, errors and request ids included."""
        origin = request.headers.get("Origin")
        if origin is not None and _origin(origin) in self.origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = HEADER
            response.headers.add("Vary", "Origin")
            if self.credentials:
                response.headers["Access-Control-Allow-Credentials"] = "true"

    @web.middleware
    async def shape_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        policy = _policy(request)
        if len(request.raw_path) > policy.max_url_bytes:
            raise ApiError(414, "uri_too_long", f"the URL is longer than {policy.max_url_bytes} bytes",
                           {"limit": policy.max_url_bytes, "length": len(request.raw_path)})
        if (request.method in MUTATING and request.can_read_body and request.match_info.http_exception is None
                and request.content_type not in policy.body_types):
            accepted = sorted(policy.body_types)
            raise ApiError(415, "unsupported_media_type",
                           f"{request.method} {request.path} takes a body of type {' or '.join(accepted)}",
                           {"contentType": request.headers.get("Content-Type"), "accepted": accepted})
        return await handler(request)
