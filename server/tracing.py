"""A server span for every HTTP request, child of the caller's span when it sends a W3C ``traceparent``.

Installed only when tracing is on (OTEL_ENABLED): off, requests do not pass through it at all.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.tracing import Span, Tracer


def install_tracing(app: web.Application, tracer: Tracer) -> None:
    """Put the span middleware outermost, so the span covers every other middleware and sees the final
    status (refusals and shaped errors included). Nothing when tracing is off."""
    if not tracer.enabled:
        return

    @web.middleware
    async def traced(request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else None
        attributes = {"http.request.method": request.method, "url.path": request.path,
                      "url.scheme": request.scheme, "client.address": request.remote or "",
                      "user_agent.original": request.headers.get("User-Agent", "")}
        if route is not None:
            attributes["http.route"] = route
        name = f"{request.method} {route}" if route is not None else request.method
        with tracer.span(name, attributes, server=True, headers=request.headers) as span:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # an answer, not a failure: only its status says how it went
                _status(span, exc.status)
                answer = exc
            else:
                _status(span, response.status)
                return response
        raise answer

    app.middlewares.insert(0, traced)


def _status(span: Span, status: int) -> None:
    span.set_attributes({"http.response.status_code": status})
    if status >= 500:
        span.fail(f"HTTP {status}")
