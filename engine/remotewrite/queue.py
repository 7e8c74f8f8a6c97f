"""One remote's queue: samples fed from the store are relabelled, encoded and appended to the segment
log; a sender delivers the log in order, round by round, over ``shards`` parallel requests split by
series (so each series' samples arrive in order), retrying 5xx, 429 and connection errors with backoff
and dropping, counted, what the receiver refuses (other 4xx) or what grew older than the max age."""

from __future__ import annotations

import asyncio
import logging
import math
from array import array
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

from engine import __version__
from engine.notify.transport import Result, post
from engine.remotewrite.config import RemoteWriteConfig
from engine.remotewrite.encode import encode_labels, encode_series, series_hash, write_request
from engine.remotewrite.segments import Record, SegmentLog, encode_record
from engine.scrape import relabel
from engine.tsdb.types import Labels, make_labels

log = logging.getLogger(__name__)

HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0", "User-Agent": f"metrics-service/{__version__}"}


class RemoteQueue:
    def __init__(self, cfg: RemoteWriteConfig, directory: Path, max_age_s: float, now: Callable[[], float],
                 pool: ThreadPoolExecutor) -> None:
        self.cfg = cfg
        self.max_age_ms = int(max_age_s * 1000)
        self.now = now
        self._pool = pool
        self.log = SegmentLog(directory)
        self._series: dict[int, tuple[int, bytes] | None] = {}
        """ref -> (shard hash, encoded labels) after write relabelling; None when relabelling drops it."""
        self.samples_in = self.sent = self.failed = self.retried = 0
        self.dropped: dict[str, int] = {"relabel": 0, "too_old": 0, "rejected": 0, "unwritable": 0}
        self.pending = 0
        self.highest_in = 0.0
        self.highest_sent = 0.0
        self.shards = cfg.queue.min_shards
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- feeding (remote write thread) ---------------------------------------------------------

    def known(self, ref: int) -> bool:
        return ref in self._series

    def add_series(self, ref: int, labels: Labels) -> None:
        """Relabel a new series once (write_relabel_configs) and remember its encoded labels."""
        kept: Labels | None = labels
        if self.cfg.write_relabel_configs:
            out = relabel.process(dict(labels), self.cfg.write_relabel_configs)
            kept = None if out is None or not out.get("__name__") else make_labels(out.pop("__name__"), out)
        self._series[ref] = None if kept is None else (series_hash(kept), encode_labels(kept))

    def feed(self, refs: array, ts: array, vals: array) -> None:
        """Append one tick's samples (in append order) as records of about max_samples_per_send,
        each series' samples together and in order; one write and one fsync."""
        if not len(refs):
            return
        series = self._series
        by_ref: dict[int, tuple[list[int], list[float]]] = {}
        for ref, t, v in zip(refs, ts, vals, strict=True):
            group = by_ref.get(ref)
            if group is None:
                group = by_ref[ref] = ([], [])
            group[0].append(t)
            group[1].append(v)
        lo, hi = min(ts), max(ts)  # a record's bounds are its tick's: what ageing and lag need
        per_send = self.cfg.queue.max_samples_per_send
        stamps: dict[int, tuple[bytes, bytes]] = {}
        entries: list[tuple[int, int, bytes]] = []
        records: list[bytes] = []
        count = total = dropped = 0
        for ref, (tl, vl) in by_ref.items():
            kept = series[ref]
            if kept is None:
                dropped += len(tl)
                continue
            entries.append((kept[0], len(tl), encode_series(kept[1], tl, vl, stamps)))
            count += len(tl)
            if count >= per_send:
                records.append(encode_record(entries, lo, hi))
                total, entries, count = total + count, [], 0
        if entries:
            records.append(encode_record(entries, lo, hi))
            total += count
        self.dropped["relabel"] += dropped
        if records:
            self.log.append(b"".join(records))
            self.samples_in += total
            self.pending += total
            self.highest_in = max(self.highest_in, hi / 1000)

    # -- sending (event loop) ------------------------------------------------------------------

    def open(self) -> None:
        """Pick up what a previous run left in the queue (blocking)."""
        self.log.open()
        self.pending = self.log.pending()

    def start(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            backlog = max(1, math.ceil(self.pending / self.cfg.queue.max_samples_per_send))
            self.shards = min(self.cfg.queue.max_shards, max(self.cfg.queue.min_shards, backlog))
            records = await loop.run_in_executor(self._pool, self.log.read, self.shards)
            if not records:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.cfg.queue.batch_send_deadline)
                except TimeoutError:
                    pass
                continue
            await self._deliver(records)
            await loop.run_in_executor(self._pool, self.log.consume, records[-1])

    async def _deliver(self, records: list[Record]) -> None:
        """Send one round; returns once every shard's requests succeeded or were given up."""
        horizon = int(self.now() * 1000) - self.max_age_ms
        fresh = []
        for rec in records:
            if rec.max_t < horizon:
                self._give_up(rec.samples, "too_old")
            else:
                fresh.append(rec)
        shards: list[list[tuple[int, bytes]]] = [[] for _ in range(self.shards)]
        for rec in fresh:
            for h, n, body in rec.entries:
                shards[h % self.shards].append((n, body))
        newest = max((r.max_t for r in fresh), default=0)
        await asyncio.gather(*(self._send_shard(entries, newest) for entries in shards if entries))
        if fresh:
            self.highest_sent = max(self.highest_sent, newest / 1000)

    async def _send_shard(self, entries: list[tuple[int, bytes]], newest: int) -> None:
        per_send = self.cfg.queue.max_samples_per_send
        batch: list[bytes] = []
        count = 0
        for n, body in entries:
            batch.append(body)
            count += n
            if count >= per_send:
                await self._send(batch, count, newest)
                batch, count = [], 0
        if batch:
            await self._send(batch, count, newest)

    async def _send(self, series: list[bytes], count: int, newest: int) -> None:
        import cramjam

        body = bytes(cramjam.snappy.compress_raw(write_request(series)))
        q = self.cfg.queue
        backoff = q.min_backoff
        headers = {**HEADERS, **self.cfg.auth_headers()}
        if self.cfg.basic_auth is not None:
            headers["Authorization"] = aiohttp.BasicAuth(*self.cfg.basic_auth).encode()
        while True:
            assert self._session is not None
            result = await post(self._session, self.cfg.url, body, headers, self.cfg.remote_timeout)
            if result.ok:
                self.sent += count
                self.pending -= count
                self.last_error = None
                return
            self.last_error = result.error
            if result.permanent or (result.status == 429 and not q.retry_on_http_429):
                self.failed += count
                self._give_up(count, "rejected")
                log.warning("remote write refused a batch; its samples are dropped",
                            extra={"fields": {"remote": self.cfg.name, "status": result.status,
                                              "error": _short(result)}})
                return
            if newest < int(self.now() * 1000) - self.max_age_ms:
                self._give_up(count, "too_old")
                return
            self.retried += count
            await asyncio.sleep(max(backoff, result.retry_after or 0))
            backoff = min(backoff * 2, q.max_backoff)

    def _give_up(self, count: int, reason: str) -> None:
        self.dropped[reason] += count
        self.pending -= count


def _short(result: Result) -> str:
    return (result.error or "") + (f": {result.body[:200]}" if result.body else "")
