"""The JSON depth pre-scan: brackets inside strings and escapes do not count, unclosed ones do."""

from __future__ import annotations

import json

import pytest

from server.bodies import MAX_JSON_DEPTH, nesting_exceeds


def nested(depth: int) -> bytes:
    return json.dumps(json.loads("[" * depth + "]" * depth)).encode()


@pytest.mark.parametrize(("raw", "too_deep"), [
    (nested(MAX_JSON_DEPTH), False),
    (nested(MAX_JSON_DEPTH + 1), True),
    (json.dumps({"a": "[" * 1000, "b": '\\"[[[' * 100, "c": [[1], [2]]}).encode(), False),
    (json.dumps({"a": "\\"}).encode() + b"[" * (MAX_JSON_DEPTH + 1), True),  # an escaped backslash ends no string
    (b'{"a":' + b"[" * 100_000, True),  # unclosed: json would recurse as deep
    (b"[" + b"[]," * 10_000 + b"[]]", False),  # wide, not deep
    (b"[" * 10 + b"]" * 20, False),  # malformed but shallow: json.loads names the problem
])
def test_nesting_exceeds(raw, too_deep):
    assert nesting_exceeds(raw) is too_deep
