"""What the notifier knows of an alert, and one group's notification as every channel renders it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.alerts.model import AlertInstance
from engine.timefmt import rfc3339

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` of a firing alert in a webhook payload."""


@dataclass
class AlertView:
    """An alert instance as routing and grouping see it."""

    id: str
    fingerprint: str
    name: str
    rule_id: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None
    acknowledgement: dict[str, Any] | None = None
    silenced: bool = False

    @property
    def status(self) -> str:
        return "firing" if self.ends_at is None else "resolved"

    @classmethod
    def of(cls, inst: AlertInstance) -> AlertView:
        ack = inst.acknowledgement
        return cls(inst.id, inst.fingerprint, inst.name, inst.rule_id, dict(inst.labels), dict(inst.annotations),
                   inst.fired_at or inst.active_at, inst.resolved_at if inst.state == "resolved" else None,
                   None if ack is None else {"by": ack.by, "at": rfc3339(ack.at), "comment": ack.comment},
                   bool(inst.silenced_by))


@dataclass
class Notification:
    """One flush of one aggregation group for one receiver (channel)."""

    receiver: str
    route_key: str
    group_labels: dict[str, str]
    alerts: list[AlertView]
    reason: str
    external_url: str = ""
    destination: str | None = None
    """A per-rule channel's destination (Slack channel, email address) overriding the channel's."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def group_key(self) -> str:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(self.group_labels.items()))
        return f"{self.route_key}:{{{inner}}}"

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    def common_labels(self) -> dict[str, str]:
        return _common([a.labels for a in self.alerts])

    def common_annotations(self) -> dict[str, str]:
        return _common([a.annotations for a in self.alerts])

    def generator_url(self, alert: AlertView) -> str:
        return f"{self.external_url}/api/alerts/{alert.id}" if self.external_url else ""


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    out = dict(maps[0])
    for m in maps[1:]:
        out = {k: v for k, v in out.items() if m.get(k) == v}
    return out


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
