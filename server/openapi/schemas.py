"""JSON Schema fragments shared by several operations (2020-12 dialect, as OpenAPI 3.1 uses)."""

from __future__ import annotations

from server.openapi.model import Schema

OBJECT: Schema = {"type": "object"}
STRING: Schema = {"type": "string"}
NUMBER: Schema = {"type": "number"}
TIME: Schema = {"type": ["string", "null"], "description": "RFC 3339 UTC"}
LABELS: Schema = {"type": "object", "additionalProperties": {"type": "string"}}

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string", "description": "stable, machine-readable: invalid_parameter, not_found, ..."},
            "message": {"type": "string", "description": "for people; a bad field's name leads it"},
            "details": {"description": "what failed: the field or parameter, limits, the request id of a 500"},
        },
    }},
}
"""Every error of our API and of the guards in front of it."""

PROM_ERROR: Schema = {
    "type": "object",
    "required": ["status", "errorType", "error"],
    "properties": {"status": {"const": "error"}, "errorType": STRING, "error": STRING},
}
"""The Prometheus-compatible endpoints' errors, as Prometheus answers them."""


def obj(required: dict[str, Schema] | None = None, optional: dict[str, Schema] | None = None) -> Schema:
    """An object with these properties (required ones must be there); other properties are allowed,
    so adding a field to an answer is not a breaking change."""
    properties = {**(required or {}), **(optional or {})}
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def prom_success(data: Schema) -> Schema:
    """Prometheus's success envelope around ``data``."""
    return obj({"status": {"const": "success"}, "data": data}, {"warnings": array(STRING), "infos": array(STRING)})


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


DURATION: Schema = {"type": "string", "pattern": r"^\s*\S+\s*$", "maxLength": 64,
                    "description": "a Prometheus duration such as 15s, 5m, 1h30m, or plain seconds"}
SINCE: Schema = {"type": "string", "maxLength": 64,
                 "description": "a duration back from now (1h) or an RFC 3339 time"}

ALERT: Schema = obj({"id": STRING, "name": STRING, "state": enum("pending", "firing", "resolved"),
                     "labels": LABELS, "annotations": LABELS},
                    {"fingerprint": STRING, "severity": {"type": ["string", "null"]}, "activeAt": TIME,
                     "acknowledgement": {"type": ["object", "null"]}})
RULE: Schema = obj({"id": STRING, "name": STRING}, {"type": STRING, "expr": STRING, "editable": {"type": "boolean"}})
SILENCE: Schema = obj({"id": STRING}, {"matchers": array(OBJECT), "startsAt": TIME, "endsAt": TIME,
                                       "createdBy": STRING, "comment": STRING})
CHANNEL: Schema = obj({"name": STRING, "type": STRING})
SERVICE_CHECK: Schema = obj({"name": STRING})
TARGET_ENTRY: Schema = obj({"id": STRING, "job": STRING})
NOTIFICATION: Schema = obj({"id": {"type": "integer"}}, {"channel": STRING, "status": STRING})
