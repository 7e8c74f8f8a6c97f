"""The composition root: one Engine owns the store, the collectors, the schedules and the event bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from engine import __version__
from engine.alerts.book import AlertBook
from engine.alerts.db import AlertDB
from engine.charts import chart
from engine.clock import Clock, SystemClock, to_ms
from engine.collectors.system import ProcessCollector, SystemCollector
from engine.datadir import DataDirLock, DiskHealth, StorageFullError
from engine.events import EventBus
from engine.promql import QueryEngine
from engine.ruler.manager import Ruler
from engine.rules.managed import ManagedRules
from engine.settings import Settings
from engine.system_view import system_view
from engine.timefmt import rfc3339
from engine.tsdb.matchers import Matcher
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store
from engine.tsdb.types import Family, Labels, Metadata

log = logging.getLogger(__name__)

FamilySource = Callable[[], list[Family]]
Selectors = Iterable[Iterable[Matcher]]
DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules.yaml"
RULE_FILE_POLL_S = 5.0


class Engine:
    """Everything the product knows. Built from Settings; the server and console only call it."""

    def __init__(self, settings: Settings, clock: Clock | None = None, *, collect_system: bool = True,
                 repair: bool = False) -> None:
        """``repair``: move damaged data files aside and start new ones instead of refusing to start."""
        self.settings = settings
        self.clock = clock or SystemClock()
        self.lock = DataDirLock(settings.data_dir)
        self.disk = DiskHealth(Path(settings.data_dir))
        self.store = Store(
            SQLiteBackend(settings.data_dir, repair=repair),
            head_retention_ms=int(settings.head_retention * 1000),
            lookback_ms=int(settings.lookback_delta * 1000),
            ttl_ms=int(settings.metrics_ttl * 1000),
        )
        self.query = QueryEngine(self.store, lookback_ms=int(settings.lookback_delta * 1000),
                                 max_samples=settings.query_max_samples, timeout_s=settings.query_timeout)
        self.bus = EventBus()
        self.book = AlertBook(AlertDB(settings.data_dir, repair=repair), self.bus, self.clock.now, settings.alerts_ttl)
        self._rules_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rules")
        self.managed_rules: ManagedRules | None = None
        self.ruler: Ruler | None = None
        self.system_collector = SystemCollector() if collect_system else None
        self.process_collector = ProcessCollector()
        self.self_sources: dict[str, FamilySource] = {"process": self.process_collector.collect}
        self.started_at = self.clock.now()
        self._scheduler: AsyncIOScheduler | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._collector_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector")
        self._flush_lock = asyncio.Lock()
        self._collect_lock = asyncio.Lock()
        self.last_collection: float | None = None
        self.last_flush: float | None = None

    def now_ms(self) -> int:
        return to_ms(self.clock.now())

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Lock the data dir, open storage and load rules (StoreError or RuleLoadError, with
        operator-facing messages)."""
        self.lock.acquire()
        self.store.open()
        self.book.open()
        self.managed_rules = ManagedRules(self.settings.data_dir)
        files = [str(DEFAULT_RULES)] if DEFAULT_RULES.exists() else []
        self.ruler = Ruler(self.store, self.query, self.book, self.clock.now, self.settings.evaluation_interval,
                           files + list(self.settings.rules_files), self.managed_rules, self._rules_pool)
        self.ruler.load()

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
        assert self.ruler is not None
        self.ruler.start(self._scheduler)
        self._scheduler.start()

    def reload_rules(self) -> str | None:
        """Reload rule files and API rules; on failure the running rules stay and the reason is returned."""
        assert self.ruler is not None
        return self.ruler.reload()

    async def reload_rules_if_changed(self) -> None:
        if self.ruler is not None and self.ruler.files_changed():
            self.reload_rules()

    async def stop(self) -> None:
        """Stop schedules, persist everything pending, close storage."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        async with self._collect_lock:  # let a cycle in progress finish rather than cancel it
            pass
        async with self._flush_lock:
            await asyncio.get_running_loop().run_in_executor(self._writer, self.store.close, self.now_ms())
        self._writer.shutdown(wait=True)
        self._collector_pool.shutdown(wait=True)
        self._rules_pool.shutdown(wait=True)
        self.book.db.close()
        self.lock.release()

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
        self.ingest_self(t)
        self.last_collection = now
        for topic in ("system", "metrics"):
            if self.bus.wants(topic):
                self.bus.publish(topic, now, self.snapshot(topic))

    def ingest_self(self, t: int | None = None) -> None:
        """Record the process's and the server's own metrics (also done on each /metrics scrape)."""
        t = self.now_ms() if t is None else t
        for name, source in self.self_sources.items():
            self.store.ingest(name, source(), t)

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

    # -- views -------------------------------------------------------------------------------

    def system(self) -> dict[str, Any]:
        return {"timestamp": rfc3339(self.clock.now()), **system_view(self.store, self.now_ms())}

    def summary(self) -> dict[str, Any]:
        """The one-screen overview: service, store health and the host's headline figures."""
        now = self.clock.now()
        view = system_view(self.store, to_ms(now))
        filesystems = [f["used_percent"] for f in view["filesystems"] if f.get("used_percent") is not None]
        return {
            "service": self.settings.service_name,
            "version": __version__,
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

    TOPICS = ("system", "metrics", "alerts")

    def snapshot(self, topic: str) -> Any:
        """Current state of a stream topic, sent on subscription and after each cycle."""
        if topic == "system":
            return self.system()
        if topic == "metrics":
            return self.summary()
        if topic == "alerts":
            return {"alerts": [i.to_json(rfc3339) for i in self.book.live.values()]}
        raise KeyError(topic)

    # -- series, labels, metadata (the Prometheus API's lookups; blocking: call from a thread) --

    def series(self, selectors: Selectors | None = None, window: tuple[int, int] | None = None) -> list[Labels]:
        """Series matching any selector with a sample in the closed ms window (None: no condition)."""
        return self.store.series_in_range(selectors, window)

    def label_names(self, selectors: Selectors | None = None, window: tuple[int, int] | None = None) -> list[str]:
        return self.store.label_names(selectors, window)

    def label_values(self, name: str, selectors: Selectors | None = None,
                     window: tuple[int, int] | None = None) -> list[str]:
        return self.store.label_values(name, selectors, window)

    def metadata(self) -> dict[str, Metadata]:
        """Every metric family the store has seen, by name."""
        return self.store.all_metadata()

    def series_count(self) -> int:
        return len(self.store)

    def ping(self) -> None:
        """Raise if storage cannot answer (readiness); blocking."""
        self.store.ping()

    def write_problem(self) -> str | None:
        """Why writes to the data dir fail (a full disk), or None; readiness fails while it is set."""
        return self.disk.problem

    def chart(self, chart_type: str, range_s: float, step_s: float) -> dict[str, Any]:
        step_ms = max(1, int(step_s * 1000))
        end = self.now_ms() // step_ms * step_ms
        interval_ms = int(self.settings.collection_interval * 1000)
        window = max(step_ms + interval_ms, 4 * interval_ms)
        return chart(self.store, chart_type, end - int(range_s * 1000), end, step_ms, window)
