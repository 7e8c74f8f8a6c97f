"""Requests checked against their operation's schemas before the handler runs: path and query
parameters, and JSON bodies. A refusal is our 400 naming the parameter or field; handlers keep only
what JSON Schema cannot say (PromQL, durations, references to stored things).

The Prometheus-compatible read endpoints are left to their handlers, which answer in Prometheus's
envelope and words (server/promparams.py)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from server.bodies import json_body
from server.errors import ApiError, bad_parameter
from server.guards import body_limit
from server.openapi.model import JSON, Operation, Schema
from server.openapi.operations import OPERATIONS

_DIGITS = re.compile(r"[0-9]{1,18}", re.ASCII)
_MAX_PROBLEM = 200


def _validator(schema: Schema) -> Draft202012Validator:
    return Draft202012Validator(schema)


class _Checks:
    """One operation's compiled validators."""

    def __init__(self, op: Operation) -> None:
        self.op = op
        self.path = {name: _validator(schema) for name, schema in op.path_schemas.items()}
        self.query = [(p.name, p.required, p.schema, _validator(p.schema)) for p in op.query]
        self.body = (_validator(op.body) if op.body is not None and op.validate_body and JSON in op.body_media
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
        for name, validator in checks.path.items():
            raw = request.match_info[name]
            _check_parameter(name, raw, raw, validator)
        for name, required, schema, validator in checks.query:
            raw = request.query.get(name)
            if raw is None:
                if required:
                    raise bad_parameter(name, "", "required")
                continue
            _check_parameter(name, raw, coerce(raw, schema), validator)
        if checks.body is not None and request.can_read_body:
            body = await json_body(request, checks.op.body_required, body_limit(request))
            error = best_match(checks.body.iter_errors(body))
            if error is not None:
                field = _field(error)
                raise ApiError(400, checks.op.body_code, f"{field or 'body'}: {_problem(error)}", {"field": field})


def coerce(raw: str, schema: Schema) -> Any:
    """A query value as the type its schema names (integers only, today); the text when it is not one."""
    if schema.get("type") == "integer" and _DIGITS.fullmatch(raw):
        return int(raw)
    return raw


def _check_parameter(name: str, raw: str, value: Any, validator: Draft202012Validator) -> None:
    error = best_match(validator.iter_errors(value))
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
    if kind == "maxLength":
        return f"must be at most {expected} characters"
    if kind == "pattern":
        return f"must match {expected}"
    return error.message[:_MAX_PROBLEM]

