"""Protobuf wire format written by hand, shared by the encoders that skip the protobuf package for
speed (OTLP trace export, remote write out): a varint and a length-delimited field are all they need.
Decoding goes through the protobuf package instead (engine/ingest/protobuf.py)."""

from __future__ import annotations


def varint(n: int) -> bytes:
    """Protobuf's base-128 varint; a negative int64 takes its ten-byte two's complement form."""
    if 0 <= n < 0x80:
        return bytes((n,))
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field (wire type 2); ``tag`` is the encoded key, e.g. b"\\x0a" for field 1."""
    return tag + varint(len(body)) + body
