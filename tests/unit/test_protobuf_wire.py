"""The hand-written wire format (engine/protobuf.py) against the protobuf package's own encoder:
OTLP export and remote write out both send what these helpers write."""

from __future__ import annotations

import pytest

from engine.ingest.protobuf import message_classes
from engine.protobuf import field, varint

_M = message_classes("metrics_service.wiretest", {
    "M": [("n", 1, "int64", False, ""), ("data", 2, "bytes", False, "")],
})["M"]


@pytest.mark.parametrize("n", [1, 127, 128, 300, 16_383, 16_384, 1_700_000_000_000, 2**63 - 1, -1, -2**63])
def test_a_varint_is_what_protobuf_writes_for_an_int64(n: int) -> None:
    assert b"\x08" + varint(n) == _M(n=n).SerializeToString()


@pytest.mark.parametrize("size", [1, 127, 128, 70_000])
def test_a_length_delimited_field_is_what_protobuf_writes_for_bytes(size: int) -> None:
    body = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert field(b"\x12", body) == _M(data=body).SerializeToString()
    assert _M.FromString(field(b"\x12", body)).data == body
