"""An alert instance: one episode of one label set of one rule, from pending to resolved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.compat.strconv import NOT_UTF8, is_valid_utf8

MAX_COMMENT_CHARS = 10_000
LIVE_STATES = ("pending", "firing")
SEVERITY_ORDER = {"critical": 4, "page": 4, "high": 3, "error": 3, "warning": 2, "medium": 2, "low": 1, "info": 0,
                  "none": 0}


def comment_problem(comment: Any) -> str | None:
    """What is wrong with a user's comment (on a silence, acknowledgement or resolution), if anything."""
    if not isinstance(comment, str):
        return "must be a string"
    if not is_valid_utf8(comment):
        return NOT_UTF8
    if len(comment) > MAX_COMMENT_CHARS:
        return f"must be at most {MAX_COMMENT_CHARS} characters"
    return None


@dataclass(slots=True)
class Acknowledgement:
    by: str
    at: float
    comment: str = ""
    expires_at: float | None = None


@dataclass(slots=True)
class AlertInstance:
    id: str
    rule_id: str
    fingerprint: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    value: float
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    acknowledgement: Acknowledgement | None = None
    silenced_by: list[str] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    """The host's top processes when the alert fired (pid, user, cpu_percent, rss_bytes, command)."""

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AlertInstance:
        ack = record.get("acknowledgement")
        return cls(**{**record, "acknowledgement": Acknowledgement(**ack) if ack else None})

    def to_json(self, rfc3339: Callable[[float], str]) -> dict[str, Any]:
        """The API shape (camelCase, RFC 3339 times)."""
        def t(v: float | None) -> str | None:
            return None if v is None else rfc3339(v)

        ack = self.acknowledgement
        value = self.value
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "name": self.name,
            "ruleId": self.rule_id,
            "state": self.state,
            "severity": self.severity,
            "labels": self.labels,
            "annotations": self.annotations,
            "value": value if value == value and value not in (float("inf"), float("-inf")) else str(value),
            "activeAt": t(self.active_at),
            "firedAt": t(self.fired_at),
            "resolvedAt": t(self.resolved_at),
            "resolvedBy": self.resolved_by,
            "acknowledgement": None if ack is None else {
                "by": ack.by, "at": rfc3339(ack.at), "comment": ack.comment, "expiresAt": t(ack.expires_at)},
            "silencedBy": list(self.silenced_by),
            "processes": list(self.processes),
        }


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    instance_id: str
    ts: float
    kind: str  # pending | firing | acknowledged | unacknowledged | silenced | unsilenced | resolved
    by: str
    detail: str = ""

    def to_json(self, rfc3339: Callable[[float], str]) -> dict[str, Any]:
        return {"at": rfc3339(self.ts), "event": self.kind, "by": self.by, "detail": self.detail}
