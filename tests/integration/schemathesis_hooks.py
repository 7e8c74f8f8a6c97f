"""Schemathesis hooks for the fuzz test (loaded through SCHEMATHESIS_HOOKS): bodies of the protobuf
media types are sent as the generated text's bytes, which the server must refuse cleanly (4xx)."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.serializer("application/x-protobuf", "application/vnd.google.protobuf")
def raw_bytes(ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
