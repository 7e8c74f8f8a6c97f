"""The validator's plain parameter checks (which let a request through without importing jsonschema)
must never pass a value jsonschema refuses: every parameter schema of the API, against values on
both sides of each of its limits."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from server.openapi.operations import OPERATIONS
from server.openapi.validation import _Check, _plain_test, coerce

SCHEMAS = {repr(s): s for op in OPERATIONS if not op.prometheus
           for s in [*op.path_schemas.values(), *(p.schema for p in op.query)]}


def candidates(schema: dict) -> list[str]:
    """Raw query texts around the schema's limits (lengths, bounds, enum members and near misses)."""
    out = ["", " ", "0", "1", "-1", "01", "15s", " 5m ", "1h30m", "x", "é" * 64, "é" * 65, "a b", "true", "1.5",
           "9" * 18, "9" * 19, "\n", "2026-12-03T12:00:00Z"]
    for key in ("maxLength", "minLength"):
        if key in schema:
            n = schema[key]
            out += ["a" * max(n - 1, 0), "a" * n, "a" * (n + 1)]
    for key in ("minimum", "maximum"):
        if key in schema:
            n = schema[key]
            out += [str(n - 1), str(n), str(n + 1)]
    for member in schema.get("enum", []):
        out += [str(member), str(member).upper(), f"{member} ", str(member)[:-1]]
    return out


@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=list(SCHEMAS))
def test_a_plainly_passed_parameter_is_one_jsonschema_accepts(schema: dict) -> None:
    plain = _plain_test(schema)
    assert plain is not None, "every parameter schema of the API has a plain check today"
    judge = Draft202012Validator(schema)
    passed = 0
    for raw in candidates(schema):
        value = coerce(raw, schema)
        if plain(value):
            passed += 1
            assert judge.is_valid(value), (raw, schema)
        assert (_Check(schema).error(value) is None) == judge.is_valid(value), (raw, schema)
    assert passed, f"no candidate passes {schema}: the test says nothing about it"


def test_schemas_beyond_parameters_go_to_jsonschema() -> None:
    assert _plain_test({"type": "object", "properties": {"a": {"type": "string"}}}) is None
    assert _plain_test({"type": "string", "format": "date-time"}) is None
    assert _plain_test({"type": "number"}) is None
    assert _plain_test({"enum": [True]}) is None


def test_an_integer_enum_does_not_take_a_boolean() -> None:
    plain = _plain_test({"type": "integer", "enum": [1, 2]})
    assert plain is not None
    assert plain(1) and not plain(True) and not plain("1")
