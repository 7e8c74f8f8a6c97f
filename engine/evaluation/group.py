"""Evaluating one rule group: rules in order, one timestamp, each rule's output visible to the next."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from engine.evaluation.alerting_state import AlertingRuleState, Results, RuleEvalError, RuleLimitError, Transition
from engine.templating import TemplateLimitError
from engine.tsdb.store import Store
from engine.tsdb.types import Family

InstantFn = Callable[[str, float], list[tuple[dict[str, str], float]]]
"""Runs an instant query at a time (Unix seconds) and returns (labels, value) pairs; blocking."""
Offload = Callable[[Callable[[], list[Any]]], Awaitable[list[Any]]]
"""Runs an evaluation's blocking part off the event loop (the ruler's rules thread) and awaits it."""
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


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_ALERT_SERIES = ("ALERTS", "ALERTS_FOR_STATE")
"""What an alerting rule writes, which a later rule of its group may read at the same time."""


def independent_batches(rules: list[RuleRuntime]) -> list[list[RuleRuntime]]:
    """Split rules, in order, into runs whose queries can all be answered before any of their outputs
    is written: a run ends before a rule that reads a recording rule, or the ALERTS series of an
    alerting rule, of the same run. Reading is judged on the expression's words (and templates that
    query: a recorded name, or any ``__name__`` matcher), which can only over-split, never let a rule
    miss an earlier rule's output."""
    batches: list[list[RuleRuntime]] = []
    current: list[RuleRuntime] = []
    recorded: set[str] = set()
    for rr in rules:
        if recorded:
            words = set(_NAME.findall(_reads(rr)))
            if "__name__" in words or words & recorded:
                batches.append(current)
                current, recorded = [], set()
        current.append(rr)
        recorded.update((rr.rule.name,) if rr.rule.kind == "recording" else _ALERT_SERIES)
    if current:
        batches.append(current)
    return batches


def _reads(rr: RuleRuntime) -> str:
    """What a rule's evaluation may read: its expression, and its templates when they can query."""
    if rr.alerting is None:
        return rr.rule.expr
    templates = [*rr.alerting.labels.values(), *rr.alerting.annotations.values()]
    return " ".join([rr.rule.expr, *(t for t in templates if "query" in t)])


@dataclass(slots=True)
class Expanded:
    """An alerting rule's result with its templates expanded, ready for its state machine."""

    results: Results
    over_budget: list[str]
    """Why expansions stopped at their budget (the rule's lastError)."""


async def evaluate_group(rt: GroupRuntime, ts: float, store: Store, query: InstantFn, expand: ExpandFn,
                         on_transitions: Callable[[RuleRuntime, list[Transition], float], None],
                         offload: Offload | None = None) -> None:
    """One evaluation of every enabled rule of the group at ``ts``.

    Each run of independent rules is prepared in one go (queries, then the alerting rules' template
    expansion, which may query too: with ``offload``, on the ruler's thread, never on the event
    loop); results are then applied, on the caller's thread, in rule order.
    """
    started = time.perf_counter()
    group = rt.group
    query_at = ts - (group.query_offset or 0.0)
    enabled = [rr for rr in rt.rules if getattr(rr.rule, "enabled", True)]
    for batch in independent_batches(enabled):
        batch_started = time.perf_counter()
        job = partial(prepare_batch, batch, query_at, query, expand)
        results = job() if offload is None else await offload(job)
        share = (time.perf_counter() - batch_started) / len(batch)
        for rr, result in zip(batch, results, strict=True):
            rule_started = time.perf_counter()
            _apply(rr, result, ts, group, store, on_transitions)
            rr.status.evaluation_time = share + time.perf_counter() - rule_started
    rt.last_evaluation = ts
    rt.evaluation_time = time.perf_counter() - started


def prepare_batch(batch: list[RuleRuntime], query_at: float, query: InstantFn, expand: ExpandFn) -> list[Any]:
    """The blocking part of evaluating independent rules: per rule, its samples (recording), its
    ``Expanded`` alerts (alerting) or the exception that stopped it. Touches no alert state."""
    out: list[Any] = []
    for rr in batch:
        try:
            samples = query(rr.rule.expr, query_at)
            out.append(samples if rr.alerting is None else _expand_alerts(rr.alerting, rr.rule.name, samples, expand))
        except Exception as exc:  # reported per rule as its lastError
            out.append(exc)
    return out


def _expand_alerts(state: AlertingRuleState, name: str, samples: list[tuple[dict[str, str], float]],
                   expand: ExpandFn) -> Expanded:
    over_budget: list[str] = []

    def expand_rule(text: str, labels: dict[str, str], value: float) -> str:
        """The expansion; one over its budget keeps the alert with the short error as the value."""
        try:
            return expand(text, labels, value, f"__alert_{name}")
        except TemplateLimitError as exc:
            over_budget.append(str(exc))
            return exc.value

    return Expanded(state.expand_results(samples, expand_rule), over_budget)


def _apply(rr: RuleRuntime, result: Any, ts: float, group: Any, store: Store,
           on_transitions: Callable[[RuleRuntime, list[Transition], float], None]) -> None:
    """Write one rule's prepared result: recorded series, or alert state changes and ALERTS series."""
    rule = rr.rule
    t_ms = int(round(ts * 1000))
    rr.status.last_evaluation = ts
    over_budget: list[str] = []
    try:
        if isinstance(result, Exception):
            raise result
        if rule.kind == "recording":
            store.ingest(f"rule:{rule.id}", [_recorded(rule, group, result)], t_ms)
        else:
            assert rr.alerting is not None
            over_budget = result.over_budget
            transitions = rr.alerting.apply(ts, result.results, group.limit)
            on_transitions(rr, transitions, ts)
            store.ingest(f"alerts:{rule.id}", _alerts_series(rr.alerting), t_ms)
        rr.status.health, rr.status.last_error = ("err", over_budget[0]) if over_budget else ("ok", "")
    except RuleLimitError as exc:  # Prometheus writes neither ALERTS nor stale markers here
        on_transitions(rr, [Transition(a, "resolved") for a in exc.cleared], ts)
        rr.status.health, rr.status.last_error = "err", str(exc)
    except RuleEvalError as exc:
        rr.status.health, rr.status.last_error = "err", str(exc)
    except Exception as exc:  # a failing query leaves state untouched and shows as lastError
        rr.status.health, rr.status.last_error = "err", getattr(exc, "message", None) or str(exc)


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
