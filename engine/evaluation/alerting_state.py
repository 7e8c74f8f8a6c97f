"""One alerting rule's alerts, evaluated exactly as Prometheus's rules/alerting.go does.

Pure state: the caller supplies the query result and the evaluation time, so the same code runs
under the server's clock and under `rules test`'s virtual time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from engine.alerts.fingerprint import fingerprint

RESOLVED_RETENTION_S = 15 * 60

PENDING, FIRING, INACTIVE = "pending", "firing", "inactive"


class RuleEvalError(Exception):
    """The rule could not be evaluated this cycle (reported as the rule's lastError)."""


@dataclass(slots=True)
class ActiveAlert:
    """One label set of one rule while it is pending, firing, or recently resolved."""

    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    state: str
    active_at: float
    fingerprint: str
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_firing_since: float | None = None
    instance_id: str | None = None
    """The lifecycle instance (engine.alerts) this alert is recorded as."""


@dataclass(frozen=True, slots=True)
class Transition:
    alert: ActiveAlert
    kind: str  # "pending" | "firing" | "resolved"


Expand = Callable[[str, dict[str, str], float], str]
Results = dict[str, tuple[dict[str, str], dict[str, str], float]]
"""An evaluation's alerts by fingerprint: (labels, annotations, value)."""


@dataclass(slots=True)
class AlertingRuleState:
    """Alerts of one rule keyed by their label-set fingerprint."""

    name: str
    for_s: float
    keep_firing_for_s: float
    labels: dict[str, str]
    annotations: dict[str, str]
    active: dict[str, ActiveAlert] = field(default_factory=dict)

    def expand_results(self, samples: Iterable[tuple[dict[str, str], float]], expand: Expand) -> Results:
        """The alerts a result stands for, their labels and annotations expanded; reads only the
        rule's templates, never ``active``, so it may run on another thread than ``apply``.
        A duplicate label set raises RuleEvalError."""
        results: Results = {}
        for sample_labels, value in samples:
            labels = {k: v for k, v in sample_labels.items() if k != "__name__"}
            for name, tmpl in self.labels.items():
                expanded = expand(tmpl, sample_labels, value)
                if expanded:
                    labels[name] = expanded
                else:
                    labels.pop(name, None)
            labels["alertname"] = self.name
            fp = fingerprint(labels)
            if fp in results:
                raise RuleEvalError("vector contains metrics with the same labelset after applying alert labels")
            annotations = {k: expand(t, sample_labels, value) for k, t in self.annotations.items()}
            results[fp] = (labels, annotations, value)
        return results

    def evaluate(self, ts: float, samples: Iterable[tuple[dict[str, str], float]], expand: Expand,
                 limit: int = 0) -> list[Transition]:
        """Apply one evaluation's result; return the state changes it caused.

        ``expand(template, sample_labels, value)`` renders a label or annotation template. A duplicate
        label set raises RuleEvalError with the state untouched; an exceeded ``limit`` clears every
        alert of the rule, as Prometheus does, then raises.
        """
        return self.apply(ts, self.expand_results(samples, expand), limit)

    def apply(self, ts: float, results: Results, limit: int = 0) -> list[Transition]:
        """``evaluate`` with the result already expanded (``expand_results``)."""
        changes: list[Transition] = []
        for fp, (labels, annots, value) in results.items():
            alert = self.active.get(fp)
            if alert is not None and alert.state != INACTIVE:
                alert.value = value
                alert.annotations = annots
                alert.keep_firing_since = None
                continue
            alert = ActiveAlert(labels, annots, value, PENDING, ts, fp)
            self.active[fp] = alert
            changes.append(Transition(alert, PENDING))

        for fp, alert in list(self.active.items()):
            if fp in results:
                continue
            if alert.state == PENDING:
                del self.active[fp]
                changes.append(Transition(alert, "resolved"))
                continue
            if alert.state == FIRING and self.keep_firing_for_s > 0:
                if alert.keep_firing_since is None:
                    alert.keep_firing_since = ts
                if ts - alert.keep_firing_since < self.keep_firing_for_s:
                    continue
            if alert.state != INACTIVE:
                alert.state = INACTIVE
                alert.resolved_at = ts
                changes.append(Transition(alert, "resolved"))
            elif alert.resolved_at is not None and ts - alert.resolved_at > RESOLVED_RETENTION_S:
                del self.active[fp]

        live = sum(1 for a in self.active.values() if a.state != INACTIVE)
        if limit and live > limit:
            cleared = [a for a in self.active.values() if a.state != INACTIVE]
            self.active = {}
            raise RuleLimitError(f"exceeded limit of {limit} with {live} alerts", cleared)

        for alert in self.active.values():
            if alert.state == PENDING and ts - alert.active_at >= self.for_s:
                alert.state = FIRING
                alert.fired_at = ts
                changes.append(Transition(alert, FIRING))
            elif alert.state == FIRING and ts - alert.active_at < self.for_s:
                alert.state = PENDING  # only after a reload that raised `for`
                alert.fired_at = None
        return changes

    def forget(self, fp: str) -> ActiveAlert | None:
        """Drop an alert (manual resolve): if the condition still holds it starts over as pending."""
        return self.active.pop(fp, None)

    def rule_state(self) -> str:
        states = {a.state for a in self.active.values()}
        return FIRING if FIRING in states else PENDING if PENDING in states else INACTIVE

    def live_alerts(self) -> list[ActiveAlert]:
        return [a for a in self.active.values() if a.state != INACTIVE]


class RuleLimitError(RuleEvalError):
    """The rule produced more alerts than its group's limit; ``cleared`` were dropped."""

    def __init__(self, message: str, cleared: list[ActiveAlert]) -> None:
        super().__init__(message)
        self.cleared = cleared
