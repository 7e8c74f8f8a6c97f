"""OTLP/HTTP trace export: finished spans encoded as an ExportTraceServiceRequest (protobuf wire format,
written by hand for the few fields we send) and POSTed in batches from a thread of its own.

Why not the OpenTelemetry SDK's exporter: its generic encoder and span objects cost about six times
our per-request budget in Python (bench/bench_tracing.py measured 15-26 % fewer /api/v1/query
requests a second with it); this encoder caches the bytes of repeated attributes and keeps a span to
a slotted record. tests/integration/test_tracing.py decodes what it sends with the official
opentelemetry-proto classes.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from engine.logs import log_fields
from engine.protobuf import field as _field
from engine.protobuf import varint as _varint
from engine.tracing import CURRENT_SPAN, AttributeDict, Attributes, Span

log = logging.getLogger(__name__)

BATCH_SIZE = 512
MAX_QUEUE = 4096
"""Spans waiting for export; past it the oldest are dropped (a collector that is down costs spans, not memory)."""
EXPORT_DELAY_S = 1.0
EXPORT_TIMEOUT_S = 10.0
RETRY_DELAYS_S = (0.5, 2.0)
RETRYABLE = frozenset({429, 502, 503, 504})
MAX_STRING = 1024
"""Longest attribute value or status message sent (a URL path or an error can be long)."""
_CACHED_STRING = 128
_CACHE_SIZE = 4096

KIND_INTERNAL, KIND_SERVER = 1, 2
STATUS_ERROR = 2
_PACK_TIMES = struct.Struct("<BQBQ").pack
"""Span fields 7 and 8 (fixed64 start and end), tags included."""
_PACK_D = struct.Struct("<d").pack


class LiveSpan(Span):
    """A span while it runs and until it is exported: one object, ids as integers (bytes only when
    encoded, on the exporter's thread). It owns the attributes dict it is given."""

    __slots__ = ("trace_id", "span_id", "parent_id", "name", "kind", "start_ns", "end_ns", "attributes",
                 "trace_state", "error", "sampled", "_exporter", "_token")

    def __init__(self, exporter: Exporter, trace_id: int, span_id: int, parent_id: int, name: str, kind: int,
                 attributes: AttributeDict, trace_state: str, sampled: bool) -> None:
        self._exporter = exporter
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.trace_state = trace_state
        self.sampled = sampled
        self.error: str | None = None
        self.end_ns = 0
        self.start_ns = time.time_ns()

    def __enter__(self) -> LiveSpan:
        self._token = CURRENT_SPAN.set(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.end_ns = time.time_ns()
        CURRENT_SPAN.reset(self._token)
        if exc is not None and self.error is None:
            self.error = f"{type(exc).__name__}: {exc}"
        if self.sampled:
            self._exporter.add(self)

    def set_attributes(self, attributes: Attributes) -> None:
        self.attributes.update(attributes)

    def fail(self, message: str) -> None:
        self.error = message


def _text(value: str) -> bytes:
    return value[:MAX_STRING].encode("utf-8", "replace")


def _any_value(value: str | bool | int | float) -> bytes:
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _PACK_D(value)
    return _field(b"\x0a", _text(str(value)))


def _key_value(key: str, value: str | bool | int | float) -> bytes:
    return _field(b"\x0a", _text(key)) + _field(b"\x12", _any_value(value))


class Encoder:
    """ExportTraceServiceRequest bytes for one resource and scope. The bytes of short attributes are
    cached: most repeat on every span (a method, a route, a rule group's name)."""

    def __init__(self, resource: Mapping[str, str], scope: str, version: str) -> None:
        attrs = b"".join(_field(b"\x0a", _key_value(k, v)) for k, v in resource.items())
        self._resource = _field(b"\x0a", attrs)
        self._scope = _field(b"\x0a", _field(b"\x0a", _text(scope)) + _field(b"\x12", _text(version)))
        self._cache: dict[tuple[tuple[str, object], ...], bytes] = {}
        self._names: dict[tuple[str, int], bytes] = {}

    def _attributes(self, attributes: AttributeDict) -> bytes:
        """All of a span's attributes, cached whole when none is a float or a long string: a request's
        method, path, route, client and status repeat from one span to the next. (A key keeps one type
        of value, so True and 1 never meet under one key.)"""
        items = tuple(attributes.items())
        encoded = self._cache.get(items)
        if encoded is None:
            encoded = b"".join(_field(b"\x4a", _key_value(k, v)) for k, v in items)
            if not any(type(v) is float or (type(v) is str and len(v) > _CACHED_STRING) for _, v in items):
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
                self._cache[items] = encoded
        return encoded

    def _name(self, name: str, kind: int) -> bytes:
        """Span fields 5 and 6 (name and kind), cached: a handful of names cover every span."""
        key = (name, kind)
        encoded = self._names.get(key)
        if encoded is None:
            encoded = _field(b"\x2a", _text(name)) + b"\x30" + _varint(kind)
            if len(self._names) < _CACHE_SIZE:
                self._names[key] = encoded
        return encoded

    def span(self, s: LiveSpan) -> bytes:
        parts = [b"\x0a\x10", s.trace_id.to_bytes(16, "big"), b"\x12\x08", s.span_id.to_bytes(8, "big")]
        if s.trace_state:
            parts.append(_field(b"\x1a", _text(s.trace_state)))
        if s.parent_id:
            parts += (b"\x22\x08", s.parent_id.to_bytes(8, "big"))
        parts += (self._name(s.name, s.kind), _PACK_TIMES(0x39, s.start_ns, 0x41, s.end_ns))
        parts.append(self._attributes(s.attributes))
        if s.error is not None:
            parts.append(_field(b"\x7a", _field(b"\x12", _text(s.error)) + b"\x18" + _varint(STATUS_ERROR)))
        return _field(b"\x12", b"".join(parts))

    def request(self, spans: Iterable[LiveSpan]) -> bytes:
        scope_spans = _field(b"\x12", self._scope + b"".join(self.span(s) for s in spans))
        return _field(b"\x0a", self._resource + scope_spans)


@dataclass
class Exporter:
    """A daemon thread that sends queued spans every EXPORT_DELAY_S (sooner once BATCH_SIZE wait)."""

    endpoint: str
    encoder: Encoder
    delay_s: float = EXPORT_DELAY_S
    dropped: int = 0
    sent: int = 0
    _queue: deque[LiveSpan] = field(default_factory=lambda: deque(maxlen=MAX_QUEUE))
    _wake: threading.Event = field(default_factory=threading.Event)
    _stopping: bool = False
    _thread: threading.Thread | None = None
    _last_warning: float = float("-inf")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="otlp-export", daemon=True)
        self._thread.start()

    def add(self, span: LiveSpan) -> None:
        """Queue a finished span (any thread); never blocks."""
        queue = self._queue
        if len(queue) == MAX_QUEUE:
            self.dropped += 1
        queue.append(span)
        if len(queue) == BATCH_SIZE:
            self._wake.set()

    def shutdown(self) -> None:
        """Send what is queued (one attempt per batch) and end the thread."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(EXPORT_TIMEOUT_S * 2)
        self._thread = None

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.delay_s)
            self._wake.clear()
            self._drain()
        self._drain()

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch = [queue.popleft() for _ in range(min(BATCH_SIZE, len(queue)))]
            try:
                body = self.encoder.request(batch)
            except Exception:  # a bug in encoding costs this batch, never the thread
                log.exception("encoding spans failed")
                continue
            self._send(body, len(batch))

    def _send(self, body: bytes, count: int) -> None:
        request = urllib.request.Request(self.endpoint, data=body, method="POST",
                                         headers={"Content-Type": "application/x-protobuf"})
        attempts = 1 if self._stopping else len(RETRY_DELAYS_S) + 1
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(request, timeout=EXPORT_TIMEOUT_S) as response:
                    response.read()
                self.sent += count
                return
            except urllib.error.HTTPError as exc:
                error, retry = f"HTTP {exc.code}", exc.code in RETRYABLE
            except (OSError, ValueError) as exc:  # refused, timed out, DNS, TLS
                error, retry = f"{type(exc).__name__}: {exc}", True
            if not retry or attempt == attempts - 1:
                break
            time.sleep(RETRY_DELAYS_S[attempt])
        self.dropped += count
        now = time.monotonic()
        if now - self._last_warning >= 60.0:  # one line a minute while the collector is unreachable
            self._last_warning = now
            log.warning("exporting spans failed; they are dropped",
                        extra=log_fields(endpoint=self.endpoint, error=error, spans=count,
                                         dropped_total=self.dropped))
