"""Requests checked against their operation's schemas before the handler runs: path and query
parameters, and JSON bodies. A refusal is our 400 naming the parameter or field; handlers keep only
what JSON Schema cannot say (PromQL, durations, references to stored things).

The Prometheus-compatible read endpoints are left to their handlers, which answer in Prometheus's
envelope and words (server/promparams.py).

jsonschema (~4 MB and ~0.1 s with its dependencies) is imported, and a schema compiled, when a value
first needs it: a parameter that the plain test of ``_Check`` shows valid passes without it (the
console's requests at start-up), every other value and every JSON body is judged by jsonschema, which
also words every refusal."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from server.bodies import json_body
from server.errors import ApiError, bad_parameter
from server.guards import body_limit
from server.openapi.model import JSON, Operation, Schema
from server.openapi.operations import OPERATIONS

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_DIGITS = re.compile(r"[0-9]{1,18}", re.ASCII)
_MAX_PROBLEM = 200
_PLAIN_KEYWORDS = frozenset({"type", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum",
                             "description"})
_PLAIN_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


class _Check:
    """One schema, compiled into a jsonschema validator on first need."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.plain = _plain_test(schema)
        self._validator: Draft202012Validator | None = None

    def error(self, value: Any) -> ValidationError | None:
        """The most relevant way ``value`` breaks the schema, None when it does not."""
        if self.plain is not None and self.plain(value):
            return None
        from jsonschema.exceptions import ValidationError, best_match

        too_long = _long_arrays(self.schema, value)  # found before jsonschema reads every item
        if too_long:
            name, limit, items = too_long[0]
            return ValidationError(f"{name} is too long", validator="maxItems", validator_value=limit,
                                   instance=items, path=[name])
        if self._validator is None:
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(self.schema)
        return best_match(self._validator.iter_errors(value))


def _long_arrays(schema: Schema, value: Any) -> list[tuple[str, int, list[Any]]]:
    """An object's array properties longer than their ``maxItems``: jsonschema would validate each of
    their items first (40,000 silence matchers in a 1 MiB body held the event loop 0.3 s)."""
    if not isinstance(value, dict):
        return []
    return [(name, sub["maxItems"], value[name]) for name, sub in schema.get("properties", {}).items()
            if "maxItems" in sub and isinstance(value.get(name), list) and len(value[name]) > sub["maxItems"]]


def _plain_test(schema: Schema) -> Callable[[Any], bool] | None:
    """A test that is True only for values the schema accepts (False sends the value to jsonschema), or
    None when the schema uses more than a parameter's keywords (type string or integer, enum,
    pattern, lengths, bounds)."""
    if not _PLAIN_KEYWORDS.issuperset(schema) or schema.get("type") not in _PLAIN_TYPES:
        return None
    tests = [_PLAIN_TYPES[schema["type"]]]
    if "enum" in schema:
        allowed = list(schema["enum"])
        tests.append(lambda v: any(type(e) is type(v) and e == v for e in allowed))
    if schema["type"] == "string":  # jsonschema applies the string keywords to strings only, bounds to numbers
        if "pattern" in schema:
            search = re.compile(schema["pattern"]).search
            tests.append(lambda v: search(v) is not None)
        low, high = schema.get("minLength"), schema.get("maxLength")
        tests.append(lambda v: _within(len(v), low, high))
    else:
        low, high = schema.get("minimum"), schema.get("maximum")
        tests.append(lambda v: _within(v, low, high))
    return lambda v: all(test(v) for test in tests)


def _within(size: float, low: float | None, high: float | None) -> bool:
    return (low is None or size >= low) and (high is None or size <= high)


class _Checks:
    """One operation's checks."""

    def __init__(self, op: Operation) -> None:
        self.op = op
        self.path = {name: _Check(schema) for name, schema in op.path_schemas.items()}
        self.query = [(p.name, p.required, p.schema, _Check(p.schema)) for p in op.query]
        self.body = (_Check(op.body) if op.body is not None and op.validate_body and JSON in op.body_media
                     else None)


class RequestValidator:
    """The validation middleware for every operation of ``operations.OPERATIONS``."""

    def __init__(self) -> None:
        self.checks = {op.key: _Checks(op) for op in OPERATIONS if not op.prometheus}

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is not None and request.match_info.http_exception is None:
            method = "GET" if request.method == "HEAD" else request.method
            checks = self.checks.get((method, resource.canonical))
            if checks is not None:
                await self.check(checks, request)
        return await handler(request)

    async def check(self, checks: _Checks, request: web.Request) -> None:
        for name, check in checks.path.items():
            raw = request.match_info[name]
            _check_parameter(name, raw, raw, check)
        for name, required, schema, check in checks.query:
            raw = request.query.get(name)
            if raw is None:
                if required:
                    raise bad_parameter(name, "", "required")
                continue
            _check_parameter(name, raw, coerce(raw, schema), check)
        if checks.body is not None and request.can_read_body:
            body = await json_body(request, checks.op.body_required, body_limit(request))
            error = checks.body.error(body)
            if error is not None:
                field = _field(error)
                raise ApiError(400, checks.op.body_code, f"{field or 'body'}: {_problem(error)}", {"field": field})


def coerce(raw: str, schema: Schema) -> Any:
    """A query value as the type its schema names (integers only, today); the text when it is not one."""
    if schema.get("type") == "integer" and _DIGITS.fullmatch(raw):
        return int(raw)
    return raw


def _check_parameter(name: str, raw: str, value: Any, check: _Check) -> None:
    error = check.error(value)
    if error is None:
        return
    exc = bad_parameter(name, raw[:_MAX_PROBLEM], _problem(error))
    if error.validator == "enum":
        exc.details["allowed"] = list(error.validator_value)
    raise exc


def _field(error: ValidationError) -> str:
    """Where the error is, as ``labels.team`` or ``metrics[3].value``; a missing property named too."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [k for k in error.validator_value if isinstance(error.instance, dict) and k not in error.instance]
        path += missing[:1]
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(error: ValidationError) -> str:
    """What is wrong, without repeating the value (which may be long)."""
    kind, expected = error.validator, error.validator_value
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        return f"must be of type {' or '.join(names)}"
    if kind == "enum":
        return f"expected one of {', '.join(map(str, expected))}"
    if kind == "const":
        return f"must be {expected!r}"
    if kind == "required":
        return "required"
    if kind in ("minimum", "maximum"):
        return f"must be {'at least' if kind == 'minimum' else 'at most'} {expected}"
    if kind in ("minItems", "minLength"):
        return f"must have at least {expected} {'items' if kind == 'minItems' else 'characters'}"
    if kind == "maxItems":
        return f"must have at most {expected} items"
    if kind == "maxLength":
        return f"must be at most {expected} characters"
    if kind == "pattern":
        return f"must match {expected}"
    return error.message[:_MAX_PROBLEM]

