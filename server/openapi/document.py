"""The OpenAPI 3.1 document, rendered from the operations table and the route-role table."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from server.auth.routes import AUTHENTICATED, PUBLIC, SCRAPE, route_role
from server.openapi.model import Operation, Schema
from server.openapi.operations import OPERATIONS
from server.openapi.schemas import ERROR, PROM_ERROR

DOCUMENT = web.AppKey("openapi_document", bytes)
"""The document as served, encoded once per app."""

_ERROR_REF: Schema = {"$ref": "#/components/schemas/Error"}
_PROM_ERROR_REF: Schema = {"anyOf": [{"$ref": "#/components/schemas/PrometheusError"}, _ERROR_REF]}
_CREDENTIALS = [{"bearerAuth": []}, {"apiKey": []}]
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "a JWT (`metrics-service token create`), or an API key (msk_...) as the token"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "an API key from `metrics-service apikey create`"},
}


def build(auth: bool, metrics_auth: bool) -> dict[str, Any]:
    """The document for a server with authentication on or off (off: no operation asks for credentials)."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, _role(op, auth, metrics_auth))
    return {
        "openapi": "3.1.0",
        "info": {"title": "metrics-service", "version": "1",
                 "description": "Metrics, alerts, health checks and notifications for a booking platform. "
                                "Every error of our API is `{\"error\": {\"code\", \"message\", \"details\"}}`; "
                                "the Prometheus-compatible /api/v1 query endpoints answer in Prometheus's envelope."},
        "paths": paths,
        "components": {"schemas": {"Error": ERROR, "PrometheusError": PROM_ERROR},
                       "securitySchemes": SECURITY_SCHEMES},
    }


def encoded(auth: bool, metrics_auth: bool) -> bytes:
    return json.dumps(build(auth, metrics_auth), separators=(",", ":")).encode()


def _role(op: Operation, auth: bool, metrics_auth: bool) -> str | None:
    """The role an operation needs on this server; None when it is open to all."""
    role = route_role(op.path, op.method)
    if role is None:
        raise RuntimeError(f"server/auth/routes.py declares no role for {op.method} {op.path}")
    if not auth or role == PUBLIC or (role == SCRAPE and not metrics_auth):
        return None
    return "viewer" if role == SCRAPE else role


def _operation(op: Operation, role: str | None) -> dict[str, Any]:
    error = _PROM_ERROR_REF if op.prometheus else _ERROR_REF
    error_content = {"application/json": {"schema": error}}
    success: dict[str, Any] = {"description": "success"}
    if op.response is not None:
        success["content"] = {media: {"schema": op.response} for media in op.media}
    responses: dict[str, Any] = {str(op.status): success}
    for status, meaning in op.extra.items():
        responses[str(status)] = {"description": meaning, "content": error_content}
    if role is not None:
        responses["401"] = {"description": "no valid credentials", "content": error_content}
        responses["403"] = {"description": f"the credentials' role does not grant {role}", "content": error_content}
    responses["4XX"] = {"description": "refused: bad parameter or body, unknown id, limits", "content": error_content}
    responses["5XX"] = {"description": "query past its deadline (503), disk full (507)", "content": error_content}
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
                           "responses": responses}
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": op.path_schemas.get(name, {"type": "string"})} for name in op.path_params]
    parameters += [{"name": p.name, "in": "query", "required": p.required, "schema": p.schema,
                    **({"description": p.description} if p.description else {})} for p in op.query]
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required,
                              "content": {media: {"schema": op.body} for media in op.body_media}}
    if role is None:
        out["security"] = []
    else:
        out["security"] = _CREDENTIALS
        out["x-required-role"] = role
        out["description"] = f"Needs the {role} role." if role != AUTHENTICATED else "Needs any valid credentials."
    return out
