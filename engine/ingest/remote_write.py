"""Prometheus remote write 1.0 in: a snappy block-compressed protobuf ``WriteRequest``.

The message definition is the part of prompb/remote.proto and types.proto that 1.0 uses (labels,
samples, metadata), declared here so no generated code or protoc is needed; the ``protobuf``
package's native (upb) parser decodes it. Exemplars and native histograms are left unread.
"""

from __future__ import annotations

from dataclasses import dataclass

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from engine.tsdb.types import Labels, Metadata

MAX_DECODED_BYTES = 32 << 20
"""Largest WriteRequest accepted once decompressed (Prometheus sends a few hundred KiB at most)."""
METADATA_TYPES = ("untyped", "counter", "gauge", "histogram", "histogram", "summary", "gauge", "gauge")
"""MetricMetadata.MetricType by number: UNKNOWN, COUNTER, GAUGE, HISTOGRAM, GAUGEHISTOGRAM, SUMMARY,
INFO, STATESET, as our types."""


class RemoteWriteError(ValueError):
    """A payload that cannot be decoded: the sender must not retry it (HTTP 400)."""


@dataclass(slots=True)
class WriteRequest:
    series: list[tuple[Labels, list[int], list[float]]]
    metadata: list[tuple[str, Metadata]]


def _message_class() -> type[message.Message]:
    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="metrics_service_remote_write.proto",
                                               package="metrics_service.prompb", syntax="proto3")

    def add(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        m = proto.message_type.add(name=name)
        for field_name, number, type_, label, type_name in fields:
            fd = m.field.add(name=field_name, number=number, type=type_, label=label)
            if type_name:
                fd.type_name = type_name

    opt, rep = f.LABEL_OPTIONAL, f.LABEL_REPEATED
    add("Label", ("name", 1, f.TYPE_STRING, opt, ""), ("value", 2, f.TYPE_STRING, opt, ""))
    add("Sample", ("value", 1, f.TYPE_DOUBLE, opt, ""), ("timestamp", 2, f.TYPE_INT64, opt, ""))
    add("TimeSeries", ("labels", 1, f.TYPE_MESSAGE, rep, ".metrics_service.prompb.Label"),
        ("samples", 2, f.TYPE_MESSAGE, rep, ".metrics_service.prompb.Sample"))
    add("MetricMetadata", ("type", 1, f.TYPE_INT32, opt, ""), ("metric_family_name", 2, f.TYPE_STRING, opt, ""),
        ("help", 4, f.TYPE_STRING, opt, ""), ("unit", 5, f.TYPE_STRING, opt, ""))
    add("WriteRequest", ("timeseries", 1, f.TYPE_MESSAGE, rep, ".metrics_service.prompb.TimeSeries"),
        ("metadata", 3, f.TYPE_MESSAGE, rep, ".metrics_service.prompb.MetricMetadata"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("metrics_service.prompb.WriteRequest"))


_WriteRequest = _message_class()


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


def decode(body: bytes) -> WriteRequest:
    """Decompress and decode a WriteRequest (RemoteWriteError when it is not one); blocking, call
    it off the event loop for large bodies."""
    size = decoded_length(body)
    if size > MAX_DECODED_BYTES:
        raise RemoteWriteError(f"snappy: decoded size {size} is over the {MAX_DECODED_BYTES}-byte limit")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise RemoteWriteError(f"snappy: {exc}") from None
    req = _WriteRequest()
    try:
        req.ParseFromString(raw)
    except message.DecodeError as exc:
        raise RemoteWriteError(f"protobuf: {exc}") from None
    series = []
    for ts in req.timeseries:
        labels = tuple(sorted((lb.name, lb.value) for lb in ts.labels if lb.value))
        samples = ts.samples
        series.append((labels, [s.timestamp for s in samples], [s.value for s in samples]))
    metadata = [(m.metric_family_name, Metadata(METADATA_TYPES[m.type] if 0 <= m.type < len(METADATA_TYPES)
                                                else "untyped", m.help, m.unit))
                for m in req.metadata]
    return WriteRequest(series, metadata)
