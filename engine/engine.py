"""The composition root: one Engine owns the store, the collectors, the schedules and the event bus."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from engine import __version__
from engine.alerts.book import AlertActionError, AlertBook
from engine.alerts.db import AlertDB
from engine.alerts.model import AlertInstance
from engine.audit import AuditEntry, AuditLog
from engine.charts import chart
from engine.clock import Clock, SystemClock, to_ms
from engine.cluster.alertstore import RedisAlertDB
from engine.cluster.alertsync import AlertSync
from engine.cluster.nflog import SharedNotificationLog
from engine.cluster.replicas import Cluster, replica_id
from engine.cluster.results import WorkResults
from engine.cluster.shared import SharedState
from engine.cluster.topics import TopicRelay
from engine.cluster.work import assignments, check_key, target_key
from engine.collectors.processes import ALERT_TOP, ProcessTable
from engine.collectors.system import ProcessCollector, SystemCollector
from engine.dashboard_view import realtime_view, summary_view
from engine.dashboards import find_dashboard, list_dashboards
from engine.datadir import DataDirLock, DiskHealth, StorageFullError
from engine.evaluation.manager import Ruler
from engine.evaluation.views import prometheus_alert, prometheus_rules, rule_json, sort_alerts
from engine.events import EventBus, Subscription
from engine.health.service import HealthService
from engine.ingest import remote_write, state
from engine.ingest.admission import Admission, Outcome, SeriesLimits
from engine.ingest.push import PushError, PushResult, PushStore, run_steps
from engine.ingest.pushgateway import PushGroups, grouping_key, parse_protobuf, parse_text
from engine.logs import log_failure
from engine.mongo import MongoAlertDB, MongoAuditLog, MongoHealthDB
from engine.netpolicy import NetPolicy
from engine.notify.notifier import Notifier
from engine.promql import QueryEngine, QueryResult
from engine.promql.guard import Limits as ParseLimits
from engine.promql.parse import Parser
from engine.remotewrite.manager import RemoteWrite
from engine.rulefiles.managed import ManagedRules, ReadOnlyRuleError, RuleNotFoundError
from engine.scrape.manager import FILE_SD_POLL_S, ScrapeManager
from engine.secretbox import SecretBox
from engine.service_views import (
    DEFAULT_APPLICATION_RANGE_S,
    DEFAULT_BUSINESS_RANGE_S,
    application_view,
    business_view,
)
from engine.settings import Settings, parse_duration
from engine.system_view import system_view
from engine.timefmt import rfc3339
from engine.tracing import make_tracer
from engine.tsdb.backend import StoreError
from engine.tsdb.head import MemSeries
from engine.tsdb.matchers import Matcher
from engine.tsdb.mongo import MongoBackend, MongoConnection
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import Family, Labels, Metadata, make_labels

log = logging.getLogger(__name__)

FamilySource = Callable[[], list[Family]]
Selectors = Iterable[Iterable[Matcher]]
DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules.yaml"
RULE_FILE_POLL_S = 5.0
QUERY_DRAIN_S = 5.0
AUDIT_TOPIC_LIMIT = 50
"""The ``audit`` topic's snapshot: the latest 50 entries."""
"""How long ``close`` waits for running queries (told to stop) before it closes storage."""
T = TypeVar("T")


def _always() -> bool:
    return True


class Engine:
    """Everything the product knows. Built from Settings; the server and console only call it."""

    def __init__(self, settings: Settings, clock: Clock | None = None, *, collect_system: bool = True,
                 repair: bool = False) -> None:
        """``repair``: move damaged data files aside and start new ones instead of refusing to start."""
        self.settings = settings
        self.clock = clock or SystemClock()
        self.tracer = make_tracer(settings)
        """Spans of requests (the server's middleware) and of the parts' work; NO_TRACER when off."""
        self.lock = DataDirLock(settings.data_dir)
        self.disk = DiskHealth(Path(settings.data_dir))
        self.mongo = MongoConnection(settings.mongodb_uri) if settings.mongodb_uri else None
        """MONGODB_URI: the metrics store, the health history, the audit log and (without REDIS_URL)
        the alert state live there instead of DATA_DIR's SQLite files."""
        self.store = Store(
            MongoBackend(self.mongo, settings.metrics_ttl, socket.gethostname(),
                         f"{socket.gethostname()}:{settings.data_dir}") if self.mongo is not None
            else SQLiteBackend(settings.data_dir, repair=repair),
            head_retention_ms=int(settings.head_retention * 1000),
            lookback_ms=int(settings.lookback_delta * 1000),
            ttl_ms=int(settings.metrics_ttl * 1000),
        )
        parser = Parser(ParseLimits(settings.query_max_length, settings.query_max_depth))
        self.query = QueryEngine(self.store, parser=parser, lookback_ms=int(settings.lookback_delta * 1000),
                                 max_samples=settings.query_max_samples, timeout_s=settings.query_timeout,
                                 evaluation_interval_ms=int(settings.evaluation_interval * 1000))
        self.bus = EventBus()
        self.cluster = Cluster(settings.redis_url, settings.leader_lease, self.clock.now,
                               self._leading_changed, self._work_changed) if settings.redis_url else None
        """Several replicas through Redis: only the lease's holder evaluates and notifies. None alone."""
        leading = self.cluster.leading if self.cluster is not None else _always
        self.shared = SharedState(settings.redis_url, self.cluster.id, SecretBox(settings.data_dir,
                                  settings.secrets_key)) if self.cluster is not None else None
        """API rules, health checks, channels and scrape targets in Redis; None alone (data-dir files)."""
        shared = self.shared.docs if self.shared is not None else lambda kind, sealed: None
        alert_db = RedisAlertDB(settings.redis_url, self.cluster.id, lambda: self.cluster.lease.token) \
            if self.cluster is not None else MongoAlertDB(self.mongo, settings.alerts_ttl) \
            if self.mongo is not None else AlertDB(settings.data_dir, repair=repair)
        self.book = AlertBook(alert_db, self.bus, self.clock.now, settings.alerts_ttl,
                              forget=self._forget_alert, on_change=self._alert_changed)
        self.alert_sync = AlertSync(settings.redis_url, self.cluster.id, self.book, self._resync_alerts) \
            if self.cluster else None
        self.topic_relay = TopicRelay(settings.redis_url, self.cluster.id, self.bus) if self.cluster else None
        """The stream's notifications and audit events of every replica on each one's stream."""
        self.audit = MongoAuditLog(self.mongo, settings.alerts_ttl) if self.mongo is not None \
            else AuditLog(settings.data_dir, repair=repair)
        self._rules_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rules")
        self.managed_rules = ManagedRules(settings.data_dir, repair=repair, parser=parser,
                                          shared=shared("rules", sealed=False))
        files = [str(DEFAULT_RULES)] if DEFAULT_RULES.exists() else []
        self.ruler = Ruler(self.store, self.query, self.book, self.clock.now, settings.evaluation_interval,
                           files + list(settings.rules_files), self.managed_rules, self._rules_pool,
                           tracer=self.tracer, leading=leading)
        self.system_collector = SystemCollector() if collect_system else None
        self.process_collector = ProcessCollector()
        self.processes = ProcessTable()
        self._processes_at: float | None = None
        """The host's top processes, read only on demand: the ``processes`` topic, the API, a firing alert."""
        self.admission = Admission(self.store, SeriesLimits(settings.max_series, settings.max_series_per_metric))
        self.pushed = PushStore(self.admission)
        self.push_groups = PushGroups(self.admission)
        self.scraper = ScrapeManager(settings.scrape_configs, str(settings.data_dir),
                                     NetPolicy.from_entries(settings.health_check_allow), self.clock,
                                     self.admission, settings.scrape_interval, settings.scrape_timeout,
                                     tracer=self.tracer, shared=shared("targets", sealed=True))
        self._ingest_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")  # body decoding
        self._remote_write = remote_write.Decoder()  # used on the ingest thread only
        self._self_sources: dict[str, FamilySource] = {"process": self.process_collector.collect,
                                                       "ingest": self.admission.families}
        self.notifier = Notifier(settings, self.clock.now, self.bus, self._rule_channels, repair=repair,
                                 tracer=self.tracer, leading=leading,
                                 shared_log=SharedNotificationLog(settings.redis_url) if self.cluster else None,
                                 shared=shared("channels", sealed=True))
        self.add_self_source("notify", self.notifier.families)
        if self.topic_relay is not None:
            self.add_self_source("cluster_events", self.topic_relay.families)
        self.remote_write_out = RemoteWrite(settings.remote_write, Path(settings.data_dir),
                                            settings.remote_write_max_age, self.store,
                                            NetPolicy.from_entries(settings.health_check_allow),
                                            self.clock.now) if settings.remote_write else None
        """Every appended sample sent on to REMOTE_WRITE's receivers; None when none is configured."""
        if self.remote_write_out is not None:
            self.add_self_source("remote_write", self.remote_write_out.families)
        self.started_at = self.clock.now()
        self._scheduler: AsyncIOScheduler | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._collector_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector")
        # Requests' queries (QUERY_MAX_CONCURRENCY at once, the rest queue) and readiness's storage
        # check each have their own threads: neither the ruler, the collector, the writer nor the
        # probes ever wait behind a user's query.
        self._query_pool = ThreadPoolExecutor(max_workers=settings.query_max_concurrency, thread_name_prefix="query")
        self._probe_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe")
        self._queries_running = 0
        self._queries_idle = threading.Condition()
        self._flush_lock = asyncio.Lock()
        self._collect_lock = asyncio.Lock()
        self._views_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.last_collection: float | None = None
        self._system_view: tuple[float, dict[str, Any]] | None = None
        """(when, figures) of the last collection's System view."""
        self.last_flush: float | None = None
        self.health = HealthService(settings, self.store, self.query, self.bus, self.clock, self.run_query,
                                    repair=repair, tracer=self.tracer,
                                    history=MongoHealthDB(self.mongo, settings.health_checks_ttl)
                                    if self.mongo is not None else None, shared=shared("checks", sealed=True))
        if self.shared is not None:
            for owner, apply in ((self.managed_rules, self._shared_rules_changed),
                                 (self.health, self.health.apply_shared), (self.notifier, self.notifier.apply_shared),
                                 (self.scraper, self.scraper.apply_shared)):
                self.shared.watch(owner.shared, apply)
        self.work_results = WorkResults(settings.redis_url, self.cluster.id, self.health.apply_remote,
                                        self.scraper.apply_remote) if self.cluster is not None else None
        """Each target and check runs on one replica, which relays its results to the others; None alone."""
        if self.work_results is not None:
            self.scraper.owns = self.health.owns = self.cluster.owns  # type: ignore[union-attr]
            self.scraper.on_scrape = self.work_results.scrape_result
            self.health.on_result = self.work_results.check_result
            self.add_self_source("cluster_work", self.work_results.families)

    def now_ms(self) -> int:
        return to_ms(self.clock.now())

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Lock the data dir, open storage and load rules (StoreError or RuleLoadError, with
        operator-facing messages)."""
        self.lock.acquire()
        self.store.open()
        try:
            self.book.open()
        except StoreError:
            if self.cluster is None:
                raise
            # Redis is down: start with no alerts and do no leader's work; the alert state is read
            # when Redis answers (AlertSync), as after any lost connection
            log.warning("alert state not read: Redis does not answer", exc_info=True)
        self.audit.open()
        self.managed_rules.load()
        self.ruler.load()
        state.load(self.settings.data_dir, self.pushed, self.push_groups)
        self.health.open()
        self.notifier.open(list(self.book.live.values()))
        self.scraper.load()

    def serving_at(self, url: str) -> None:
        """The address the server listens on: what $externalURL and generator links point at, and
        what the data-dir lock tells a second server or console."""
        self.ruler.external_url = url
        self.notifier.external_url = self.notifier.external_url or url
        self.lock.announce(url)
        if self.cluster is not None:
            self.cluster.address = url
            if self.system_collector is not None:  # replicas' host metrics stay apart wherever they meet
                self.system_collector.instance = f"{socket.gethostname()}:{urlsplit(url).port}"

    async def start(self) -> None:
        """Collect once right away, then on schedule; persist every flush interval."""
        await self.collect()
        self._scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        interval = self.settings.collection_interval
        start = datetime.now(UTC)
        self._scheduler.add_job(self.collect, "interval", seconds=interval, id="collect", coalesce=True,
                                max_instances=1, misfire_grace_time=max(1, int(interval)),
                                next_run_time=start + timedelta(seconds=interval))
        self._scheduler.add_job(self.flush, "interval", seconds=self.settings.flush_interval, id="flush",
                                coalesce=True, max_instances=1)
        self._scheduler.add_job(self.reload_rules_if_changed, "interval", seconds=RULE_FILE_POLL_S,
                                id="rules-watch", coalesce=True, max_instances=1)
        self._scheduler.add_job(self.book.purge, "interval", hours=1, id="alerts-purge", coalesce=True,
                                next_run_time=start)
        self._scheduler.add_job(self.purge_audit, "interval", hours=1, id="audit-purge", coalesce=True,
                                next_run_time=start)
        self._scheduler.add_job(self.purge_notifications, "interval", hours=1, id="notifications-purge",
                                coalesce=True, next_run_time=start)
        self._scheduler.add_job(self.scraper.poll_files, "interval", seconds=FILE_SD_POLL_S, id="file-sd-watch",
                                coalesce=True, max_instances=1)
        self.ruler.start(self._scheduler)
        self._scheduler.start()
        if self.alert_sync is not None:
            await self.alert_sync.start()
        if self.topic_relay is not None:
            await self.topic_relay.start()
        if self.shared is not None:
            await self.shared.start()
        if self.cluster is not None:
            await self.cluster.start()
        if self.work_results is not None:
            await self.work_results.start()
        await self.scraper.start()
        if self.remote_write_out is not None:
            await self.remote_write_out.start()
        self.health.start()
        await self.notifier.start()

    async def reload_rules(self) -> str | None:
        """Reload rule files and API rules; on failure the running rules stay and the reason is returned."""
        return await self.ruler.reload()

    def reload_rules_soon(self) -> None:
        """``reload_rules`` in the background (SIGHUP)."""
        self._spawn(self.reload_rules())

    def _spawn(self, job: Coroutine[Any, Any, Any]) -> None:
        """Run ``job`` in the background, kept referenced until it ends."""
        task = asyncio.get_running_loop().create_task(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reload_rules_if_changed(self) -> None:
        if self.ruler.files_changed():
            await self.reload_rules()

    async def stop(self) -> None:
        """Stop schedules, persist everything pending, then ``close``, even when persisting fails
        (a full disk): the data-dir lock and the files are released either way."""
        try:
            self._stop_schedules()
            async with self._collect_lock:  # let a cycle in progress finish rather than cancel it
                pass
            await self.health.stop()
            if self.cluster is not None:
                await self.cluster.stop()
            if self.work_results is not None:
                await self.work_results.stop()
            if self.alert_sync is not None:
                await self.alert_sync.stop()
            if self.topic_relay is not None:
                await self.topic_relay.stop()
            if self.shared is not None:
                await self.shared.stop()
            await self.notifier.stop()
            await self.scraper.stop()
            if self._views_task is not None:
                self._views_task.cancel()  # views for subscribers who are going away
            if self.remote_write_out is not None:
                await self.remote_write_out.stop()
            async with self._flush_lock:
                await asyncio.get_running_loop().run_in_executor(self._writer, self.store.close, self.now_ms())
                await self._save_pushed()
        finally:
            self.close()

    def close(self) -> None:
        """Release every part without persisting: schedules, pools, the metrics and alert databases
        and the data-dir lock. Safe after a failed ``open`` (what was not opened is skipped) and twice."""
        self._stop_schedules()
        self.query.close()  # running queries and lookups stop at their next deadline check
        self._query_pool.shutdown(wait=False, cancel_futures=True)
        with self._queries_idle:
            if not self._queries_idle.wait_for(lambda: not self._queries_running, QUERY_DRAIN_S):
                log.warning("queries still running at shutdown; closing storage under them",
                            extra={"fields": {"queries": self._queries_running}})
        for pool in (self._writer, self._collector_pool, self._rules_pool, self._probe_pool, self._ingest_pool):
            pool.shutdown(wait=True)
        self.query.parser.close()
        self.store.backend.close()
        self.book.close()
        self.audit.close()
        self.health.close()
        self.scraper.close()
        self.notifier.close()
        if self.remote_write_out is not None:
            self.remote_write_out.close()
        self.tracer.shutdown()
        self.lock.release()

    def _stop_schedules(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    def _leading_changed(self, leading: bool) -> None:
        """A new term carries on the alert instances and the notification log the previous one left in
        Redis, and evaluates every group at once rather than at each group's next turn: the failover
        time is the lease's, not the lease's plus an evaluation interval."""
        self._spawn(self._take_shared_alerts(evaluate=leading))

    def _resync_alerts(self) -> None:
        """Read the shared alert state again, in the background: a hung Redis holds no request."""
        self._spawn(self._take_shared_alerts(evaluate=False))

    async def _take_shared_alerts(self, evaluate: bool) -> None:
        """The shared state as the previous term left it, nothing stale of ours; the leader's rules take
        its live instances as theirs. ``evaluate``: a new term, which then evaluates every group."""
        try:
            await self.book.reload()
            if self.cluster is not None and self.cluster.leading():
                self.ruler.adopt()
                await self.book.save()  # the instances of rules that no longer exist, resolved
        except StoreError:
            log.warning("alert state not taken again from Redis", exc_info=True)
        except Exception as exc:  # a bug: this term must not go on with rules that did not take the state
            log_failure(log, "alert state not taken again", exc)
            if self.cluster is not None and self.cluster.leading():
                await self.cluster.stand_down()
            return
        if evaluate:
            try:
                await self.notifier.adopt_shared_log()
                await self.ruler.evaluate_all()
            except Exception as exc:  # the groups are evaluated again at their next turn
                log_failure(log, "a new term's first evaluation failed", exc)

    async def _shared_rules_changed(self, docs: dict[str, Any]) -> None:
        """Another replica changed the API rules in Redis: take them and reload the rules. Taken on
        the rules thread: a write there may hold the rules' lock while it waits on a slow Redis."""
        await self._on_rules_thread(self.managed_rules.apply_shared, docs)
        await self.reload_rules()

    async def cluster_view(self) -> dict[str, Any]:
        """``GET /api/cluster``: this replica, the leader, the live replicas (ClusterUnavailable when
        Redis does not answer). Alone, this process is the whole cluster and its leader."""
        keys = [*(target_key(t.config.job_name, t.url) for t in self.scraper.targets.values()),
                *map(check_key, self.health.specs)]
        if self.cluster is not None:
            return await self.cluster.view(keys)
        me = {"id": replica_id(), "address": self.ruler.external_url, "startedAt": rfc3339(self.started_at),
              "lastSeen": rfc3339(self.clock.now())}
        return {"self": me["id"], "leader": me["id"], "replicas": [me], "assignments": assignments(keys, [me["id"]])}

    def _work_changed(self) -> None:
        """A replica joined or left: scrape the targets this one owns now (the health scheduler asks
        at each run)."""
        self.scraper.reassign()

    def _forget_alert(self, rule_id: str, fingerprint: str) -> None:
        """The alert book's callback after a manual resolve (wired here: the book is built first)."""
        self.ruler.forget(rule_id, fingerprint)

    def _alert_changed(self, kind: str, instance: AlertInstance) -> None:
        """The alert book's callback after each committed change: the notifier routes it. A failure is
        logged, never raised into the ruler or the user's action that caused the change."""
        try:
            self.notifier.alert_changed(kind, instance)
        except Exception:
            log.exception("routing an alert change to notifications failed")
        if kind == "firing" and self.ruler.leading():  # the leader's host fired it (with replicas)
            self._spawn(self._keep_processes(instance.id))

    def _rule_channels(self, rule_id: str) -> list[dict[str, Any]]:
        """A running rule's ``notificationChannels`` (the notifier's per-rule receivers)."""
        for group in self.ruler.groups.values():
            for rr in group.rules:
                if rr.rule.id == rule_id:
                    return list(rr.rule.notification_channels)
        return []

    # -- audit log (engine/audit.py) ----------------------------------------------------------

    def record_audit(self, entry: AuditEntry) -> None:
        """Store an audited request and publish it on the ``audit`` topic."""
        self.bus.publish("audit", entry.ts, self.audit.record(entry))

    def audit_entries(self, filters: dict[str, str], since: float | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
        """Newest first, filtered by exact ``actor``, ``role``, ``method``, ``route``, ``target``, ``result``."""
        return self.audit.entries(filters, since, limit)

    def purge_audit(self) -> None:
        """Drop audit entries older than ALERTS_TTL."""
        self.audit.purge(self.clock.now() - self.settings.alerts_ttl)

    async def purge_notifications(self) -> None:
        """Drop delivery-log entries older than ALERTS_TTL (pending ones stay until sent or given up)."""
        await self.notifier.purge(self.clock.now() - self.settings.alerts_ttl)

    # -- notifications (engine/notify/): ChannelError for refusals ---------------------------------

    def notification_channels(self) -> list[dict[str, Any]]:
        """Every channel without its secrets, with health and queue length."""
        return self.notifier.channels()

    def notification_channel(self, name: str) -> dict[str, Any]:
        return self.notifier.channel(name)

    async def create_notification_channel(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.notifier.create_channel(body)

    async def update_notification_channel(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.notifier.update_channel(name, body)

    async def delete_notification_channel(self, name: str) -> None:
        await self.notifier.delete_channel(name)

    async def test_notification_channel(self, name: str) -> dict[str, Any]:
        """Send a test message to a channel now; the receiver's answer."""
        return await self.notifier.test_channel(name)

    async def notifications(self, channel: str | None = None, status: str | None = None, alert: str | None = None,
                            since: float | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The delivery log, newest first."""
        return await self.notifier.deliveries(channel=channel, status=status, alert=alert, since=since, limit=limit)

    async def notification(self, entry_id: int) -> dict[str, Any] | None:
        """One delivery-log entry with the payload sent and the receiver's response."""
        return await self.notifier.delivery_entry(entry_id)

    def notification_routing(self) -> dict[str, Any]:
        """The route tree, inhibition rules and the aggregation groups waiting."""
        return self.notifier.routing()

    # -- schedules ---------------------------------------------------------------------------

    async def collect(self) -> None:
        """One collection cycle: blocking psutil reads run off the loop, appends on it."""
        async with self._collect_lock:
            await self._collect()

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        now = self.clock.now()
        t = to_ms(now)
        if self.system_collector is not None:
            families = await loop.run_in_executor(self._collector_pool, self.system_collector.collect)
            self.store.ingest("system", families, t)
        await run_steps(self.pushed.refresh(t))
        await run_steps(self.push_groups.refresh(t))
        self._ingest_self(t)
        self.last_collection = now
        await self._refresh_system_view(now)
        for topic in ("system", "metrics"):
            if self.bus.wants(topic):
                self.bus.publish(topic, now, await self.snapshot(topic))
        if self.bus.wants("processes") and (self._processes_at is None or now - self._processes_at
                                            >= self.PROCESSES_INTERVAL_S - self.settings.collection_interval / 2):
            self._processes_at = now
            self.bus.publish("processes", now, await self.snapshot("processes"))
        wanted = [t for t in self.VIEW_TOPICS if self.bus.wants(t)]
        if wanted and (self._views_task is None or self._views_task.done()):
            self._views_task = asyncio.create_task(self._publish_views(now, wanted))

    async def _publish_views(self, now: float, topics: list[str]) -> None:
        """The application and business views of this cycle, for their subscribers only. They run on
        the query pool in a task of their own, so a busy pool never delays collection; a cycle that
        finds the previous publication still running skips (the next one brings the newest figures)."""
        for topic in topics:
            try:
                self.bus.publish(topic, now, await self.snapshot(topic))
            except Exception:
                log.exception("computing the %s view failed", topic)

    def _ingest_self(self, t: int) -> None:
        """Record the process's and the server's own metrics: once per collection, never per request,
        so how often /metrics is scraped does not decide how much the store grows."""
        for name, source in self._self_sources.items():
            self.store.ingest(name, source(), t)

    def exposition_series(self, now_ms: int) -> Iterator[tuple[str, list[tuple[MemSeries, float]]]]:
        """What /metrics shows, grouped by name as Store.live gives it: the store's fresh series, with
        the process's and server's own series read from their sources now (a scrape sees counters that
        include the latest requests) in place of their last collected samples, and stored nowhere."""
        own: dict[str, list[tuple[MemSeries, float]]] = {}
        for source in self._self_sources.values():
            for family in source():
                for name, labels, value in family.samples:
                    own.setdefault(name, []).append((MemSeries(-1, make_labels(name, labels)), value))
        for name, members in self.store.live(now_ms):
            current = own.pop(name, None)
            if current is None:
                yield name, members
            else:
                fresh = {s.labels for s, _ in current}
                yield name, [m for m in members if m[0].labels not in fresh] + current
        yield from own.items()

    # -- ingestion: every sample from outside passes admission (engine/ingest/admission.py) ---

    def ingest_families(self, source: str, families: list[Family], t: int | None = None, *,
                        stale_key: str | None = None, atomic: bool = False) -> Outcome:
        """Admit families at time t (now by default). ``source`` is the counters' label (push,
        pushgateway, scrape, ...); ``stale_key`` makes the call one full cycle of that key (a scrape
        target): its series missing from it get stale markers. ``atomic``: all or nothing."""
        return self.admission.admit_families(source, families, self.now_ms() if t is None else t,
                                             stale_key=stale_key, atomic=atomic)

    def ingest_series(self, source: str, series: Iterable[tuple[Labels, list[int], list[float]]]) -> Outcome:
        """Admit timestamped samples of whole label sets (remote write)."""
        return self.admission.admit_series(source, series, self.now_ms())

    # -- scrape targets (engine/scrape/) ------------------------------------------------------

    def prometheus_targets(self, state: str = "any") -> dict[str, Any]:
        """``data`` of Prometheus's GET /api/v1/targets (``state``: active, dropped or any)."""
        return self.scraper.prometheus_targets(state)

    def scrape_targets(self) -> dict[str, Any]:
        """Every target with health and last scrape, and the API's entries (GET /api/targets)."""
        return self.scraper.target_list()

    async def add_scrape_target(self, body: Any) -> dict[str, Any]:
        """Store an API entry and start scraping it (EntryError naming the field; StorageFullError;
        SharedStateUnavailable)."""
        return (await self.scraper.add_entry(body)).public()

    async def delete_scrape_target(self, entry_id: str) -> dict[str, Any]:
        """Remove an API entry: its targets stop and their series go stale (KeyError when unknown)."""
        return (await self.scraper.delete_entry(entry_id)).public()

    async def push_metrics(self, source: str, items: list[Any], atomic: bool = False) -> PushResult:
        """The JSON push API (source ``push`` or ``business``): apply the items that pass, or none
        of them when ``atomic`` and one does not; big batches in steps, other requests served between."""
        return await run_steps(self.pushed.push(source, items, self.now_ms(), atomic))

    async def push_group(self, path: str, body: bytes, replace: bool, protobuf: bool = False) -> Outcome:
        """A Pushgateway push to ``/metrics/<path>`` (PUT when ``replace``, POST otherwise), text or
        ``protobuf`` (delimited MetricFamily messages), parsed off the loop. PushError for a bad path
        or body (the group records the failure)."""
        labels = grouping_key(path)
        refusal = self.push_groups.check_key(labels)
        if refusal is not None:
            raise PushError(refusal.field, refusal.message)
        try:
            families = await asyncio.get_running_loop().run_in_executor(
                self._ingest_pool, parse_protobuf if protobuf else parse_text, body)
        except PushError:
            self.push_groups.fail(labels, self.now_ms())
            raise
        return self.push_groups.push(labels, families, replace, self.now_ms())

    def delete_group(self, path: str) -> None:
        """A Pushgateway DELETE of ``/metrics/<path>``: the group goes, its series get stale markers."""
        self.push_groups.delete(grouping_key(path), self.now_ms())

    async def remote_write(self, body: bytes) -> Outcome:
        """A remote write 1.0 request, decoded off the loop (RemoteWriteError when it cannot be)."""
        request = await asyncio.get_running_loop().run_in_executor(self._ingest_pool, self._remote_write.decode, body)
        for name, metadata in request.metadata:
            self.admission.set_metadata(name, metadata)
        return self.ingest_series("remote_write", request.series)

    def add_self_source(self, name: str, source: FamilySource) -> None:
        """Another producer of the server's own metrics (the HTTP layer's), recorded with the process's."""
        self._self_sources[name] = source

    async def flush(self) -> None:
        async with self._flush_lock:
            started = self.clock.now()
            now = to_ms(started)
            batch = self.store.prepare_flush(now)
            try:
                await asyncio.get_running_loop().run_in_executor(self._writer, self.store.write, batch)
            except StorageFullError as exc:  # kept in memory and retried; logged once, shown by /readyz
                self.store.complete_flush(batch, now, ok=False)
                self.disk.failed(exc, self.store.pending_samples, self.store.dropped_samples)
                return
            except Exception:
                log.exception("persisting samples failed; they stay in memory for the next attempt")
                self.store.complete_flush(batch, now, ok=False)
                return
            self.store.complete_flush(batch, now, ok=True)
            self.last_flush = started
            self.disk.succeeded()
            await self._save_pushed()

    async def _save_pushed(self) -> None:
        """Save the pushed state when it changed (on the writer thread); kept dirty if it fails."""
        data = state.snapshot(self.pushed, self.push_groups)
        if data is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._writer, state.save, self.settings.data_dir, data)
        except OSError:
            log.exception("saving the pushed state failed; it is retried at the next flush")
            self.pushed.dirty = True

    # -- views -------------------------------------------------------------------------------

    def system(self) -> dict[str, Any]:
        """The System panels' figures as of the last collection (see ``_refresh_system_view``)."""
        taken, view = self._current_system_view()
        return {"timestamp": rfc3339(taken), **view}

    def _current_system_view(self) -> tuple[float, dict[str, Any]]:
        if self._system_view is None:  # before the first collection (``start`` collects before serving)
            self._system_view = (self.clock.now(), system_view(self.query, self.now_ms()))
        return self._system_view

    async def _refresh_system_view(self, now: float) -> None:
        """Compute the System figures (about eight PromQL queries) once per collection, on the
        collector's thread: /api/metrics/system, /api/metrics/summary and the WebSocket's system
        and metrics snapshots serve this copy, however many clients ask."""
        view = await asyncio.get_running_loop().run_in_executor(self._collector_pool, system_view, self.query,
                                                                to_ms(now))
        self._system_view = (now, view)

    def summary(self) -> dict[str, Any]:
        """The one-screen overview: service, store health and the host's headline figures."""
        now = self.clock.now()
        _, view = self._current_system_view()
        filesystems = [f["used_percent"] for f in view["filesystems"] if f.get("used_percent") is not None]
        return {
            "service": self.settings.service_name,
            "version": __version__,
            "demo": self.settings.demo,
            "timestamp": rfc3339(now),
            "uptime_seconds": round(now - self.started_at, 3),
            "store": {
                "series": len(self.store),
                "rejected_samples": self.store.rejected_samples,
                "last_collection": None if self.last_collection is None else rfc3339(self.last_collection),
                "last_flush": None if self.last_flush is None else rfc3339(self.last_flush),
            },
            "system": {
                "cpu_percent": view["cpu"]["usage_percent"],
                "cpu_count": view["cpu"]["count"],
                "memory_used_percent": view["memory"]["used_percent"],
                "swap_used_percent": view["swap"]["used_percent"],
                "load1": view["load"]["load1"],
                "disk_used_percent_max": max(filesystems, default=None),
                "network_receive_bytes_per_second": sum(n.get("receive_bytes_per_second", 0.0)
                                                        for n in view["network"]),
                "network_transmit_bytes_per_second": sum(n.get("transmit_bytes_per_second", 0.0)
                                                         for n in view["network"]),
                "uptime_seconds": view["uptime_seconds"],
            },
        }

    def application(self, range_s: float = DEFAULT_APPLICATION_RANGE_S) -> dict[str, Any]:
        """Per service figures over the last ``range_s`` (engine/service_views.py); blocking PromQL:
        call through ``run_query``."""
        now = self.clock.now()
        return {"timestamp": rfc3339(now),
                **application_view(self.query, now, range_s, self.settings.service_name)}

    def business(self, range_s: float = DEFAULT_BUSINESS_RANGE_S) -> dict[str, Any]:
        """Bookings, revenue, users, funnels and satisfaction over the last ``range_s``; blocking."""
        now = self.clock.now()
        return {"timestamp": rfc3339(now), **business_view(self.query, now, range_s)}

    async def dashboard_summary(self) -> dict[str, Any]:
        """The dashboard front page: host, services up/down (health checks and scrape ``up``), firing
        alerts by severity, request rate, error ratio, bookings and revenue today; PromQL on the query pool."""
        now = self.clock.now()
        checks = {s["service"]: s["state"] for s in self.health.snapshot()["services"]}
        figures = await self.run_query(lambda: summary_view(self.query, now, checks))
        return {"timestamp": rfc3339(now), "service": self.settings.service_name, "demo": self.settings.demo,
                "host": {"hostname": socket.gethostname(), **self.summary()["system"]}, **figures}

    async def dashboard_realtime(self) -> dict[str, Any]:
        """The console's top figures in one answer: host figures of the last collection, live alert
        and service-down counts, and the last minute's requests, latency, bookings and users."""
        now = self.clock.now()
        live = [a for a in self.book.live.values() if a.state == "firing"]
        down = self.health.overview()["counts"]["down"]
        figures = await self.run_query(lambda: realtime_view(self.query, now))
        return {"timestamp": rfc3339(now), "system": self.summary()["system"],
                "alerts": {"firing": len(live), "unacknowledged": sum(1 for a in live if a.acknowledgement is None)},
                "services_down": down, **figures}

    async def dashboards(self) -> list[dict[str, Any]]:
        """The Grafana dashboard files shipped in dashboards/ and in DASHBOARDS_DIR (read on a thread)."""
        return await asyncio.to_thread(list_dashboards, self.settings.dashboards_dir)

    async def dashboard(self, uid: str) -> dict[str, Any] | None:
        """One dashboard's JSON by uid, None when no readable file has it."""
        return await asyncio.to_thread(find_dashboard, self.settings.dashboards_dir, uid)

    VIEW_TOPICS = ("application", "business")
    """Topics whose payload is a set of PromQL queries: computed on the query pool, at default ranges."""
    TOPICS = ("system", "metrics", "alerts", "health", "notifications", "processes", "audit", *VIEW_TOPICS)
    PROCESSES_TOPIC_LIMIT = 50
    """The ``processes`` topic carries the top 50 by CPU and the top 50 by memory."""
    PROCESSES_INTERVAL_S = 10.0
    """...every other collection at the default 5 s: on a busy host the list reorders at each reading,
    and a console over SSH then redraws most of it (bench/bench_console.py)."""

    def subscribe(self, topics: Iterable[str] = ()) -> Subscription:
        """A bounded queue of the bus's events on ``topics`` (a WebSocket client's); its ``close`` ends it."""
        return self.bus.subscribe(topics)

    async def snapshot(self, topic: str) -> Any:
        """Current state of a stream topic, sent on subscription and after each cycle."""
        if topic == "application":
            return await self.run_query(self.application)
        if topic == "business":
            return await self.run_query(self.business)
        if topic == "system":
            return self.system()
        if topic == "metrics":
            return self.summary()
        if topic == "alerts":
            return {"alerts": [i.to_json(rfc3339) for i in self.book.live.values()]}
        if topic == "health":
            return self.health.snapshot()
        if topic == "notifications":
            return {"channels": self.notifier.channels()}
        if topic == "processes":
            return await self._read_processes(self.processes.both, self.PROCESSES_TOPIC_LIMIT)
        if topic == "audit":
            return {"entries": self.audit.entries({}, None, AUDIT_TOPIC_LIMIT)}
        raise KeyError(topic)

    async def top_processes(self, sort: str, limit: int) -> dict[str, Any]:
        """The host's ``limit`` top processes by ``sort`` (cpu or memory), read now on the collector's thread."""
        return await self._read_processes(self.processes.top, sort, limit)

    async def _read_processes(self, read: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        now = self.clock.now()
        found = await asyncio.get_running_loop().run_in_executor(self._collector_pool, read, *args)
        return {"timestamp": rfc3339(now), **found}

    async def _keep_processes(self, instance_id: str) -> None:
        """Store the top processes with an alert that just fired (as Glances keeps them in its alert log)."""
        try:
            found = await self._read_processes(self.processes.both, ALERT_TOP)
            await self.book.keep_processes(instance_id, found["processes"])
        except Exception:
            log.exception("reading the top processes for a firing alert failed")

    # -- health checks (engine/health/) -------------------------------------------------------

    def health_overview(self) -> dict[str, Any]:
        """The worst state of the checks, counts per state, and this server's own readiness."""
        problem = self.write_problem()
        return {**self.health.overview(), "server": {"ready": problem is None, "problem": problem,
                                                     "service": self.settings.service_name}}

    async def health_services(self) -> list[dict[str, Any]]:
        """Every check with its state, uptime and latency figures."""
        return await self.health.services()

    async def health_service(self, name: str) -> dict[str, Any]:
        """One check with its recent history (CheckNotFound)."""
        return await self.health.service(name)

    async def create_health_check(self, body: Any) -> dict[str, Any]:
        """Add a check from the API (CheckError, CheckConflict); it survives restarts."""
        return await self.health.create(body)

    async def update_health_check(self, name: str, body: Any) -> dict[str, Any]:
        """Replace an API check (CheckNotFound, CheckConflict, CheckError)."""
        return await self.health.update(name, body)

    async def delete_health_check(self, name: str) -> None:
        """Delete an API check (CheckNotFound, CheckConflict)."""
        await self.health.delete(name)

    async def run_health_checks(self, name: str | None = None) -> list[dict[str, Any]]:
        """Run one check (CheckNotFound) or all now; their views once done."""
        return await self.health.run_now(name)

    # -- rules: the API edits its own rules only; each change is followed by a reload ---------

    def rules(self) -> list[dict[str, Any]]:
        """Every rule being evaluated, as the API shows it (``editable`` for the API's own rules)."""
        managed = {r.id for r in self.managed_rules.list()}
        return [rule_json(g, rr, rr.rule.id in managed) for g in self.ruler.groups.values() for rr in g.rules]

    def rule(self, rule_id: str) -> dict[str, Any]:
        """One rule as ``rules`` shows it; RuleNotFoundError when no running rule has this id."""
        for r in self.rules():
            if r["id"] == rule_id:
                return r
        raise RuleNotFoundError(rule_id)

    def rules_reload_status(self) -> tuple[float | None, str | None]:
        """When the rules were last (re)loaded, and why the last reload failed (None if it did not)."""
        return self.ruler.last_reload, self.ruler.last_reload_error

    def prometheus_rules(self) -> dict[str, Any]:
        """``data`` of Prometheus's GET /api/v1/rules."""
        return prometheus_rules(list(self.ruler.groups.values()))

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        """``data.alerts`` of Prometheus's GET /api/v1/alerts: the ruler's pending and firing alerts."""
        return [prometheus_alert(a.labels, a.annotations, a.state, a.active_at, a.value)
                for g in self.ruler.groups.values() for rr in g.rules if rr.alerting is not None
                for a in rr.alerting.live_alerts()]

    # -- alerts and silences: the lifecycle beyond Prometheus (engine/alerts/) ------------------

    RESOLVED_DEFAULT_S = 86400.0
    """How far back resolved alerts are listed when the caller gives no ``since``."""

    async def alerts(self, states: Iterable[str] = ("pending", "firing"), since: float | None = None,
                     severities: Iterable[str] | None = None, sort: str = "severity") -> list[dict[str, Any]]:
        """Alerts in ``states`` (resolved ones from the last 24 h unless ``since``), active or
        resolved since ``since`` (Unix seconds), of the given severities, sorted by severity or age."""
        wanted_states = set(states)
        found = [a for a in self.book.live.values() if a.state in wanted_states]
        if "resolved" in wanted_states:
            start = self.clock.now() - self.RESOLVED_DEFAULT_S if since is None else since
            found += await self.book.recent_resolved(start)
        if since is not None:
            found = [a for a in found if a.active_at >= since or (a.resolved_at or 0) >= since]
        if severities is not None:
            wanted = set(severities)
            found = [a for a in found if a.severity in wanted]
        return [a.to_json(rfc3339) for a in sort_alerts(found, sort)]

    async def alert(self, alert_id: str) -> dict[str, Any] | None:
        """One alert with its timeline, or None."""
        inst = await self.book.get(alert_id)
        if inst is None:
            return None
        timeline = await self.book.timeline(alert_id)
        return {**inst.to_json(rfc3339), "timeline": [e.to_json(rfc3339) for e in timeline]}

    async def acknowledge(self, alert_id: str, by: str, body: dict[str, Any]) -> dict[str, Any]:
        """Acknowledge from a request body (``comment``, ``expiresIn`` as a duration); AlertActionError."""
        expires = body.get("expiresIn")
        try:
            expires_in = None if expires is None else parse_duration(str(expires))
        except ValueError as exc:
            raise AlertActionError("invalid_body", f"expiresIn: {exc}", field="expiresIn") from None
        return (await self.book.acknowledge(alert_id, by, _comment(body), expires_in)).to_json(rfc3339)

    async def resolve(self, alert_id: str, by: str, body: dict[str, Any]) -> dict[str, Any]:
        """Resolve by hand from a request body (``comment``); AlertActionError."""
        return (await self.book.resolve(alert_id, by, _comment(body))).to_json(rfc3339)

    def silences(self) -> list[dict[str, Any]]:
        """Every silence, newest first."""
        now = self.clock.now()
        return [s.to_json(now, rfc3339)
                for s in sorted(self.book.silences.values(), key=lambda s: s.starts_at, reverse=True)]

    async def add_silence(self, body: Any, by: str) -> dict[str, Any]:
        """A new silence from a request body (SilenceError naming the field)."""
        return (await self.book.add_silence(body, by)).to_json(self.clock.now(), rfc3339)

    async def update_silence(self, silence_id: str, body: Any, by: str) -> dict[str, Any]:
        """Edit or extend a silence from a request body (SilenceError, AlertActionError when there is
        none): the silence now in force, the same one or its replacement."""
        return (await self.book.update_silence(silence_id, body, by)).to_json(self.clock.now(), rfc3339)

    def silenced_count(self, silence_id: str) -> int:
        """How many live alerts a silence silences now."""
        return sum(silence_id in inst.silenced_by for inst in self.book.live.values())

    async def expire_silence(self, silence_id: str) -> dict[str, Any]:
        """End a silence now (AlertActionError when there is none)."""
        return (await self.book.expire_silence(silence_id)).to_json(self.clock.now(), rfc3339)

    async def create_rule(self, body: Any) -> tuple[dict[str, Any], str | None]:
        """Save a new API rule (RuleValidationError) and reload: the rule, and the reload's error if any.
        Validation and the durable write run on the rules thread."""
        rule = await self._on_rules_thread(self.managed_rules.create, body)
        return await self._after_rule_change(rule.id)

    async def update_rule(self, rule_id: str, body: Any) -> tuple[dict[str, Any], str | None]:
        """Replace an API rule (ReadOnlyRuleError, RuleNotFoundError, RuleValidationError) and reload."""
        self._check_editable(rule_id)
        await self._on_rules_thread(self.managed_rules.update, rule_id, body)
        return await self._after_rule_change(rule_id)

    async def delete_rule(self, rule_id: str) -> str | None:
        """Delete an API rule (ReadOnlyRuleError, RuleNotFoundError) and reload: the reload's error if any."""
        self._check_editable(rule_id)
        await self._on_rules_thread(self.managed_rules.delete, rule_id)
        return await self.reload_rules()

    async def _on_rules_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._rules_pool, fn, *args)

    def _check_editable(self, rule_id: str) -> None:
        if any(r.id == rule_id for r in self.managed_rules.list()):
            return
        r = self.rule(rule_id)
        raise ReadOnlyRuleError(r["name"], r["file"], r["readOnlyReason"])

    async def _after_rule_change(self, rule_id: str) -> tuple[dict[str, Any], str | None]:
        error = await self.reload_rules()
        return self.rule(rule_id), error

    # -- series, labels, metadata (the Prometheus API's lookups; blocking: call from a thread) --

    def series(self, selectors: Selectors | None = None, window: tuple[int, int] | None = None,
               deadline: float | None = None) -> list[Labels]:
        """Series matching any selector with a sample in the closed ms window (None: no condition).
        ``deadline`` (``time.monotonic()`` seconds, capped at QUERY_TIMEOUT): QueryError(timeout)."""
        return self.store.series_in_range(selectors, window, self.query.deadline(deadline))

    def label_names(self, selectors: Selectors | None = None, window: tuple[int, int] | None = None,
                    deadline: float | None = None) -> list[str]:
        return self.store.label_names(selectors, window, self.query.deadline(deadline))

    def label_values(self, name: str, selectors: Selectors | None = None,
                     window: tuple[int, int] | None = None, deadline: float | None = None) -> list[str]:
        return self.store.label_values(name, selectors, window, self.query.deadline(deadline))

    def series_selector(self, text: str) -> tuple[Matcher, ...]:
        """The matchers of a plain series selector (a ``match[]``); QueryError(bad_data). Blocking."""
        return self.query.parser.series_selector(text)

    def check_query(self, expr: str) -> None:
        """Parse a PromQL expression; QueryError(bad_data) if it is not one we can run. Blocking."""
        self.query.parse(expr)

    def instant_query(self, expr: str, t: float, deadline: float | None = None) -> QueryResult:
        """PromQL at one time (Unix seconds); ``deadline`` as for ``series``. Blocking: ``run_query``."""
        return self.query.instant(expr, t, deadline)

    def range_query(self, expr: str, start: float, end: float, step: float,
                    deadline: float | None = None) -> QueryResult:
        """PromQL from ``start`` to ``end`` every ``step`` seconds. Blocking: ``run_query``."""
        return self.query.range(expr, start, end, step, deadline)

    def metadata(self) -> dict[str, Metadata]:
        """Every metric family the store has seen, by name."""
        return self.store.all_metadata()

    def series_count(self) -> int:
        return len(self.store)

    def ping(self) -> None:
        """Raise if storage cannot answer (readiness); blocking."""
        self.store.ping()

    async def ping_storage(self) -> None:
        """``ping`` on the probes' own thread, so readiness never queues behind queries."""
        await asyncio.get_running_loop().run_in_executor(self._probe_pool, self.ping)

    async def run_query(self, job: Callable[[], T], timeout: float | None = None) -> T:
        """Run a request's query work (PromQL, series and label lookups, charts) on the query pool:
        at most QUERY_MAX_CONCURRENCY at once, the rest queue. ``TimeoutError`` after ``timeout``
        seconds, waiting included: a queued job is dropped, a running query stops at the deadline
        it was given (see ``QueryEngine.instant``)."""
        future = asyncio.get_running_loop().run_in_executor(self._query_pool, self._tracked, job)
        return await (future if timeout is None else asyncio.wait_for(future, timeout))

    def _tracked(self, job: Callable[[], T]) -> T:
        """A query job, counted so that ``close`` can wait for running ones before closing storage."""
        with self._queries_idle:
            self._queries_running += 1
        try:
            return job()
        finally:
            with self._queries_idle:
                self._queries_running -= 1
                self._queries_idle.notify_all()

    def write_problem(self) -> str | None:
        """Why writes to the data dir fail (a full disk), or None; readiness fails while it is set."""
        return self.disk.problem

    def chart(self, chart_type: str, range_s: float, step_s: float) -> dict[str, Any]:
        """One history chart from PromQL range queries ending at the last whole step; blocking."""
        step_ms = max(1, int(step_s * 1000))
        end = self.now_ms() // step_ms * step_ms
        return chart(self.query, chart_type, end - int(range_s * 1000), end, step_ms)


def _comment(body: dict[str, Any]) -> str:
    """The ``comment`` of an alert action's body (AlertActionError when it is not a string)."""
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise AlertActionError("invalid_body", "comment: must be a string", field="comment")
    return comment
