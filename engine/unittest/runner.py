"""Running one test group of a ``promtool test rules`` file against our engine, with promtool 2.42's rules.

Each test group gets a fresh store in a temporary directory. Like promtool, the rule groups are
evaluated at every ``evaluation_interval`` tick from 0 up to the largest ``eval_time``, the input
samples up to each tick being loaded just before it (so samples after the last tick are never
seen), and a rule that fails to evaluate ends the test group. Each ``alert_rule_test`` is checked
against the evaluation at the latest tick at or before its ``eval_time``; after the last tick each
``promql_expr_test`` is one instant query at ``eval_time``. A missing ``interval`` puts every
sample at time 0 (the first one wins).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from engine.compat.durations import format_duration
from engine.compat.strconv import quote
from engine.promql import QueryEngine, QueryError
from engine.rulefiles.model import RuleGroup
from engine.unittest.alerts import check_alerts
from engine.unittest.compare import Point, diff_lines, points_string, same, sort_points
from engine.unittest.evaluation import RuleEvaluation
from engine.unittest.inputs import InputStore, input_series, input_store
from engine.unittest.notation import NotationError, canonical, parse_metric
from engine.unittest.testfile import DEFAULT_EVALUATION_INTERVAL_MS, PromQLCase, UnitTestGroup


@dataclass(slots=True)
class GroupOutcome:
    """What a test group produced: promtool-style error texts and warnings."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_group(group: UnitTestGroup, path: str, evaluation_interval_ms: int, rule_groups: list[RuleGroup], *,
              from_disk: bool = False) -> GroupOutcome:
    """Evaluate the rules over the group's input series and check every alert and PromQL case."""
    outcome = GroupOutcome()
    interval_ms = evaluation_interval_ms or DEFAULT_EVALUATION_INTERVAL_MS
    for case in group.alert_rule_test:
        if not case.alertname:
            in_group = f" (in TestGroup {group.name})" if group.name else ""
            outcome.errors.append("an item under alert_rule_test misses required attribute alertname at "
                                  f"eval_time {format_duration(case.eval_time)}{in_group}")
            return outcome
    try:
        series = input_series(group, path)
    except NotationError as exc:
        outcome.errors.append(str(exc))
        return outcome
    if group.interval == 0 and any(len(values) > 1 for values in series.values()):
        outcome.warnings.append(f"{path}: {_group_label(group)} has no interval: like promtool 2.42, every "
                                "sample is loaded at time 0 and only the first one is kept")
    with input_store(series, group.interval, interval_ms, from_disk) as inputs, asyncio.Runner() as loop:
        engine = QueryEngine(inputs.store, evaluation_interval_ms=interval_ms)
        rules = RuleEvaluation(rule_groups, inputs.store, lambda expr, t_ms: evaluate(engine, expr, t_ms),
                               group.external_labels, group.external_url)
        if not _run_ticks(group, interval_ms, inputs, rules, loop, outcome):
            return outcome
        inputs.loading_done()
        outcome.errors += [error for error in (check_case(engine, case) for case in group.promql_expr_test)
                           if error is not None]
    return outcome


def _run_ticks(group: UnitTestGroup, interval_ms: int, inputs: InputStore, rules: RuleEvaluation,
               loop: asyncio.Runner, outcome: GroupOutcome) -> bool:
    """Evaluate the rules at every tick up to the last ``eval_time``, checking each alert case right
    after its tick; False when a rule failed to evaluate, where promtool stops the test group."""
    last_eval = max([c.eval_time for c in group.promql_expr_test] + [c.eval_time for c in group.alert_rule_test],
                    default=0)
    alert_cases = sorted(group.alert_rule_test, key=lambda case: case.eval_time)
    for tick in range(0, last_eval + 1, interval_ms):
        inputs.load_until(tick)
        rule_errors = loop.run(rules.tick(tick))
        if rule_errors:
            outcome.errors += rule_errors
            return False
        while alert_cases and alert_cases[0].eval_time < tick + interval_ms:
            case = alert_cases.pop(0)
            error = check_alerts(case, rules.firing(case.alertname), group.name)
            if error is not None:
                outcome.errors.append(error)
    return True


def _group_label(group: UnitTestGroup) -> str:
    return f"test group {group.name!r}" if group.name else f"test group at line {group.line}"


def check_case(engine: QueryEngine, case: PromQLCase) -> str | None:
    """None when the query's result equals the expected samples, else promtool's failure text plus a diff."""
    head = f"    expr: {quote(case.expr)}, time: {format_duration(case.eval_time)}"
    expected = []
    for sample in case.exp_samples:
        try:
            expected.append(Point(canonical(parse_metric(sample.labels)), sample.value))
        except NotationError as exc:
            return f"{head}, err: labels {quote(sample.labels)} (line {sample.line}): {exc}"
    try:
        got = evaluate(engine, case.expr, case.eval_time)
    except QueryError as exc:
        return f"{head}, err: {exc.message}"
    except Exception as exc:  # an evaluator bug is one failed case, never a crashed run
        return f"{head}, err: the query engine crashed: {type(exc).__name__}: {exc}"
    expected, got = sort_points(expected), sort_points(got)
    if same(expected, got):
        return None
    lines = [f"{head},", f"        exp: {points_string(expected)}", f"        got: {points_string(got)}",
             "        diff (- expected only, + got only):"]
    lines += [f"          {line}" for line in diff_lines(expected, got)]
    return "\n".join(lines)


def evaluate(engine: QueryEngine, expr: str, eval_time_ms: int) -> list[Point]:
    """The instant query's samples; a scalar is one sample without labels, as in promtool."""
    result = engine.instant(expr, eval_time_ms / 1000)
    if result.result_type == "vector":
        return [Point(tuple(sorted(s.labels.items())), s.value) for s in result.value]
    if result.result_type == "scalar":
        return [Point((), result.value[1])]
    raise QueryError("bad_data", "rule result is not a vector or scalar")
