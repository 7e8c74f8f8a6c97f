"""OpenTelemetry traces of requests, rule-group evaluations, scrapes, health checks and notifications.

Off by default (OTEL_ENABLED). Off, every part holds ``NO_TRACER``: its ``span`` hands back one shared
do-nothing object and the OpenTelemetry SDK is never imported, so tracing costs a method call. On, the
SDK's batch processor sends the spans from a thread of its own to an OTLP/HTTP (protobuf) endpoint;
a collector that is down costs dropped spans, never a slower request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine import __version__
from engine.settings import Settings

Attributes = Mapping[str, str | bool | int | float]
OTLP_DEFAULT = "http://localhost:4318"
OTLP_TRACES_PATH = "/v1/traces"
JAEGER_THRIFT_PORT = 14268
JAEGER_OTLP_HTTP_PORT = 4318
EXPORT_TIMEOUT_S = 10.0


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

    def span(self, name: str, attributes: Attributes | None = None, *, server: bool = False,
             headers: Mapping[str, str] | None = None) -> AbstractContextManager[Span]:
        """A span around a block, child of the span current in this task. ``server``: a span for an
        incoming request, whose parent comes from the W3C ``traceparent``/``tracestate`` in ``headers``."""
        return NO_SPAN

    def shutdown(self) -> None:
        """Send what is queued and stop the exporter thread (blocking: up to the export timeout)."""


NO_TRACER = Tracer()


class _OtelSpan(Span):
    __slots__ = ("_span", "_status")

    def __init__(self, span: Any, status: Callable[[str], Any]) -> None:
        self._span = span
        self._status = status

    def set_attributes(self, attributes: Attributes) -> None:
        self._span.set_attributes(attributes)

    def fail(self, message: str) -> None:
        self._span.set_status(self._status(message))


class OtelTracer(Tracer):
    """Spans through the OpenTelemetry SDK, exported in batches over OTLP/HTTP with protobuf bodies."""

    enabled = True

    def __init__(self, service_name: str, endpoint: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        global _current_ids
        self.endpoint = endpoint
        self._closed = False
        resource = Resource.create({"service.name": service_name, "service.version": __version__})
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint,
                                                                              timeout=EXPORT_TIMEOUT_S)))
        self._tracer = self._provider.get_tracer("metrics-service", __version__)
        self._propagator = TraceContextTextMapPropagator()
        self._server, self._internal = SpanKind.SERVER, SpanKind.INTERNAL
        self._error = lambda message: Status(StatusCode.ERROR, message)
        _current_ids = _otel_ids

    @contextmanager
    def span(self, name: str, attributes: Attributes | None = None, *, server: bool = False,
             headers: Mapping[str, str] | None = None) -> Iterator[Span]:
        context = self._propagator.extract(headers) if headers is not None else None
        with self._tracer.start_as_current_span(name, context=context, attributes=attributes,
                                                kind=self._server if server else self._internal) as span:
            yield _OtelSpan(span, self._error)

    def shutdown(self) -> None:
        if not self._closed:
            self._closed = True
            self._provider.shutdown()


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


def _otel_ids() -> tuple[str, str] | None:
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


_current_ids: Callable[[], tuple[str, str] | None] | None = None
"""Set once a tracer is on in this process; until then no log line pays for a lookup."""


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the span active in this task or thread, None when there is none."""
    return None if _current_ids is None else _current_ids()
