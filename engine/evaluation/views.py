"""JSON views of rules and alerts: ours (camelCase, RFC 3339) and Prometheus's /api/v1 shapes."""

from __future__ import annotations

from typing import Any

from engine.alerts.model import SEVERITY_ORDER, AlertInstance
from engine.compat.durations import format_seconds
from engine.compat.strconv import format_float_f
from engine.evaluation.group import GroupRuntime, RuleRuntime
from engine.rulefiles.model import ALERTING
from engine.timefmt import rfc3339


def _t(v: float | None) -> str | None:
    return None if v is None else rfc3339(v)


def rule_json(g: GroupRuntime, rr: RuleRuntime, editable: bool) -> dict[str, Any]:
    rule = rr.rule
    alerting = rule.kind == ALERTING
    return {
        "id": rule.id,
        "name": rule.name,
        "type": rule.kind,
        "group": g.group.name,
        "file": g.group.source,
        "interval": g.interval,
        "expr": rule.expr,
        "for": format_seconds(rule.for_s) if alerting else None,
        "keepFiringFor": format_seconds(rule.keep_firing_for_s) if alerting else None,
        "labels": dict(rule.labels),
        "annotations": dict(rule.annotations),
        "notificationChannels": list(rule.notification_channels),
        "enabled": rule.enabled,
        "editable": editable,
        "readOnlyReason": None if editable else
        f"defined in {g.group.source}: edit that file, then reload (SIGHUP or POST /api/alerts/rules/reload)",
        "state": (rr.alerting.rule_state() if rr.alerting is not None else None) if rule.enabled else "disabled",
        "health": rr.status.health,
        "lastError": rr.status.last_error,
        "lastEvaluation": _t(rr.status.last_evaluation),
        "evaluationTime": round(rr.status.evaluation_time, 6),
        "activeAlerts": len(rr.alerting.live_alerts()) if rr.alerting is not None else 0,
    }


def sort_alerts(alerts: list[AlertInstance], by: str = "severity") -> list[AlertInstance]:
    """Most severe first (then oldest), or oldest first with ``by="age"``."""
    def tie(a: AlertInstance) -> tuple[str, list[tuple[str, str]], str]:
        return a.name, sorted(a.labels.items()), a.id

    if by == "age":
        return sorted(alerts, key=lambda a: (a.active_at, *tie(a)))
    return sorted(alerts, key=lambda a: (-SEVERITY_ORDER.get(a.severity, 1), a.active_at, *tie(a)))


def prometheus_rules(groups: list[GroupRuntime]) -> dict[str, Any]:
    """``data`` of Prometheus's GET /api/v1/rules."""
    out = []
    for g in groups:
        rules = []
        for rr in g.rules:
            rule = rr.rule
            base = {"name": rule.name, "query": rule.expr, "labels": dict(rule.labels), "health": rr.status.health,
                    "lastError": rr.status.last_error, "evaluationTime": rr.status.evaluation_time,
                    "lastEvaluation": _t(rr.status.last_evaluation) or "0001-01-01T00:00:00Z"}
            if rr.alerting is not None:
                base.update({
                    "state": rr.alerting.rule_state(), "duration": rule.for_s,
                    "keepFiringFor": rule.keep_firing_for_s, "annotations": dict(rule.annotations),
                    "alerts": [prometheus_alert(a.labels, a.annotations, a.state, a.active_at, a.value)
                               for a in rr.alerting.live_alerts()],
                    "type": "alerting"})
            else:
                base["type"] = "recording"
            rules.append(base)
        out.append({"name": g.group.name, "file": g.group.source, "rules": rules, "interval": g.interval,
                    "limit": g.group.limit, "evaluationTime": g.evaluation_time,
                    "lastEvaluation": _t(g.last_evaluation) or "0001-01-01T00:00:00Z"})
    return {"groups": out}


def prometheus_alert(labels: dict[str, str], annotations: dict[str, str], state: str, active_at: float,
                     value: float) -> dict[str, Any]:
    return {"labels": dict(labels), "annotations": dict(annotations), "state": state,
            "activeAt": rfc3339(active_at), "value": format_float_f(value)}
