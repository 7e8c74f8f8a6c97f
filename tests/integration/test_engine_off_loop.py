"""Blocking engine work stays off the event loop: rule evaluation with its templates, rule edits,
and what the loop does after a failed flush."""

from __future__ import annotations

import threading

import pytest

from engine.clock import FixedClock
from engine.engine import Engine
from tests.integration.conftest import make_settings

T0 = 1_700_000_000.0
TEMPLATED = {
    "name": "Hot",
    "expr": "vector(1)",
    "labels": {"team": "{{ with query \"vector(2)\" }}{{ . | first | value }}{{ end }}"},
    "annotations": {"summary": "{{ with query \"vector(3)\" }}{{ . | first | value }}{{ end }}"},
}


@pytest.fixture
def engine(tmp_path):
    engine = Engine(make_settings(tmp_path), FixedClock(T0), collect_system=False)
    engine.open()
    yield engine
    engine.close()


def threads_of_queries(engine: Engine) -> list[tuple[str, str]]:
    """Watch the engine's own query engine: (expression, thread name) of every instant query."""
    seen: list[tuple[str, str]] = []
    instant = engine.query.instant

    def watched(expr, *args, **kwargs):
        seen.append((expr, threading.current_thread().name))
        return instant(expr, *args, **kwargs)

    engine.query.instant = watched
    return seen


async def test_alert_templates_query_on_the_rules_thread_not_the_loop(engine):
    rule, _ = await engine.create_rule(TEMPLATED)
    seen = threads_of_queries(engine)
    await engine.ruler.evaluate_all(T0)
    assert {expr for expr, _ in seen} >= {"vector(1)", "vector(2)", "vector(3)"}
    assert {name for _, name in seen} == {"rules_0"}
    alert = next(a for a in engine.prometheus_alerts() if a["labels"]["alertname"] == "Hot")
    assert (alert["labels"]["team"], alert["annotations"]["summary"]) == ("2", "3")


async def test_template_queries_stop_at_their_budget(engine):
    rule, _ = await engine.create_rule(TEMPLATED)
    engine.ruler.template_query_budget_s = -1.0  # already spent when the first template queries
    await engine.ruler.evaluate_all(T0)
    alert = next(a for a in engine.prometheus_alerts() if a["labels"]["alertname"] == "Hot")
    assert "timed out" in alert["annotations"]["summary"]
    assert engine.rule(rule["id"])["health"] == "ok"  # Prometheus's wording in the text; the rule runs


async def test_system_figures_are_computed_once_per_collection_off_the_loop(tmp_path):
    engine = Engine(make_settings(tmp_path), FixedClock(T0))  # with the host collector
    engine.open()
    try:
        seen = threads_of_queries(engine)
        await engine.collect()
        assert seen and {name for _, name in seen} == {"collector_0"}
        seen.clear()
        system, summary = engine.system(), engine.summary()
        snapshots = [await engine.snapshot("system"), await engine.snapshot("metrics")]
        assert seen == []  # requests and subscriptions read the collection's copy
        assert system["timestamp"] == summary["timestamp"] == snapshots[0]["timestamp"]
        assert system["load"]["load1"] == summary["system"]["load1"] is not None
        assert snapshots == [system, summary]
    finally:
        engine.close()
