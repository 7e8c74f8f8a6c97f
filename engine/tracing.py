"""OpenTelemetry traces of requests, rule-group evaluations, scrapes, health checks and notifications.

Off by default (OTEL_ENABLED). Off, every part holds ``NO_TRACER``: its ``span`` hands back one shared
do-nothing object and nothing of the exporter is imported, so tracing costs a method call. On, spans
follow the W3C trace context (a ``traceparent`` received starts the request's span inside the caller's
trace; its sampled flag is obeyed) and go to an OTLP/HTTP (protobuf) endpoint through engine/otlp.py,
from a thread of its own: a collector that is down costs dropped spans, never a slower request.
Span times are the wall clock (they measure real work, not the engine's injectable clock).
"""

from __future__ import annotations

import random
import re
import socket
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from engine import __version__
from engine.settings import Settings

if TYPE_CHECKING:
    from engine.otlp import LiveSpan

Attributes = Mapping[str, str | bool | int | float]
AttributeDict = dict[str, str | bool | int | float]
OTLP_DEFAULT = "http://localhost:4318"
OTLP_TRACES_PATH = "/v1/traces"
JAEGER_THRIFT_PORT = 14268
JAEGER_OTLP_HTTP_PORT = 4318
MAX_TRACESTATE = 512
_TRACEPARENT_RE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.ASCII)
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16

CURRENT_SPAN: ContextVar[LiveSpan | None] = ContextVar("metrics_service_span", default=None)
"""The span running in this task (engine/otlp.py sets it); never set while tracing is off."""


class Span:
    """What a traced block may do to its span. This one does nothing: tracing is off."""

    __slots__ = ()

    def __enter__(self) -> Span:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_attributes(self, attributes: Attributes) -> None:
        """Add attributes learnt while the block ran (a status, a count)."""

    def fail(self, message: str) -> None:
        """Mark the span as an error with a description."""


NO_SPAN = Span()


class Tracer:
    """Tracing off: every span is ``NO_SPAN``."""

    enabled = False

    def span(self, name: str, attributes: AttributeDict | None = None, *, server: bool = False,
             headers: Mapping[str, str] | None = None) -> Span:
        """A span around a block (``with``), child of the span current in this task. ``server``: a span
        for an incoming request, whose parent comes from the W3C ``traceparent``/``tracestate`` in
        ``headers``."""
        return NO_SPAN

    def shutdown(self) -> None:
        """Send what is queued and stop the exporter thread (blocking: up to the export timeout)."""


NO_TRACER = Tracer()


class OtelTracer(Tracer):
    """Spans exported in batches over OTLP/HTTP with protobuf bodies (engine/otlp.py)."""

    enabled = True

    def __init__(self, service_name: str, endpoint: str) -> None:
        from engine.otlp import KIND_INTERNAL, KIND_SERVER, Encoder, Exporter, LiveSpan

        self.endpoint = endpoint
        resource = {"service.name": service_name, "service.version": __version__,
                    "telemetry.sdk.language": "python", "host.name": socket.gethostname()}
        self.exporter = Exporter(endpoint, Encoder(resource, "metrics-service", __version__))
        self.exporter.start()
        self._span = LiveSpan
        self._kinds = (KIND_INTERNAL, KIND_SERVER)
        self._bits = random.Random().getrandbits

    def span(self, name: str, attributes: AttributeDict | None = None, *, server: bool = False,
             headers: Mapping[str, str] | None = None) -> Span:
        """Takes ``attributes`` over (a dict the caller made for this span)."""
        parent = _remote_parent(headers) if headers is not None else CURRENT_SPAN.get()
        if parent is None:
            trace_id, parent_id, state, sampled = self._bits(128), 0, "", True
        else:
            trace_id, parent_id, state, sampled = parent.trace_id, parent.span_id, parent.trace_state, parent.sampled
        return self._span(self.exporter, trace_id, self._bits(64), parent_id, name, self._kinds[server],
                          attributes if attributes is not None else {}, state, sampled)

    def shutdown(self) -> None:
        self.exporter.shutdown()


class RemoteParent(NamedTuple):
    """The caller's span, from a W3C ``traceparent``."""

    trace_id: int
    span_id: int
    trace_state: str
    sampled: bool


def _remote_parent(headers: Mapping[str, str]) -> RemoteParent | None:
    """The caller's span from a valid W3C ``traceparent`` (with its ``tracestate``), else None: the
    request starts a trace of its own, as the spec asks for a malformed header."""
    value = headers.get("traceparent")
    match = _TRACEPARENT_RE.fullmatch(value.strip().lower()) if value else None
    if match is None:
        return None
    version, trace, span, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace == _ZERO_TRACE or span == _ZERO_SPAN:
        return None
    state = headers.get("tracestate") or ""
    return RemoteParent(int(trace, 16), int(span, 16), state if len(state) <= MAX_TRACESTATE else "",
                        bool(int(flags, 16) & 1))


def make_tracer(settings: Settings) -> Tracer:
    """The tracer the settings ask for: ``NO_TRACER`` unless OTEL_ENABLED."""
    if not settings.otel_enabled:
        return NO_TRACER
    return OtelTracer(settings.otel_service_name or settings.service_name, traces_endpoint(settings))


def traces_endpoint(settings: Settings) -> str:
    """Where spans are sent: OTEL_EXPORTER_OTLP_ENDPOINT plus ``/v1/traces`` (as the OpenTelemetry spec
    says; a URL already ending in it is kept), else JAEGER_ENDPOINT's host on Jaeger's OTLP/HTTP
    port, else the local collector's default."""
    if settings.otel_exporter_otlp_endpoint:
        base = settings.otel_exporter_otlp_endpoint.rstrip("/")
        return base if base.endswith(OTLP_TRACES_PATH) else base + OTLP_TRACES_PATH
    if settings.jaeger_endpoint:
        return jaeger_otlp_endpoint(settings.jaeger_endpoint)
    return OTLP_DEFAULT + OTLP_TRACES_PATH


def jaeger_otlp_endpoint(url: str) -> str:
    """Jaeger's OTLP/HTTP receiver for a JAEGER_ENDPOINT: the seed's ``http://host:14268/api/traces``
    (the Thrift collector, which OpenTelemetry no longer exports to) becomes ``http://host:4318/v1/traces``;
    another port is kept (a proxy in front of Jaeger) and the path becomes ``/v1/traces``."""
    parts = urlsplit(url)
    port = parts.port
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == JAEGER_THRIFT_PORT:
        port = JAEGER_OTLP_HTTP_PORT
    return urlunsplit((parts.scheme, f"{host}:{port}", OTLP_TRACES_PATH, "", ""))


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the span active in this task, None when there is none."""
    span = CURRENT_SPAN.get()
    if span is None:
        return None
    return f"{span.trace_id:032x}", f"{span.span_id:016x}"
