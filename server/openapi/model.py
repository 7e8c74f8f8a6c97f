"""What one API operation declares: its parameters, its request body and its answers, as JSON Schema."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Param:
    """A query parameter. Query values are strings on the wire; ``schema`` may say integer or boolean,
    and validation converts the text before checking (``validation.coerce``)."""

    name: str
    schema: Schema
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One method on one route, keyed by the route's canonical pattern as aiohttp registers it.

    ``response`` is the schema of the success answer (``status``), or None when it has no body.
    ``prometheus`` marks the Prometheus-compatible endpoints: their errors use Prometheus's envelope
    and wording, so their parameters are checked by the handlers (server/promparams.py), not here.
    ``validate_body`` is False for pushed metrics: every ingestion path (one item, a batch of 10,000
    decoded at C speed, Pushgateway, remote write) goes through the same admission checks, whose
    refusal codes (invalid_value, invalid_label_value, ...) clients already read.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    response: Schema | None = None
    status: int = 200
    media: tuple[str, ...] = (JSON,)
    query: tuple[Param, ...] = ()
    path_schemas: dict[str, Schema] = field(default_factory=dict)
    body: Schema | None = None
    body_media: tuple[str, ...] = (JSON,)
    body_required: bool = True
    validate_body: bool = True
    body_code: str = "invalid_body"
    """The error code of a body that fails its schema: the one the handler's own checks use (invalid_rule, ...)."""
    prometheus: bool = False
    extra: dict[int, str] = field(default_factory=dict)
    """Further documented statuses of note (e.g. 409), each with what it means; any 4xx/5xx has the error shape."""

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def openapi_path(self) -> str:
        """The path template without aiohttp's regex parts: ``/api/notifications/{id}``."""
        return _PATH_PARAM.sub(r"{\1}", self.path)
