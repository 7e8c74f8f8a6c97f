"""Evaluating one rule group: rules in order, one timestamp, each rule's output visible to the next."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from engine.ruler.alerting_state import AlertingRuleState, RuleEvalError, RuleLimitError, Transition
from engine.tsdb.store import Store
from engine.tsdb.types import Family

QueryFn = Callable[[str, float], Awaitable[list[tuple[dict[str, str], float]]]]
"""Runs an instant query at a time (Unix seconds) and returns (labels, value) pairs."""
ExpandFn = Callable[[str, dict[str, str], float, str], str]
"""Renders a label/annotation template for (sample labels, value, template name)."""


@dataclass(slots=True)
class RuleStatus:
    """What the API shows about a rule: Prometheus's health, lastError, timings."""

    health: str = "unknown"
    last_error: str = ""
    last_evaluation: float | None = None
    evaluation_time: float = 0.0


@dataclass(slots=True)
class RuleRuntime:
    rule: Any
    status: RuleStatus = field(default_factory=RuleStatus)
    alerting: AlertingRuleState | None = None


@dataclass(slots=True)
class GroupRuntime:
    group: Any
    rules: list[RuleRuntime]
    last_evaluation: float | None = None
    evaluation_time: float = 0.0

    @property
    def interval(self) -> float:
        return self.group.interval


def runtime_for(group: Any, previous: dict[str, RuleRuntime]) -> GroupRuntime:
    """Runtime state for a (re)loaded group, keeping the alerts of rules that did not change."""
    rules = []
    for rule in group.rules:
        old = previous.get(rule.id)
        rt = RuleRuntime(rule)
        if rule.kind == "alerting":
            rt.alerting = AlertingRuleState(rule.name, rule.for_s, rule.keep_firing_for_s,
                                            {**group.labels, **rule.labels}, dict(rule.annotations))
            if old is not None and old.alerting is not None and old.rule.expr == rule.expr:
                rt.alerting.active = old.alerting.active  # a reload keeps pending/firing state
                rt.status = old.status
        rules.append(rt)
    return GroupRuntime(group, rules)


async def evaluate_group(rt: GroupRuntime, ts: float, store: Store, query: QueryFn, expand: ExpandFn,
                         on_transitions: Callable[[RuleRuntime, list[Transition], float], None]) -> None:
    """One evaluation of every enabled rule of the group at ``ts``."""
    started = time.perf_counter()
    group = rt.group
    t_ms = int(round(ts * 1000))
    query_at = ts - (group.query_offset or 0.0)
    for rr in rt.rules:
        rule = rr.rule
        if not getattr(rule, "enabled", True):
            continue
        rule_started = time.perf_counter()
        rr.status.last_evaluation = ts
        try:
            samples = await query(rule.expr, query_at)
            if rule.kind == "recording":
                store.ingest(f"rule:{rule.id}", [_recorded(rule, group, samples)], t_ms)
            else:
                assert rr.alerting is not None

                def expand_rule(text: str, labels: dict[str, str], value: float, _rule: Any = rule) -> str:
                    return expand(text, labels, value, f"__alert_{_rule.name}")

                transitions = rr.alerting.evaluate(ts, samples, expand_rule, group.limit)
                on_transitions(rr, transitions, ts)
                store.ingest(f"alerts:{rule.id}", _alerts_series(rr.alerting), t_ms)
            rr.status.health, rr.status.last_error = "ok", ""
        except RuleLimitError as exc:  # Prometheus writes neither ALERTS nor stale markers here
            on_transitions(rr, [Transition(a, "resolved") for a in exc.cleared], ts)
            rr.status.health, rr.status.last_error = "err", str(exc)
        except RuleEvalError as exc:
            rr.status.health, rr.status.last_error = "err", str(exc)
        except Exception as exc:  # a failing query leaves state untouched and shows as lastError
            rr.status.health, rr.status.last_error = "err", getattr(exc, "message", None) or str(exc)
        rr.status.evaluation_time = time.perf_counter() - rule_started
    rt.last_evaluation = ts
    rt.evaluation_time = time.perf_counter() - started


def _recorded(rule: Any, group: Any, samples: list[tuple[dict[str, str], float]]) -> Family:
    fam = Family(rule.name, "untyped", f"Recorded by rule group {group.name}.")
    seen = set()
    for labels, value in samples:
        out = {k: v for k, v in labels.items() if k != "__name__"}
        out.update(group.labels)
        out.update(rule.labels)
        key = tuple(sorted(out.items()))
        if key in seen:
            raise RuleEvalError("vector contains metrics with the same labelset after applying rule labels")
        seen.add(key)
        fam.add(value, out)
    if group.limit and len(seen) > group.limit:
        raise RuleEvalError(f"exceeded limit of {group.limit} with {len(seen)} series")
    return fam


def _alerts_series(state: AlertingRuleState) -> list[Family]:
    alerts = Family("ALERTS", "gauge", "Alerts pending or firing, as Prometheus writes them.")
    for_state = Family("ALERTS_FOR_STATE", "gauge", "When each pending or firing alert became active.")
    for a in state.live_alerts():
        alerts.add(1.0, {**a.labels, "alertstate": a.state})
        for_state.add(a.active_at, a.labels)
    return [alerts, for_state]
