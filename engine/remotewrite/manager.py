"""Every configured remote fed from the store's appends: a tick takes what was appended since the
last one (all sources: collectors, scrapes, pushes, rules) and hands it to each remote's queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

from engine.netpolicy import NetPolicy, PolicyResolver
from engine.remotewrite.config import RemoteWriteConfig
from engine.remotewrite.queue import RemoteQueue
from engine.tsdb.backend import WalBatch
from engine.tsdb.store import Store
from engine.tsdb.types import Family

log = logging.getLogger(__name__)

FEED_INTERVAL_S = 1.0
"""How often appended samples are written to the queues (at most this much of them is in memory only)."""
MAX_UNWRITTEN = 5_000_000
"""Samples kept in memory while the queues cannot be written (a full disk); past it they are dropped,
counted with ``reason="unwritable"`` (~120 MB of arrays)."""


class RemoteWrite:
    def __init__(self, configs: tuple[RemoteWriteConfig, ...], data_dir: Path, max_age_s: float, store: Store,
                 policy: NetPolicy, now: Callable[[], float]) -> None:
        self.store = store
        self.policy = policy
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remote-write")
        self.queues = [RemoteQueue(c, data_dir / "remote_write" / c.name, max_age_s, now, self._pool)
                       for c in configs]
        store.feed = True
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        for q in self.queues:
            await asyncio.get_running_loop().run_in_executor(self._pool, q.open)
        connector = aiohttp.TCPConnector(limit=0, resolver=PolicyResolver(self.policy))  # type: ignore[arg-type]
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        for q in self.queues:
            q.start(self._session)
        self._task = asyncio.get_running_loop().create_task(self._feed_loop())

    async def _feed_loop(self) -> None:
        while True:
            await asyncio.sleep(FEED_INTERVAL_S)
            try:
                await self.feed()
            except Exception:
                log.exception("writing samples to the remote write queue failed; they are retried at the next tick")

    async def feed(self) -> None:
        """Move what was appended since the last call into every queue (a thread does the file work)."""
        batch = self.store.take_appended()
        if not len(batch):
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._feed, batch, self._new_series(batch))
        except BaseException:
            if len(batch) <= MAX_UNWRITTEN:
                self.store.give_back(batch)
            else:
                for q in self.queues:
                    q.dropped["unwritable"] += len(batch)
            raise
        for q in self.queues:
            q.wake()

    def _new_series(self, batch: WalBatch) -> dict[int, tuple[tuple[str, str], ...]]:
        """Labels of the refs some queue has not seen (read on the loop, which owns the store's series)."""
        out = {}
        for ref in set(batch.refs):
            if any(not q.known(ref) for q in self.queues):
                out[ref] = self.store.series(ref).labels
        return out

    def _feed(self, batch: WalBatch, new: dict[int, tuple[tuple[str, str], ...]]) -> None:
        for q in self.queues:
            for ref, labels in new.items():
                if not q.known(ref):
                    q.add_series(ref, labels)
            q.feed(batch.refs, batch.ts, batch.vals)

    async def stop(self) -> None:
        """Stop sending, then put the last appended samples on disk for the next start."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._session is None:
            return  # never started: the queues were not opened
        for q in self.queues:
            await q.stop()
        try:
            await self.feed()
        except Exception:
            log.exception("the last samples could not be written to the remote write queue")
        await self._session.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for q in self.queues:
            q.log.close()

    def families(self) -> list[Family]:
        """Prometheus's own remote storage metrics, by remote_name and url."""
        fams = {
            "in": Family("prometheus_remote_storage_samples_in_total", "counter",
                         "Samples appended to the remote write queue."),
            "sent": Family("prometheus_remote_storage_samples_total", "counter",
                           "Samples sent to remote storage (accepted by the receiver)."),
            "failed": Family("prometheus_remote_storage_samples_failed_total", "counter",
                             "Samples the receiver refused with a non-recoverable error (4xx)."),
            "retried": Family("prometheus_remote_storage_samples_retried_total", "counter",
                              "Samples whose send failed recoverably (5xx, 429, connection) and was retried."),
            "dropped": Family("prometheus_remote_storage_samples_dropped_total", "counter",
                              "Samples not sent, by reason: relabel, too_old (REMOTE_WRITE_MAX_AGE), rejected, "
                              "unwritable."),
            "pending": Family("prometheus_remote_storage_samples_pending", "gauge",
                              "Samples in the queue not yet delivered."),
            "shards": Family("prometheus_remote_storage_shards", "gauge", "Shards sending in parallel."),
            "in_ts": Family("prometheus_remote_storage_highest_timestamp_in_seconds", "gauge",
                            "Highest timestamp appended to the queue, in seconds since the epoch."),
            "sent_ts": Family("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", "gauge",
                              "Highest timestamp sent successfully, in seconds since the epoch."),
        }
        for q in self.queues:
            lb = {"remote_name": q.cfg.name, "url": q.cfg.url}
            fams["in"].add(q.samples_in, lb)
            fams["sent"].add(q.sent, lb)
            fams["failed"].add(q.failed, lb)
            fams["retried"].add(q.retried, lb)
            for reason, n in q.dropped.items():
                fams["dropped"].add(n, {**lb, "reason": reason})
            fams["pending"].add(max(0, q.pending), lb)
            fams["shards"].add(q.shards, lb)
            fams["in_ts"].add(q.highest_in, lb)
            fams["sent_ts"].add(q.highest_sent, lb)
        return list(fams.values())
