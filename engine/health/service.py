"""The health checker the Engine owns: the checks from every source, their runs, states, metrics,
history and views."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from engine.clock import Clock, to_ms
from engine.cluster.shared import Docs, SharedDocs, SharedStateUnavailable
from engine.cluster.work import check_key
from engine.events import EventBus
from engine.health.checkers import CHECKERS
from engine.health.checkers.base import CheckFailed, Context, Result, short_error
from engine.health.checkers.http import HttpClients
from engine.health.db import HealthDB, HistoryEvent
from engine.health.definitions import DefinitionFile
from engine.health.model import STATES, CheckError, CheckSpec, keep_secrets, parse_check, parse_check_list
from engine.health.scheduler import Scheduler
from engine.health.state import RANK, CheckState, effective
from engine.netpolicy import BlockedTarget, NetPolicy
from engine.promql import QueryEngine
from engine.secretbox import SecretBox
from engine.settings import Settings
from engine.timefmt import rfc3339
from engine.tracing import NO_TRACER, Tracer
from engine.tsdb.backend import StoreError
from engine.tsdb.store import Store
from engine.tsdb.types import Family

if TYPE_CHECKING:
    from engine.mongo import MongoHealthDB

log = logging.getLogger(__name__)
T = TypeVar("T")
QueryRunner = Callable[[Callable[[], T]], Awaitable[T]]
TOPIC = "health"
HISTORY_FLUSH_S = 1.0
VIEW_BATCH = 100
UPTIME_WINDOWS = {"24h": 30.0, "7d": 300.0, "30d": 300.0}
"""Uptime windows and how long each computed figure is reused (seconds)."""


class HealthConfigError(StoreError):
    """A bad HEALTH_CHECKS_FILE or a dependency on no check, found when opening: start-up stops with
    one line naming it, as it does for a storage problem."""


class CheckNotFound(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class CheckConflict(ValueError):
    """A name already used, or a check the API may not change (from the config)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class HealthService:
    def __init__(self, settings: Settings, store: Store, query: QueryEngine, bus: EventBus, clock: Clock,
                 run_query: QueryRunner[Any], *, history: HealthDB | MongoHealthDB | None = None,
                 repair: bool = False, tracer: Tracer = NO_TRACER,
                 shared: SharedDocs | None = None) -> None:
        """``shared``: the API's checks in Redis (several replicas), in place of ``health/checks.json``."""
        self.settings = settings
        self.shared = shared
        self.tracer = tracer
        self.store = store
        self.query = query
        self.bus = bus
        self.clock = clock
        self._run_query = run_query
        self.db = history if history is not None else HealthDB(settings.data_dir, repair=repair)
        """The history store: DATA_DIR/health.db, or MongoHealthDB with MONGODB_URI."""
        self.definitions = DefinitionFile(settings.data_dir, SecretBox(settings.data_dir, settings.secrets_key))
        self.policy = NetPolicy.from_entries(settings.health_check_allow)
        self.specs: dict[str, CheckSpec] = {}
        self.states: dict[str, CheckState] = {}
        self._http = HttpClients(self.policy, settings.health_check_concurrency)
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-writer")
        self._pending: list[HistoryEvent] = []
        self._scheduler: Scheduler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._uptime: dict[str, tuple[float, dict[str, dict[str, float]]]] = {}
        self.owns: Callable[[str], bool] = _everything
        """Whether this replica runs a check (by its ``check_key``; replicas divide the checks). The
        others' results come in through ``apply_remote``."""
        self.on_result: Callable[[str, Result, float], None] | None = None
        """Told every result of a check run here (to publish it to the other replicas)."""
        self._writing = asyncio.Lock()
        """Held by an API change from reading the checks to storing their new list: concurrent
        requests never write a list that misses another one's change."""

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the history and load every source (HealthConfigError for a bad HEALTH_CHECKS_FILE)."""
        self.db.open()
        for spec in self.settings.health_checks:
            self._add(spec)
        for spec in self._file_checks():
            if spec.name in self.specs:
                raise HealthConfigError(f"HEALTH_CHECKS_FILE: check {spec.name!r} is also in the config")
            self._add(spec)
        for spec in self._stored_checks():
            if spec.name in self.specs:
                log.warning("API health check shadowed by the config's, not run",
                            extra={"fields": {"check": spec.name}})
                continue
            self._add(spec)
        for spec in self.specs.values():
            missing = [d for d in spec.depends_on if d not in self.specs]
            if missing and spec.source != "api":
                where = "HEALTH_CHECKS_FILE" if spec.source == "file" else "HEALTH_CHECKS"
                raise HealthConfigError(f"{where}: {spec.name}.dependsOn: no check named {missing[0]!r}")

    def _stored_checks(self) -> list[CheckSpec]:
        """The API's checks: the data dir's file, or Redis (none when it does not answer: they are
        read when it does, see ``apply_shared``)."""
        if self.shared is None:
            return self.definitions.load()
        try:
            return self._parsed(self.shared.load())
        except SharedStateUnavailable as exc:
            log.warning("API health checks not read: Redis does not answer", extra={"fields": {"error": str(exc)}})
            return []

    @staticmethod
    def _parsed(docs: Docs) -> list[CheckSpec]:
        specs = []
        for name, doc in docs.items():
            try:
                specs.append(parse_check(doc, "api"))
            except CheckError as exc:
                log.warning("shared health check skipped", extra={"fields": {"check": name, "error": str(exc)}})
        return specs

    def apply_shared(self, docs: Docs) -> None:
        """Take the API's checks as another replica left them in Redis: new ones scheduled, changed
        ones start over, deleted ones stop (each announced on the ``health`` topic as here)."""
        wanted = {spec.name: spec for spec in self._parsed(docs)}
        for name in [n for n, s in self.specs.items() if s.source == "api" and n not in wanted]:
            self._drop(name)
        for name, spec in wanted.items():
            current = self.specs.get(name)
            if current is None:
                self._add(spec)
                self._reschedule(spec)
            elif current.source == "api" and current.record() != spec.record():
                self._replace(name, spec)

    def _file_checks(self) -> tuple[CheckSpec, ...]:
        path = self.settings.health_checks_file
        if path is None:
            return ()
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise HealthConfigError(f"HEALTH_CHECKS_FILE: {path}: {' '.join(str(exc).split())}") from None
        if isinstance(data, dict):
            data = data.get("health_checks")
        try:
            specs = parse_check_list(data, "file", commands_allowed=self.settings.health_commands_enabled)
        except CheckError as exc:
            raise HealthConfigError(f"HEALTH_CHECKS_FILE: {path}: {exc}") from None
        return specs

    def _add(self, spec: CheckSpec) -> None:
        self.specs[spec.name] = spec
        self.states.setdefault(spec.name, CheckState())

    def start(self) -> None:
        self._scheduler = Scheduler(self._run_scheduled, self.settings.health_check_concurrency)
        for spec in self.specs.values():
            self._scheduler.set(spec.name, spec.interval)
        self._scheduler.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._flush_loop()), loop.create_task(self._purge_loop())]

    async def stop(self) -> None:
        if self._scheduler is not None:
            await self._scheduler.stop()
            self._scheduler = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._flush_history()
        await self._http.close()

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._writer.shutdown(wait=True)
        self.db.close()

    def scheduler_stats(self) -> dict[str, Any]:
        """How late checks start against their schedule (recent runs), and runs skipped because the
        previous one was still going: what tells an operator the checker is overloaded."""
        lateness = sorted(self._scheduler.lateness) if self._scheduler is not None else []

        def quantile(q: float) -> float | None:
            return round(lateness[min(len(lateness) - 1, int(q * len(lateness)))] * 1000, 3) if lateness else None

        return {"latenessP50Ms": quantile(0.5), "latenessP99Ms": quantile(0.99), "latenessMaxMs": quantile(1.0),
                "skippedRuns": self._scheduler.skipped if self._scheduler is not None else 0}

    # -- running ---------------------------------------------------------------------------------

    async def _run_scheduled(self, name: str) -> None:
        if not self.owns(check_key(name)):
            return  # another replica runs it; its results come through apply_remote
        try:
            await self._run(name)
        except Exception:  # a bug in one check never stops the schedule
            log.exception("health check run failed", extra={"fields": {"check": name}})

    async def run_now(self, name: str | None = None) -> list[dict[str, Any]]:
        """Run one check (CheckNotFound) or all of them now; their views after the run."""
        names = [name] if name is not None else list(self.specs)
        if name is not None and name not in self.specs:
            raise CheckNotFound(name)
        runner = self._scheduler.run_now if self._scheduler is not None else self._run
        await asyncio.gather(*(runner(n) for n in names), return_exceptions=True)
        return [self._view(n) for n in names if n in self.specs]

    async def _run(self, name: str) -> None:
        spec = self.specs.get(name)
        if spec is None:
            return
        with self.tracer.span("health_check", {"health.check": name, "health.type": spec.type}) as span:
            result = await self._probe(spec)
            if self.tracer.enabled:
                span.set_attributes({"health.ok": result.ok, "health.slow": result.slow,
                                     "health.duration_s": result.duration})
                if result.status_code is not None:
                    span.set_attributes({"http.response.status_code": result.status_code})
                if result.error:
                    span.fail(result.error)
        if self.specs.get(name) is not spec:
            return  # changed or deleted while running: its result no longer applies
        now = self.clock.now()
        self._record(spec, result, now)
        if self.on_result is not None:
            self.on_result(name, result, now)

    def apply_remote(self, name: str, result: Result, at: float) -> None:
        """A result of check ``name`` another replica ran at ``at``, taken as if it had run here."""
        spec = self.specs.get(name)
        if spec is not None:
            with self.store.relayed():
                self._record(spec, result, at)

    def _record(self, spec: CheckSpec, result: Result, now: float) -> None:
        """One result into the check's state, history, series and events."""
        name = spec.name
        state = self.states[name]
        changed = state.observe(result, now, spec.retries)
        if not result.ok:
            self._pending.append(HistoryEvent(name, now, "failure", error=result.error, duration=result.duration))
        if changed:
            self._refresh(now, name)
        self._ingest(spec, state, result, now)

    async def _probe(self, spec: CheckSpec) -> Result:
        ctx = Context(self.policy if spec.source == "api" else None, self._http, self._threads)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(spec.timeout):
                result = await CHECKERS[spec.type](spec, ctx)
        except TimeoutError:
            result = Result(ok=False, duration=0.0, error=f"timed out after {spec.timeout:g}s")
        except (CheckFailed, BlockedTarget) as exc:
            result = Result(ok=False, duration=0.0, error=short_error(exc))
        except Exception as exc:  # every driver's own errors: connection refused, auth, protocol
            result = Result(ok=False, duration=0.0, error=short_error(exc))
        result.duration = time.perf_counter() - started
        slow_after = spec.params.get("degradedLatency")
        if result.ok and slow_after is not None and result.duration > slow_after:
            result.slow = True
        return result

    def _refresh(self, now: float, running: str) -> None:
        """Recompute the shown state of ``running`` (whose own state changed) and of the checks that
        depend on it, and announce what changed; the state series of a check changed through its
        dependencies is written now (``running``'s own run writes its own)."""
        affected = [running, *(n for n, s in self.specs.items() if running in s.depends_on)]
        for name in affected:
            spec, state = self.specs[name], self.states[name]
            down = [d for d in spec.depends_on if d in self.states and self.states[d].own == "down"]
            shown, reason = effective(state.own, down)
            slow_after = spec.params.get("degradedLatency")  # absent: a relayed result marked slow elsewhere
            if shown == "degraded" and reason is None and state.last_result is not None and state.last_result.slow:
                reason = "slower than expected" if slow_after is None else f"slower than {slow_after:g}s"
            if shown == "down":
                reason = state.last_error
            if shown == state.shown and reason == state.reason:
                continue
            previous = state.shown
            state.reason = reason
            if shown != previous:
                state.shown, state.shown_since = shown, now
                self._pending.append(HistoryEvent(name, now, "state", shown, previous, reason))
                if name != running:
                    self.store.ingest(f"health-state:{name}", [_state_family(name, shown)], to_ms(now))
                self.bus.publish(TOPIC, now, {"service": name, "state": shown, "previous": previous,
                                              "since": rfc3339(now), "reason": reason})

    def _ingest(self, spec: CheckSpec, state: CheckState, result: Result, now: float) -> None:
        labels = {**spec.labels, "service": spec.name, "type": spec.type}
        fams = [_gauge("probe_success", "Whether the probe succeeded", labels, 1.0 if result.ok else 0.0),
                _gauge("probe_duration_seconds", "How long the probe took, in seconds", labels, result.duration)]
        if result.status_code is not None:
            fams.append(_gauge("probe_http_status_code", "HTTP status code of the response", labels,
                               result.status_code))
        if result.cert_expiry is not None:
            fams.append(_gauge("probe_ssl_earliest_cert_expiry", "Expiry of the peer certificate, Unix seconds",
                               labels, result.cert_expiry))
        if result.dns_lookup is not None:
            fams.append(_gauge("probe_dns_lookup_time_seconds", "How long the DNS lookup took, in seconds", labels,
                               result.dns_lookup))
        own = {"service": spec.name}
        fams.append(_gauge("health_check_consecutive_failures", "Failed checks in a row", own,
                           state.consecutive_failures))
        t = to_ms(now)
        self.store.ingest(f"health:{spec.name}", fams, t)
        self.store.ingest(f"health-state:{spec.name}", [_state_family(spec.name, state.shown)], t)

    # -- history ---------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(HISTORY_FLUSH_S)
            await self._flush_history()

    async def _flush_history(self) -> None:
        events, self._pending = self._pending, []
        if not events:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._writer, self.db.write, events)
        except Exception as exc:
            log.error("health history not written", extra={"fields": {"events": len(events), "error": str(exc)}})

    async def _purge_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = self.clock.now() - self.settings.health_checks_ttl
            try:
                await loop.run_in_executor(self._writer, self.db.purge, before)
            except Exception as exc:
                log.error("health history not purged", extra={"fields": {"error": str(exc)}})
            await asyncio.sleep(3600)

    # -- changes through the API -----------------------------------------------------------------

    def _validated(self, body: Any) -> CheckSpec:
        spec = parse_check(body, "api")
        target = spec.target()
        if target is not None:
            try:
                self.policy.check_name(target[0])
            except BlockedTarget as exc:
                field = "url" if "url" in spec.params else "host"
                raise CheckError(field, str(exc)) from None
        for dep in spec.depends_on:
            if dep not in self.specs:
                raise CheckError("dependsOn", f"no check named {dep!r}")
        return spec

    def _api_specs(self) -> list[CheckSpec]:
        return [s for s in self.specs.values() if s.source == "api"]

    def _editable(self, name: str) -> CheckSpec:
        spec = self.specs.get(name)
        if spec is None:
            raise CheckNotFound(name)
        if spec.source != "api":
            raise CheckConflict(f"check {name!r} comes from the {spec.source} and cannot be changed through the API",
                                "read_only_check")
        return spec

    async def create(self, body: Any) -> dict[str, Any]:
        """Add an API check (CheckError, CheckConflict), persist it and schedule it."""
        async with self._writing:
            spec = self._validated(body)
            if spec.name in self.specs:
                raise CheckConflict(f"a check named {spec.name!r} already exists", "duplicate_check")
            if not await self._save([*self._api_specs(), spec], spec, only="new"):  # made on another replica
                raise CheckConflict(f"a check named {spec.name!r} already exists", "duplicate_check")
            self._add(spec)
        self._reschedule(spec)
        return self._view(spec.name)

    async def update(self, name: str, body: Any) -> dict[str, Any]:
        """Replace an API check; the name in the path wins over the body's. Its state starts over."""
        async with self._writing:
            old = self._editable(name)
            raw = keep_secrets({**body, "name": name} if isinstance(body, dict) else body, old)
            spec = self._validated(raw)
            if not await self._save([spec if s.name == name else s for s in self._api_specs()], spec,
                                    only="existing"):
                raise CheckNotFound(name)  # deleted on another replica meanwhile
            self._replace(name, spec)
        return self._view(name)

    def _replace(self, name: str, spec: CheckSpec) -> None:
        self.specs[name] = spec
        previous = self.states[name].shown
        self.states[name] = CheckState()
        if previous != "unknown":  # the new definition has not been checked yet
            now = self.clock.now()
            self._pending.append(HistoryEvent(name, now, "state", "unknown", previous, "definition changed"))
            self.bus.publish(TOPIC, now, {"service": name, "state": "unknown", "previous": previous,
                                          "since": rfc3339(now), "reason": "definition changed"})
        self._reschedule(spec)

    async def delete(self, name: str) -> None:
        async with self._writing:
            self._editable(name)
            users = [s.name for s in self.specs.values() if name in s.depends_on]
            if users:
                raise CheckConflict(f"check {name!r} is a dependency of {', '.join(users[:5])}", "check_in_use")
            await self._save([s for s in self._api_specs() if s.name != name], deleted=name)
            self._drop(name)

    def _drop(self, name: str) -> None:
        del self.specs[name]
        del self.states[name]
        if self._scheduler is not None:
            self._scheduler.remove(name)
        t = self.clock.now()
        for source in (f"health:{name}", f"health-state:{name}"):
            self.store.ingest(source, [], to_ms(t))  # its series end now (stale markers)
        self._pending.append(HistoryEvent(name, t, "state", "deleted", None, None))
        self.bus.publish(TOPIC, t, {"service": name, "state": "deleted", "previous": None, "since": rfc3339(t),
                                    "reason": None})

    async def _save(self, specs: list[CheckSpec], changed: CheckSpec | None = None, deleted: str = "",
                    only: str = "") -> bool:
        """Every API check to the file, or only the ``changed`` (or ``deleted``) one to Redis; False
        when Redis refused it (``only``: see ``SharedDocs.put``)."""
        loop = asyncio.get_running_loop()
        if self.shared is None:
            await loop.run_in_executor(self._writer, self.definitions.save, specs)
            return True
        if changed is not None:
            return await loop.run_in_executor(self._writer, self.shared.put, changed.name, changed.record(), only)
        await loop.run_in_executor(self._writer, self.shared.delete, deleted)
        return True

    def _reschedule(self, spec: CheckSpec) -> None:
        if self._scheduler is not None:
            self._scheduler.set(spec.name, spec.interval)

    # -- views -----------------------------------------------------------------------------------

    def _view(self, name: str, uptime: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
        spec, st = self.specs[name], self.states[name]
        r = st.last_result
        now = self.clock.now()
        uptime = uptime or {}
        expiry = r.cert_expiry if r is not None else None
        return {
            "name": name, "type": spec.type, "state": st.shown, "reason": st.reason,
            "since": None if st.shown_since is None else rfc3339(st.shown_since),
            "lastCheck": None if st.last_check is None else rfc3339(st.last_check),
            "latencyMs": None if r is None else round(r.duration * 1000, 3),
            "statusCode": None if r is None else r.status_code,
            "consecutiveFailures": st.consecutive_failures,
            "lastError": st.last_error,
            "lastErrorAt": None if st.last_error_at is None else rfc3339(st.last_error_at),
            "certExpiry": None if expiry is None else rfc3339(expiry),
            "certDaysLeft": None if expiry is None else round((expiry - now) / 86400, 2),
            "uptime": {w: uptime.get("uptime", {}).get(w, {}).get(name) for w in UPTIME_WINDOWS},
            "responseTimeMs": {k: uptime.get("latency", {}).get(k, {}).get(name) for k in ("mean", "p95")},
            "latencies": [list(p) for p in st.latencies],
            "details": {} if r is None else r.details,
            "dependsOn": list(spec.depends_on),
            "labels": dict(spec.labels),
            "source": spec.source,
            "editable": spec.source == "api",
            "check": spec.public(),
        }

    async def services(self) -> list[dict[str, Any]]:
        """Every check's view, built a hundred at a time so a long listing never holds the loop."""
        figures = await self._figures()
        views = []
        for i, name in enumerate(sorted(self.specs)):
            if i and i % VIEW_BATCH == 0:
                await asyncio.sleep(0)
            if name in self.specs:
                views.append(self._view(name, figures))
        return views

    async def service(self, name: str, history: int = 100) -> dict[str, Any]:
        if name not in self.specs:
            raise CheckNotFound(name)
        figures = await self._figures()
        view = self._view(name, figures)
        await self._flush_history()
        events = await asyncio.get_running_loop().run_in_executor(self._writer, self.db.history, name, history)
        view["history"] = [{"ts": rfc3339(e.ts), "kind": e.kind, "state": e.state, "previous": e.previous,
                            "error": e.error, "durationMs": None if e.duration is None else round(e.duration * 1000, 3)}
                           for e in events]
        view["dependents"] = sorted(n for n, s in self.specs.items() if name in s.depends_on)
        return view

    def overview(self) -> dict[str, Any]:
        counts = dict.fromkeys(STATES, 0)
        for st in self.states.values():
            counts[st.shown] += 1
        worst = max((st.shown for st in self.states.values()), key=RANK.__getitem__, default="up")
        return {"status": worst, "counts": counts, "total": len(self.specs), "timestamp": rfc3339(self.clock.now()),
                "scheduler": self.scheduler_stats()}

    def snapshot(self) -> dict[str, Any]:
        """The WebSocket topic's snapshot: each check's state, and the counts."""
        return {**self.overview(), "services": [
            {"service": n, "state": self.states[n].shown, "reason": self.states[n].reason,
             "since": None if self.states[n].shown_since is None else rfc3339(self.states[n].shown_since)}
            for n in sorted(self.specs)]}

    async def _figures(self) -> dict[str, dict[str, dict[str, float]]]:
        """Uptime % per window and 24 h mean/p95 response time per check, from PromQL over the stored
        probe_success and probe_duration_seconds, each reused for a while (UPTIME_WINDOWS)."""
        queries = {("uptime", w): f"100 * avg by (service) (avg_over_time(probe_success[{w}]))"
                   for w in UPTIME_WINDOWS}
        queries[("latency", "mean")] = "1000 * avg by (service) (avg_over_time(probe_duration_seconds[24h]))"
        queries[("latency", "p95")] = "1000 * max by (service) (quantile_over_time(0.95, probe_duration_seconds[24h]))"
        out: dict[str, dict[str, dict[str, float]]] = {"uptime": {}, "latency": {}}
        now = self.clock.now()
        for (kind, key), expr in queries.items():
            ttl = UPTIME_WINDOWS.get(key, 30.0)
            cached = self._uptime.get(expr)
            if cached is None or now - cached[0] > ttl or now < cached[0]:
                try:
                    result = await self._run_query(lambda e=expr, t=now: self.query.instant(e, t))
                except Exception as exc:
                    log.warning("health figures not computed", extra={"fields": {"query": expr, "error": str(exc)}})
                    out[kind][key] = {}
                    continue
                values = {s.labels.get("service", ""): round(s.value, 3) for s in result.value}
                cached = self._uptime[expr] = (now, values)
            out[kind][key] = cached[1]
        return out


def _everything(_key: str) -> bool:
    return True


def _gauge(name: str, help_text: str, labels: dict[str, str], value: float) -> Family:
    fam = Family(name, "gauge", help_text)
    fam.add(value, labels)
    return fam


def _state_family(name: str, shown: str) -> Family:
    fam = Family("health_check_state", "gauge", "1 for the check's current state, 0 for the others")
    for s in STATES:
        fam.add(1.0 if s == shown else 0.0, {"service": name, "state": s})
    return fam
