"""Prometheus remote write 1.0 in: a snappy block-compressed protobuf ``WriteRequest``.

The message definition is the part of prompb/remote.proto and types.proto that 1.0 uses (labels,
samples, metadata), declared here so no generated code or protoc is needed; the ``protobuf``
package's native (upb) parser decodes it. Exemplars and native histograms are left unread.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.ingest.protobuf import message_classes
from engine.tsdb.types import Labels, Metadata

MAX_DECODED_BYTES = 16 << 20
"""Largest WriteRequest accepted once decompressed (Prometheus sends a few hundred KiB at most; 16 MiB
of the smallest series decode to ~0.8M of them, a few hundred MB of Python objects at worst)."""
METADATA_TYPES = ("untyped", "counter", "gauge", "histogram", "histogram", "summary", "gauge", "gauge")
"""MetricMetadata.MetricType by number: UNKNOWN, COUNTER, GAUGE, HISTOGRAM, GAUGEHISTOGRAM, SUMMARY,
INFO, STATESET, as our types."""


class RemoteWriteError(ValueError):
    """A payload that cannot be decoded: the sender must not retry it (HTTP 400)."""


@dataclass(slots=True)
class WriteRequest:
    series: list[tuple[Labels, list[int], list[float]]]
    metadata: list[tuple[str, Metadata]]


@functools.cache
def message_types() -> dict[str, Any]:
    """The WriteRequest message classes (``message_types()["WriteRequest"]`` is the typed one, as a
    sender builds it), made by the first remote write."""
    return message_classes("metrics_service.prompb", {
        "Label": [("name", 1, "string", False, ""), ("value", 2, "string", False, "")],
        "Sample": [("value", 1, "double", False, ""), ("timestamp", 2, "int64", False, "")],
        "TimeSeries": [("labels", 1, "message", True, "Label"), ("samples", 2, "message", True, "Sample")],
        "MetricMetadata": [("type", 1, "int32", False, ""), ("metric_family_name", 2, "string", False, ""),
                           ("help", 4, "string", False, ""), ("unit", 5, "string", False, "")],
        "WriteRequest": [("timeseries", 1, "message", True, "TimeSeries"),
                         ("metadata", 3, "message", True, "MetricMetadata")],
        # The same wire format with each label and sample left as its encoded bytes: reading fields of
        # parsed messages from Python costs ~8 us a series, a bytes object is a cache key as it is.
        "RawTimeSeries": [("labels", 1, "bytes", True, ""), ("samples", 2, "bytes", True, "")],
        "RawWriteRequest": [("timeseries", 1, "message", True, "RawTimeSeries"),
                            ("metadata", 3, "message", True, "MetricMetadata")],
    })


_DOUBLE = struct.Struct("<d")
LABEL_CACHE_MAX = 100_000
"""Label sets remembered by their encoded bytes (~0.5 KB each); the cache starts over when full."""


def decoded_length(body: bytes) -> int:
    """The uncompressed length a snappy block announces in its leading varint."""
    result = shift = 0
    for i, byte in enumerate(body[:10]):
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result
        shift += 7
        if i == 9:
            break
    raise RemoteWriteError("snappy: the block does not start with its length")


class Decoder:
    """Decodes WriteRequests, remembering label sets across requests (a sender repeats its series);
    used from one thread at a time."""

    def __init__(self) -> None:
        self._labels: dict[tuple[bytes, ...], Labels] = {}
        self._times: dict[bytes, int] = {}

    def decode(self, body: bytes) -> WriteRequest:
        """Decompress and decode a WriteRequest (RemoteWriteError when it is not one); blocking."""
        import cramjam  # loaded by the first remote write, not by every server
        from google.protobuf.message import DecodeError

        size = decoded_length(body)
        if size > MAX_DECODED_BYTES:
            raise RemoteWriteError(f"snappy: decoded size {size} is over the {MAX_DECODED_BYTES}-byte limit")
        try:
            raw = bytes(cramjam.snappy.decompress_raw(body))
        except cramjam.DecompressionError as exc:
            raise RemoteWriteError(f"snappy: {exc}") from None
        req = message_types()["RawWriteRequest"]()
        try:
            req.ParseFromString(raw)
            series = [(self._label_set(tuple(ts.labels)), *self._samples(ts.samples)) for ts in req.timeseries]
        except DecodeError as exc:
            raise RemoteWriteError(f"protobuf: {exc}") from None
        metadata = [(m.metric_family_name, Metadata(METADATA_TYPES[m.type] if 0 <= m.type < len(METADATA_TYPES)
                                                    else "untyped", m.help, m.unit))
                    for m in req.metadata]
        return WriteRequest(series, metadata)

    def _label_set(self, encoded: tuple[bytes, ...]) -> Labels:
        labels = self._labels.get(encoded)
        if labels is None:
            parse = message_types()["Label"].FromString
            pairs = [parse(b) for b in encoded]  # checks the strings are UTF-8
            labels = tuple(sorted((lb.name, lb.value) for lb in pairs if lb.value))
            if len(self._labels) >= LABEL_CACHE_MAX:
                self._labels.clear()
            self._labels[encoded] = labels
        return labels

    def _samples(self, encoded: Iterable[bytes]) -> tuple[list[int], list[float]]:
        """Samples as Prometheus encodes them (value, then timestamp) are read directly, timestamps
        through a small cache (a request's samples share a few); any other layout by the parser."""
        ts: list[int] = []
        vals: list[float] = []
        times = self._times
        for b in encoded:
            if len(b) > 10 and b[0] == 0x09 and b[9] == 0x10:
                stamp = b[10:]
                t = times.get(stamp)
                if t is None:
                    t = message_types()["Sample"].FromString(b).timestamp
                    if len(times) >= 4096:
                        times.clear()
                    times[stamp] = t
                ts.append(t)
                vals.append(_DOUBLE.unpack_from(b, 1)[0])
            else:
                sample = message_types()["Sample"].FromString(b)
                ts.append(sample.timestamp)
                vals.append(sample.value)
        return ts, vals
