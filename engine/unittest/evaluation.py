"""The rule groups of a test file evaluated on virtual time, with the ruler's own code.

One :class:`RuleEvaluation` per test group: every group runs through ``engine.evaluation.group`` at each
tick, recording rules write into the test's store (so later rules, alert tests and
``promql_expr_test`` read them) and alerting rules go through the ruler's state machine, exactly
as the server runs them, only with a clock that promtool's schedule drives.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.compat.durations import format_go_duration
from engine.evaluation.alerting_state import FIRING
from engine.evaluation.group import GroupRuntime, evaluate_group, runtime_for
from engine.rulefiles.model import RuleGroup
from engine.templating import QuerySample, TemplateData, expand
from engine.tsdb.store import Store
from engine.unittest.alerts import AlertPoint
from engine.unittest.compare import Point

Evaluate = Callable[[str, int], list[Point]]
"""An instant query at a time in milliseconds, as promtool's rule query function answers it."""


class RuleEvaluation:
    """Rule groups, their alert state and the store they read and write, for one test group."""

    def __init__(self, groups: list[RuleGroup], store: Store, evaluate: Evaluate,
                 external_labels: dict[str, str], external_url: str) -> None:
        self.store = store
        self.evaluate = evaluate
        self.external_labels = external_labels
        self.external_url = external_url
        self.groups: list[GroupRuntime] = [runtime_for(group, {}) for group in groups]

    async def tick(self, t_ms: int) -> list[str]:
        """Evaluate every group at ``t_ms`` in order; promtool's error line for each rule that failed."""
        errors: list[str] = []
        for runtime in self.groups:
            await evaluate_group(runtime, t_ms / 1000, self.store, self._instant, self._expander(t_ms),
                                 _ignore_transitions)
            errors += [f"    rule: {rr.rule.name}, time: {format_go_duration(t_ms)}, err: {rr.status.last_error}"
                       for rr in runtime.rules if rr.status.last_error]
        return errors

    def firing(self, alertname: str) -> list[AlertPoint]:
        """Firing alerts of every alerting rule with this name, in any group (pending ones never count)."""
        return [AlertPoint.of(alert.labels, alert.annotations)
                for runtime in self.groups for rr in runtime.rules
                if rr.alerting is not None and rr.rule.name == alertname
                for alert in rr.alerting.live_alerts() if alert.state == FIRING]

    def _instant(self, expr: str, t: float) -> list[tuple[dict[str, str], float]]:
        return [(dict(point.labels), point.value) for point in self.evaluate(expr, round(t * 1000))]

    def _expander(self, t_ms: int) -> Callable[[str, dict[str, str], float, str], str]:
        def run_query(expr: str) -> list[QuerySample]:
            return [QuerySample(dict(point.labels), point.value) for point in self.evaluate(expr, t_ms)]

        def expand_one(text: str, labels: dict[str, str], value: float, name: str) -> str:
            data = TemplateData(labels=labels, value=value, external_labels=self.external_labels,
                                external_url=self.external_url, query=run_query)
            return expand(text, data, name)
        return expand_one


def _ignore_transitions(*_: object) -> None:
    """Tests have no alert book: the state lives in the rule runtimes, which promtool reads directly."""
