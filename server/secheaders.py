"""Security headers on every response: no MIME sniffing, no framing, no referrer, a content security
policy that lets an API answer load nothing, API JSON never cached, and HSTS when served over TLS.

A route that serves a page (Swagger UI at /api-docs) sets its own ``Content-Security-Policy`` (or
``Cache-Control``) on its response; what a handler set is kept.
"""

from __future__ import annotations

from aiohttp import web

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000; includeSubDomains"
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""The same on every answer, transport-level errors included (server/transport.py)."""


class SecurityHeaders:
    def __init__(self, tls: bool) -> None:
        self.tls = tls

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        for name, value in STATIC_HEADERS.items():
            headers.setdefault(name, value)
        headers.setdefault("Content-Security-Policy", API_CSP)
        if response.content_type == "application/json":
            headers.setdefault("Cache-Control", "no-store")
        if self.tls:
            headers.setdefault("Strict-Transport-Security", HSTS)

    def install(self, app: web.Application) -> None:
        app.on_response_prepare.append(self.on_response_prepare)
