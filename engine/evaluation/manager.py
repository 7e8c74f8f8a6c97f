"""The ruler: loads rule files and API rules, evaluates each group on its own interval, reloads safely."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from engine.alerts.book import AlertBook
from engine.evaluation.alerting_state import ActiveAlert, Transition
from engine.evaluation.group import GroupRuntime, RuleRuntime, evaluate_group, runtime_for
from engine.promql import QueryEngine, QueryResult
from engine.rulefiles.loader import RuleLoadError, load_rule_files
from engine.rulefiles.managed import ManagedRules
from engine.rulefiles.model import RuleGroup
from engine.templating import QuerySample, TemplateData, expand
from engine.tracing import NO_TRACER, Span, Tracer
from engine.tsdb.store import Store

log = logging.getLogger(__name__)

TEMPLATE_QUERY_BUDGET_S = 5.0
"""Wall-clock time the ``query`` calls of one group evaluation's templates may take together."""


def query_samples(result: QueryResult) -> list[tuple[dict[str, str], float]]:
    """What a rule sees of a result: vector samples, or a scalar as one label-less sample."""
    if result.result_type == "vector":
        return [(s.labels, s.value) for s in result.value]
    if result.result_type == "scalar":
        return [({}, result.value[1])]
    raise ValueError(f"rule result must be a vector or scalar, got {result.result_type}")


class Ruler:
    def __init__(self, store: Store, query: QueryEngine, book: AlertBook, now: Callable[[], float],
                 default_interval: float, rule_files: list[str], managed: ManagedRules,
                 executor: Executor | None = None, external_labels: dict[str, str] | None = None,
                 external_url: str = "", tracer: Tracer = NO_TRACER,
                 leading: Callable[[], bool] = lambda: True) -> None:
        """``leading()``: may this replica evaluate now? With several replicas only the leader does."""
        self.store = store
        self.leading = leading
        self.tracer = tracer
        self.query = query
        self.book = book
        self.now = now
        self.default_interval = default_interval
        self.rule_files = rule_files
        self.managed = managed
        self.executor = executor
        self.external_labels = external_labels or {}
        self.external_url = external_url
        self.groups: dict[str, GroupRuntime] = {}
        self.last_reload_error: str | None = None
        self.last_reload: float | None = None
        self._file_stamps: dict[str, float] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self.template_query_budget_s = TEMPLATE_QUERY_BUDGET_S

    # -- loading -----------------------------------------------------------------------------

    def _load_groups(self) -> list[RuleGroup]:
        ruleset = load_rule_files(self.rule_files, self.query.parser)
        self._file_stamps = {f: _mtime(f) for f in ruleset.files}
        return ruleset.groups + self.managed.groups()

    def load(self) -> None:
        """First load: build groups and restore live alerts from the alert book (raises RuleLoadError)."""
        self._install(self._load_groups())
        self.adopt()
        self.book.commit()
        self.last_reload = self.now()

    def adopt(self) -> None:
        """Take the alert book's live instances as the rules' active alerts (at start, and when this
        replica starts leading: the instances the previous leader left carry on, not new ones)."""
        for g in self.groups.values():
            for rr in g.rules:
                if rr.alerting is not None:
                    rr.alerting.active = {}
        by_rule: dict[str, RuleRuntime] = {rr.rule.id: rr for g in self.groups.values() for rr in g.rules}
        orphans = set()
        for inst in self.book.live.values():
            rr = by_rule.get(inst.rule_id)
            if rr is None or rr.alerting is None:
                orphans.add(inst.rule_id)
                continue
            rr.alerting.active[inst.fingerprint] = ActiveAlert(
                dict(inst.labels), dict(inst.annotations), inst.value, inst.state, inst.active_at,
                inst.fingerprint, inst.fired_at, instance_id=inst.id)
        for rule_id in orphans if self.leading() else ():  # a follower leaves the shared state to the leader
            self.book.resolve_rule(rule_id, "rule no longer exists")

    async def reload(self) -> str | None:
        """Reload every source, read and parsed on the rules thread; on failure keep the running
        rules and return why."""
        try:
            groups = await asyncio.get_running_loop().run_in_executor(self.executor, self._load_groups)
        except RuleLoadError as exc:
            self.last_reload_error = str(exc)
            log.warning("rule reload failed, previous rules kept", extra={"fields": {"errors": exc.errors}})
            return self.last_reload_error
        before = {rr.rule.id for g in self.groups.values() for rr in g.rules if rr.alerting is not None}
        self._install(groups)
        after = {rr.rule.id for g in self.groups.values() for rr in g.rules if rr.alerting is not None}
        leading = self.leading()  # with replicas, every one reloads; only the leader resolves in the shared state
        for rule_id in before - after if leading else ():
            self.book.resolve_rule(rule_id, "rule removed")
        for g in self.groups.values():
            for rr in g.rules:
                if not rr.rule.enabled and rr.alerting is not None and rr.alerting.active:
                    rr.alerting.active = {}
                    if leading:
                        self.book.resolve_rule(rr.rule.id, "rule disabled")
        self.last_reload_error = None
        self.last_reload = self.now()
        self._reschedule()
        if leading:
            await self.book.save()
        return None

    def _install(self, groups: list[RuleGroup]) -> None:
        previous = {rr.rule.id: rr for g in self.groups.values() for rr in g.rules}
        new: dict[str, GroupRuntime] = {}
        for group in groups:
            if group.interval is None:
                group = _with_interval(group, self.default_interval)
            new[f"{group.source}:{group.name}"] = runtime_for(group, previous)
        self.groups = new

    def files_changed(self) -> bool:
        return any(_mtime(f) != stamp for f, stamp in self._file_stamps.items())

    # -- evaluation --------------------------------------------------------------------------

    def _instant(self, expr: str, t: float) -> list[tuple[dict[str, str], float]]:
        return query_samples(self.query.instant(expr, t))

    async def _offload(self, job: Callable[[], list[Any]]) -> list[Any]:
        return await asyncio.get_running_loop().run_in_executor(self.executor, job)

    def _expand(self, ts: float) -> Callable[[str, dict[str, str], float, str], str]:
        """Template expansion for one group evaluation. Its ``query`` calls share a budget of
        ``template_query_budget_s`` from the first one: past it they fail with a timeout (in the
        expanded text), so a template cannot hold the rules thread for a query's full timeout."""
        deadline: list[float] = []

        def run_query(expr: str) -> list[QuerySample]:
            if not deadline:
                deadline.append(time.monotonic() + self.template_query_budget_s)
            result = self.query.instant(expr, ts, deadline=deadline[0])
            return [QuerySample(labels, value) for labels, value in query_samples(result)]

        def expand_one(text: str, labels: dict[str, str], value: float, name: str) -> str:
            if "{{" not in text:
                return text
            data = TemplateData(labels=labels, value=value, external_labels=self.external_labels,
                                external_url=self.external_url, query=run_query)
            return expand(text, data, name)
        return expand_one

    def _on_transitions(self, rr: RuleRuntime, transitions: list[Transition], ts: float) -> None:
        self.book.apply(rr.rule.id, transitions, ts)

    async def evaluate(self, key: str, ts: float | None = None) -> None:
        """One evaluation of a group (at ``ts`` or now), then persist and announce alert changes."""
        rt = self.groups.get(key)
        if rt is None or not self.leading():
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        if lock.locked():
            return  # an overrunning evaluation: skip this iteration as Prometheus does
        attributes = {"rule_group.name": rt.group.name, "rule_group.file": rt.group.source,
                      "rule_group.rules": len(rt.rules)}
        async with lock:
            with self.tracer.span("rule_group.evaluate", attributes) as span:
                ts = self.now() if ts is None else ts
                await evaluate_group(rt, ts, self.store, self._instant, self._expand(ts), self._on_transitions,
                                     self._offload)
                if not self.leading():
                    return  # the term ended during the evaluation: the next leader's state stands
                for rr in rt.rules:
                    if rr.alerting is not None:
                        self.book.refresh(rr.alerting.live_alerts())
                self.book.housekeeping(ts)
                await self.book.save()
                if self.tracer.enabled:
                    _describe_evaluation(span, rt)

    async def evaluate_all(self, ts: float | None = None) -> None:
        for key in list(self.groups):
            await self.evaluate(key, ts)

    def forget(self, rule_id: str, fingerprint: str) -> None:
        """Drop an alert resolved by hand: if its condition still holds it starts again as pending."""
        for g in self.groups.values():
            for rr in g.rules:
                if rr.rule.id == rule_id and rr.alerting is not None:
                    rr.alerting.forget(fingerprint)

    # -- scheduling --------------------------------------------------------------------------

    def start(self, scheduler: AsyncIOScheduler) -> None:
        self._scheduler = scheduler
        self._reschedule()

    def _reschedule(self) -> None:
        if self._scheduler is None:
            return
        for job in self._scheduler.get_jobs():
            if job.id.startswith("group:"):
                job.remove()
        now = datetime.now(UTC)
        for key, rt in self.groups.items():
            interval = rt.interval
            offset = interval - (now.timestamp() % interval)  # aligned to the interval, like Prometheus
            self._scheduler.add_job(self.evaluate, "interval", args=[key], seconds=interval, id=f"group:{key}",
                                    coalesce=True, max_instances=1, misfire_grace_time=max(1, int(interval)),
                                    next_run_time=now + timedelta(seconds=offset))

    # -- views -------------------------------------------------------------------------------

    def rule(self, rule_id: str) -> tuple[GroupRuntime, RuleRuntime] | None:
        for g in self.groups.values():
            for rr in g.rules:
                if rr.rule.id == rule_id:
                    return g, rr
        return None


def _describe_evaluation(span: Span, rt: GroupRuntime) -> None:
    """The outcome on the group's span: rules that failed (the span's error) and alerts pending or firing."""
    errors = [f"{rr.rule.name}: {rr.status.last_error}" for rr in rt.rules if rr.status.last_error]
    span.set_attributes({"rule_group.errors": len(errors),
                         "rule_group.alerts_active": sum(len(rr.alerting.live_alerts()) for rr in rt.rules
                                                         if rr.alerting is not None)})
    if errors:
        span.fail("; ".join(errors)[:1000])


def _with_interval(group: RuleGroup, interval: float) -> RuleGroup:
    return replace(group, interval=interval)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0
