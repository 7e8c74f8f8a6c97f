"""Running one ``promtool test rules`` file against our query engine, with promtool 2.42's rules.

Each test group gets a fresh store in a temporary directory (optionally flushed, so that every
sample is read back from SQLite chunks rather than the in-memory head). Like promtool, samples are loaded only
up to the last rule-evaluation tick at or before the largest ``eval_time`` (so a sample between that
tick and the eval time is not seen), a missing ``interval`` puts every sample at time 0 (the first
one wins), and each ``promql_expr_test`` is one instant query at ``eval_time`` after time 0.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.promql import QueryEngine, QueryError
from engine.ruletest.compare import Point, diff_lines, points_string, same, sort_points
from engine.ruletest.durations import format_duration
from engine.ruletest.gofmt import quote
from engine.ruletest.notation import NotationError, canonical, parse_metric, parse_series
from engine.ruletest.rulefiles import RuleCounts
from engine.ruletest.testfile import DEFAULT_EVALUATION_INTERVAL_MS, AlertCase, PromQLCase, UnitTestGroup
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import Labels

RULES_LATER = "rules come with the rules engine"
_FLUSH_EVERYTHING_MS = 10**13  # a "now" far past any test's samples: every chunk window closes


@dataclass(slots=True)
class GroupOutcome:
    """What a test group produced: promtool-style error texts, passes, and cases not run (why)."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passed: int = 0
    not_run: list[str] = field(default_factory=list)


def run_group(group: UnitTestGroup, path: str, evaluation_interval_ms: int, rules: RuleCounts, *,
              from_disk: bool = False) -> GroupOutcome:
    """Load the group's input series into a fresh store and check every case that can run today."""
    outcome = GroupOutcome()
    evaluation_interval_ms = evaluation_interval_ms or DEFAULT_EVALUATION_INTERVAL_MS
    for case in group.alert_rule_test:
        if not case.alertname:
            in_group = f" (in TestGroup {group.name})" if group.name else ""
            outcome.errors.append("an item under alert_rule_test misses required attribute alertname at "
                                  f"eval_time {format_duration(case.eval_time)}{in_group}")
            return outcome
    try:
        series = _input_series(group, path)
    except NotationError as exc:
        outcome.errors.append(str(exc))
        return outcome
    if group.interval == 0 and any(len(values) > 1 for values in series.values()):
        outcome.warnings.append(f"{path}: {_group_label(group)} has no interval: like promtool 2.42, every "
                                "sample is loaded at time 0 and only the first one is kept")
    outcome.not_run.extend(_alert_note(group, case) for case in group.alert_rule_test)
    if rules.total:
        outcome.not_run.extend(
            f"{_group_label(group)} promql_expr_test {quote(case.expr)} at {format_duration(case.eval_time)}: "
            f"rule_files define {rules.recording} recording and {rules.alerting} alerting rules it may read "
            f"({RULES_LATER})" for case in group.promql_expr_test)
        return outcome
    last_eval = max([c.eval_time for c in group.promql_expr_test] + [c.eval_time for c in group.alert_rule_test],
                    default=0)
    loaded_until = last_eval // evaluation_interval_ms * evaluation_interval_ms
    with _store(series, group.interval, loaded_until, from_disk) as store:
        engine = QueryEngine(store)
        for case in group.promql_expr_test:
            error = check_case(engine, case)
            if error is None:
                outcome.passed += 1
            else:
                outcome.errors.append(error)
    return outcome


def _group_label(group: UnitTestGroup) -> str:
    return f"test group {group.name!r}" if group.name else f"test group at line {group.line}"


def _input_series(group: UnitTestGroup, path: str) -> dict[Labels, list[float | None]]:
    """Each input series' samples by labels; a later definition of the same series replaces an earlier one."""
    out: dict[Labels, list[float | None]] = {}
    for i, item in enumerate(group.input_series):
        where = f"{path}: input_series[{i}] (line {item.line}) {item.series!r}"
        try:
            desc = parse_series(f"{item.series} {item.values}")
        except NotationError as exc:
            raise NotationError(f"{where}: {exc}") from None
        labels = canonical(desc.labels)
        names = [name for name, _ in labels]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise NotationError(f"{where}: label name {duplicates[0]!r} is not unique")
        if not labels:
            raise NotationError(f"{where}: a series needs at least one label with a value")
        out[labels] = desc.values
    return out


@contextlib.contextmanager
def _store(series: dict[Labels, list[float | None]], interval_ms: int, loaded_until: int,
           from_disk: bool) -> Iterator[Store]:
    with tempfile.TemporaryDirectory(prefix="ruletest-") as data_dir:
        store = Store(SQLiteBackend(data_dir))
        store.open()
        try:
            for labels, values in series.items():
                ref = store.ref(labels)
                for i, value in enumerate(values):
                    t = i * interval_ms
                    if t > loaded_until:
                        break
                    if value is not None:
                        store.append(ref, t, value)
            if from_disk:
                store.flush(_FLUSH_EVERYTHING_MS)
            yield store
        finally:
            store.backend.close()


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


def _alert_note(group: UnitTestGroup, case: AlertCase) -> str:
    return (f"{_group_label(group)} alert_rule_test {case.alertname!r} at {format_duration(case.eval_time)}: "
            f"alerting {RULES_LATER}")
