"""The scrape loops: one asyncio task per target, HTTP on the event loop, parsing and relabelling on a
worker thread, samples through admission (Engine.ingest_families) at the scrape's time.

Targets come from the config's jobs (static and file_sd) and from API entries; ``sync`` turns them
into the set of running targets, starting loops for new ones and stopping removed ones, whose series
then get stale markers. Each target is scraped at an offset within its interval taken from its hash,
as Prometheus spreads its targets.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from engine import __version__
from engine.clock import Clock, to_ms
from engine.cluster.shared import Docs, SharedDocs, SharedStateUnavailable
from engine.cluster.work import target_key
from engine.compat.durations import format_duration
from engine.ingest.admission import Admission, Refusal
from engine.netpolicy import BlockedTarget, NetPolicy, PolicyResolver
from engine.scrape.config import ScrapeConfig, TargetGroup
from engine.scrape.discovery import FileSD
from engine.scrape.entries import MAX_ENTRIES, Entry, EntryError, EntryFile, new_id, parse_entry
from engine.scrape.exposition import ParseError, is_openmetrics, read_samples, read_strictly
from engine.scrape.target import (
    DROPPED,
    REFUSED,
    Processed,
    ScrapeFailed,
    Target,
    discovered_labels,
    populate,
    process,
)
from engine.settings import redact_uris
from engine.timefmt import rfc3339
from engine.tracing import NO_TRACER, Tracer
from engine.tsdb.types import Labels, Metadata, make_labels

log = logging.getLogger(__name__)

ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
"""The Accept header Prometheus 2.42 sends (OpenMetrics first)."""
USER_AGENT = f"metrics-service/{__version__}"
FILE_SD_POLL_S = 5.0
IDLE_CONNECTION_S = 300.0
SOURCE = "scrape"
"""The ``source`` label of the ingestion counters for scraped samples."""
ZERO_TIME = "0001-01-01T00:00:00Z"
"""What Prometheus shows as ``lastScrape`` before the first scrape (Go's zero time)."""

REPORT_SERIES = (
    ("up", "1 when the last scrape of the target succeeded, else 0."),
    ("scrape_duration_seconds", "How long the last scrape took."),
    ("scrape_samples_scraped", "Samples the target exposed in the last scrape."),
    ("scrape_samples_post_metric_relabeling", "Samples left after metric relabelling."),
    ("scrape_series_added", "Series not seen in the previous scrape of the target."),
)
"""The series Prometheus adds for every scrape, with the target's labels."""


class ScrapeManager:
    """Owns the targets, their loops and the API's entries."""

    def __init__(self, configs: tuple[ScrapeConfig, ...], data_dir: str, policy: NetPolicy, clock: Clock,
                 admission: Admission, interval: float, timeout: float, tracer: Tracer = NO_TRACER,
                 shared: SharedDocs | None = None) -> None:
        """``interval``/``timeout``: the global defaults for API entries that give none. New series
        pass ``admission``'s checks and limits; samples of known series go to its store by ref.
        ``shared``: the API's entries in Redis (sealed: they hold credentials), in place of the file."""
        self.configs = configs
        self.shared = shared
        self.policy = policy
        self.clock = clock
        self.admission = admission
        self.store = admission.store
        self.tracer = tracer
        self._interval = interval
        self._timeout = timeout
        self.file_sd = {c.job_name: FileSD(c.file_sd_configs) for c in configs if c.file_sd_configs}
        self.entry_file = EntryFile(data_dir)
        self.entries: dict[str, Entry] = {}
        self.targets: dict[str, Target] = {}
        self.dropped: list[tuple[str, dict[str, str]]] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scrape")
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._running = False
        self.owns: Callable[[str], bool] = _everything
        """Whether this replica scrapes a target (by its ``target_key``; replicas divide the targets)."""
        self.on_scrape: Callable[[str, float, float, bytes | None, str, str], None] | None = None
        """Told every scrape made here: (target_key, time, duration, the body or None, content type,
        error), to relay it to the other replicas (their ``apply_remote``)."""
        self._remote: dict[str, asyncio.Task[None]] = {}
        self._writing = asyncio.Lock()
        """Held from reading the entries to storing their new list: concurrent requests never write
        a list that misses another one's change."""

    # -- lifecycle ---------------------------------------------------------------------------

    def load(self) -> None:
        """Read the API's entries (blocking, at open); from Redis when shared (none while it does not
        answer: they are read when it does, see ``apply_shared``)."""
        if self.shared is None:
            self.entries = {e.id: e for e in self.entry_file.load(self._interval, self._timeout, self.policy)}
            return
        try:
            self.entries = self._parsed(self.shared.load())
        except SharedStateUnavailable as exc:
            log.warning("API scrape targets not read: Redis does not answer", extra={"fields": {"error": str(exc)}})

    def apply_shared(self, docs: Docs) -> None:
        """The API's entries as Redis has them (another replica changed them): targets follow."""
        self.entries = self._parsed(docs)
        self.sync()

    def _parsed(self, docs: Docs) -> dict[str, Entry]:
        entries = {}
        for entry_id, body in sorted(docs.items()):
            try:
                entries[entry_id] = parse_entry(body, entry_id, self._interval, self._timeout, self.policy)
            except EntryError as exc:
                log.warning("shared scrape target skipped", extra={"fields": {"id": entry_id, "error": str(exc)}})
        return entries

    async def start(self) -> None:
        """Read file_sd files, then start a loop per target."""
        self._running = True
        await asyncio.get_running_loop().run_in_executor(self._pool, self._refresh_files)
        self.sync()

    async def stop(self) -> None:
        """Stop every loop (a scrape in progress is cancelled) and close the HTTP clients."""
        self._running = False
        tasks = [*self._tasks.values(), *self._remote.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    def close(self) -> None:
        """Release the worker thread (after ``stop``, or when the loop is gone)."""
        for task in self._tasks.values():
            task.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def poll_files(self) -> None:
        """Re-read file_sd files that changed; resync targets when their groups did."""
        if self.file_sd and await asyncio.get_running_loop().run_in_executor(self._pool, self._refresh_files):
            self.sync()

    def _refresh_files(self) -> bool:
        changed = False
        for sd in self.file_sd.values():
            changed |= sd.refresh()
        return changed

    # -- targets -----------------------------------------------------------------------------

    def _groups(self) -> Iterator[tuple[ScrapeConfig, TargetGroup, str, str | None]]:
        for config in self.configs:
            for group in config.static_configs:
                yield config, group, "config", None
            sd = self.file_sd.get(config.job_name)
            if sd is not None:
                for path in sorted(sd.groups):
                    for group in sd.groups[path]:
                        yield config, group, "file_sd", None
        for entry in self.entries.values():
            for group in entry.config.static_configs:
                yield entry.config, group, "api", entry.id

    def sync(self) -> None:
        """Make the running loops match the targets the config, the SD files and the entries give."""
        desired: dict[str, Target] = {}
        dropped: list[tuple[str, dict[str, str]]] = []
        for config, group, origin, entry_id in self._groups():
            for address in group.targets:
                discovered = discovered_labels(config, group, address)
                try:
                    result = populate(config, discovered)
                except ValueError as exc:
                    log.warning("scrape target dropped", extra={"fields": {"job": config.job_name,
                                                                           "address": address, "error": str(exc)}})
                    result = None
                if result is None:
                    dropped.append((config.job_name, discovered))
                    continue
                target = Target(config, discovered, result[0], result[1], origin, entry_id)
                desired.setdefault(target.id, target)
        self.dropped = dropped
        for tid in [t for t in self.targets if t not in desired]:
            del self.targets[tid]
            self._stop_loop(tid)
        for tid, target in desired.items():
            self.targets.setdefault(tid, target)
        self.reassign()

    def reassign(self) -> None:
        """Run the loops of the targets this replica owns and only those (after the live replicas
        changed). A target given to another replica keeps its series here: its new owner's scrapes
        come in through ``apply_remote``."""
        if not self._running:
            return
        for tid, target in self.targets.items():
            owned = self.owns(target_key(target.config.job_name, target.url))
            if owned and tid not in self._tasks:
                self._tasks[tid] = asyncio.create_task(self._run(target), name=f"scrape {target.url}")
            elif not owned and tid in self._tasks:
                self._tasks.pop(tid).cancel()

    def _stop_loop(self, tid: str) -> None:
        for tasks in (self._tasks, self._remote):
            task = tasks.pop(tid, None)
            if task is not None:
                task.cancel()
        self.store.ingest_refs(stale_key(tid), [], [], to_ms(self.clock.now()))  # everything it gave goes stale now

    # -- API entries -------------------------------------------------------------------------

    async def add_entry(self, body: Any) -> Entry:
        """Validate and store a new entry, then start its targets (EntryError; StorageFullError;
        SharedStateUnavailable)."""
        entry = parse_entry(body, new_id(), self._interval, self._timeout, self.policy)
        async with self._writing:
            if len(self.entries) >= MAX_ENTRIES:
                raise EntryError("body", f"at most {MAX_ENTRIES} entries", "too_many_targets")
            if self.shared is None:
                await self._stored(self.entry_file.save, [*self.entries.values(), entry])
            else:
                await self._stored(self.shared.put, entry.id, entry.body)
            self.entries[entry.id] = entry
        self.sync()
        return entry

    async def delete_entry(self, entry_id: str) -> Entry:
        """Remove an entry and stop its targets (KeyError when there is none)."""
        async with self._writing:
            entry = self.entries[entry_id]
            if self.shared is None:
                await self._stored(self.entry_file.save, [e for e in self.entries.values() if e.id != entry_id])
            else:
                await self._stored(self.shared.delete, entry_id)
            self.entries.pop(entry_id, None)
        self.sync()
        return entry

    async def _stored(self, write: Callable[..., None], *args: Any) -> None:
        """A blocking write of the entries, on the manager's thread."""
        await asyncio.get_running_loop().run_in_executor(self._pool, write, *args)

    # -- one target's loop -------------------------------------------------------------------

    async def _run(self, target: Target) -> None:
        loop = asyncio.get_running_loop()
        interval = target.config.interval
        wall = self.clock.now()
        await asyncio.sleep((target.offset(interval) - wall % interval) % interval)
        due = loop.time()
        while True:
            try:
                await self.scrape(target)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not end the loop: logged, the next scrape runs
                log.exception("scrape failed unexpectedly", extra={"fields": {"url": target.url}})
            due += interval
            now = loop.time()
            if due < now:  # a scrape longer than the interval: skip the missed slots
                due += (int((now - due) / interval) + 1) * interval
            await asyncio.sleep(due - now)

    async def scrape(self, target: Target) -> None:
        """One scrape, in a span naming the target and saying how it went."""
        with self.tracer.span("scrape", {"scrape.job": target.config.job_name, "scrape.target": redact_uris(target.url),
                                         "scrape.instance": target.labels.get("instance", "")}) as span:
            await self._scrape(target)
            if self.tracer.enabled:
                span.set_attributes({"scrape.up": target.health == "up", "scrape.samples": target.last_samples,
                                     "scrape.duration_s": target.last_duration})
                if target.last_error:
                    span.fail(target.last_error)

    async def _scrape(self, target: Target) -> None:
        """Fetch, parse and map through the cache off the loop (``on_scrape`` is told what was fetched),
        then record the samples."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        wall = self.clock.now()
        error = ""
        body: bytes | None = None
        content_type = ""
        processed = None
        try:
            body, content_type = await self._fetch(target)
            processed = await loop.run_in_executor(self._pool, _parse_and_process, target, body, content_type)
        except ScrapeFailed as exc:
            error = str(exc)
        except TimeoutError:
            error = f'Get "{target.url}": context deadline exceeded'
        except (aiohttp.ClientError, OSError, BlockedTarget) as exc:
            error = f'Get "{target.url}": {_describe(exc)}'
        duration = loop.time() - started
        if self.on_scrape is not None:
            self.on_scrape(target_key(target.config.job_name, target.url), wall, duration,
                           body if processed is not None else None, content_type, error)
        self._record(target, wall, duration, processed, error)

    def apply_remote(self, key: str, wall: float, duration: float, body: bytes | None, content_type: str,
                     error: str) -> None:
        """Another replica's scrape of the target ``key`` (the body it fetched, None when it failed with
        ``error``), recorded here as if this replica had scraped it at ``wall``."""
        if not self._running:
            return
        for tid, target in self.targets.items():
            if tid in self._tasks or tid in self._remote or target_key(target.config.job_name, target.url) != key:
                continue  # scraped here, or the previous one still being parsed
            task = asyncio.get_running_loop().create_task(self._take(target, wall, duration, body, content_type,
                                                                     error))
            self._remote[tid] = task
            task.add_done_callback(lambda _, tid=tid: self._remote.pop(tid, None))

    async def _take(self, target: Target, wall: float, duration: float, body: bytes | None, content_type: str,
                    error: str) -> None:
        processed = None
        try:
            if body is not None:
                processed = await asyncio.get_running_loop().run_in_executor(
                    self._pool, _parse_and_process, target, body, content_type)
        except ScrapeFailed as exc:
            error = str(exc)
        except Exception:  # a bug must not go unseen in a task nobody awaits
            log.exception("another replica's scrape not recorded", extra={"fields": {"url": target.url}})
            return
        with self.store.relayed():
            self._record(target, wall, duration, processed, error)

    def _record(self, target: Target, wall: float, duration: float, processed: Processed | None, error: str) -> None:
        """Admit new series and append every sample and the report series in one cycle of the target's
        stale key."""
        t = to_ms(wall)
        refusals: list[Refusal] = []
        refs: list[int] = []
        values: list[float] = []
        added = 0
        if processed is not None:
            refs, values, added = self._admit(target, processed, refusals)
        else:  # its refs may outlive their series (a target down past METRICS_TTL): start afresh
            target.cache = {}
        report = [1.0 if processed else 0.0, duration, len(processed.keys) if processed else 0,
                  processed.post_relabel if processed else 0, added]
        report_refs = self._report_refs(target, refusals)
        if len(report_refs) == len(report):
            refs = refs + report_refs
            values = values + report
        accepted = self.store.ingest_refs(stale_key(target.id), refs, values, t)
        if accepted < len(refs):
            refusals.append(Refusal("out_of_order", "timestamp", "samples not newer than the stored ones", -1,
                                    len(refs) - accepted))
        self.admission.count(SOURCE, accepted, refusals)
        target.health = "up" if processed is not None else "down"
        target.last_error = error
        target.last_scrape = wall
        target.last_duration = duration
        target.last_samples = accepted

    def _admit(self, target: Target, processed: Processed, refusals: list[Refusal]) -> tuple[list[int], list[float],
                                                                                             int]:
        """Give each new series a ref through admission's checks and limits; refresh the cache.
        Returns the refs and values to append and how many series were added."""
        refs = processed.refs
        pending: Counter[str] = Counter()
        added = 0
        for miss in processed.misses:
            if miss.labels is None:
                refs[miss.index] = DROPPED
                continue
            result = self._new_series(miss.labels, miss.family, miss.metadata, pending)
            if isinstance(result, Refusal):
                refs[miss.index] = REFUSED
                refusals.append(result)
            else:
                refs[miss.index] = result
                added += 1
        if processed.misses:  # rebuilt only then: entries of series gone since leave with it
            cache = dict(zip(processed.keys, refs, strict=True))
            if REFUSED in refs:
                for miss in processed.misses:
                    if refs[miss.index] == REFUSED:
                        cache.pop(processed.keys[miss.index], None)
            target.cache = cache  # type: ignore[assignment]
        values = processed.values
        if DROPPED in refs or REFUSED in refs:
            kept = [(r, v) for r, v in zip(refs, values, strict=True) if r >= 0]  # type: ignore[operator]
            return [r for r, _ in kept], [v for _, v in kept], added
        return refs, values, added  # type: ignore[return-value]

    def _new_series(self, labels: Labels, family: str, metadata: Metadata, pending: Counter[str]) -> int | Refusal:
        """The ref of a series admission takes (created on first sight), or why it refuses it."""
        adm = self.admission
        refusal = adm.check_family(family, metadata.type)
        if refusal is None:
            refusal, name = adm.check_label_set(labels)
            refusal = refusal or adm.check_new_series(labels, name, pending)
        if refusal is not None:
            return refusal
        self.store.set_metadata(family, metadata)
        return self.store.ref(labels)

    def _report_refs(self, target: Target, refusals: list[Refusal]) -> list[int]:
        if not target.report_refs:
            pending: Counter[str] = Counter()
            refs = []
            for name, help_text in REPORT_SERIES:
                labels = make_labels(name, target.labels)
                result = self._new_series(labels, name, Metadata("gauge", help_text), pending)
                if isinstance(result, Refusal):
                    refusals.append(result)
                    return []
                refs.append(result)
            target.report_refs = refs
        return target.report_refs

    async def _fetch(self, target: Target) -> tuple[bytes, str]:
        config = target.config
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip", "User-Agent": USER_AGENT,
                   "X-Prometheus-Scrape-Timeout-Seconds": f"{config.timeout:g}"}
        auth = None
        if config.basic_auth is not None:
            auth = aiohttp.BasicAuth(*config.basic_auth)
        elif config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {config.bearer_token}"
        limit = config.body_size_limit
        async with asyncio.timeout(config.timeout):
            async with self._session(target.origin == "api").get(target.url, headers=headers, auth=auth,
                                                                 allow_redirects=False) as resp:
                if resp.status != 200:
                    raise ScrapeFailed(f"server returned HTTP status {resp.status} {resp.reason or ''}".rstrip())
                if resp.content_length is not None and resp.content_length > limit:
                    raise ScrapeFailed("body size limit exceeded")
                chunks = []
                size = 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > limit:
                        raise ScrapeFailed("body size limit exceeded")
                    chunks.append(chunk)
                return b"".join(chunks), resp.headers.get("Content-Type", "")

    def _session(self, policed: bool) -> aiohttp.ClientSession:
        """Config targets are the operator's; API targets go through the allow/deny list at every connect."""
        session = self._sessions.get(policed)
        if session is None:
            resolver = PolicyResolver(self.policy) if policed else None
            # Connections stay open between scrapes (as Prometheus's, 5 min idle): a reconnect per scrape
            # would cost more than the scrape itself.
            connector = aiohttp.TCPConnector(limit=0, resolver=resolver, keepalive_timeout=IDLE_CONNECTION_S)  # type: ignore[arg-type]
            session = self._sessions[policed] = aiohttp.ClientSession(connector=connector, trust_env=False)
        return session

    # -- views -------------------------------------------------------------------------------

    def prometheus_targets(self, state: str = "any") -> dict[str, Any]:
        """``data`` of Prometheus's GET /api/v1/targets (``state``: active, dropped or any)."""
        active = [] if state == "dropped" else [{
            "discoveredLabels": t.discovered,
            "labels": t.labels,
            "scrapePool": t.config.job_name,
            "scrapeUrl": t.url,
            "globalUrl": global_url(t.url),
            "lastError": t.last_error,
            "lastScrape": ZERO_TIME if t.last_scrape is None else rfc3339(t.last_scrape),
            "lastScrapeDuration": round(t.last_duration, 6),
            "health": t.health,
            "scrapeInterval": format_duration(int(t.config.interval * 1000)),
            "scrapeTimeout": format_duration(int(t.config.timeout * 1000)),
        } for t in self.targets.values()]
        dropped = [] if state == "active" else [{"discoveredLabels": d} for _, d in self.dropped]
        return {"activeTargets": active, "droppedTargets": dropped}

    def target_list(self) -> dict[str, Any]:
        """Our shape for the console's Targets view: every target with its health and last scrape,
        the API entries, and how many discovered targets relabelling dropped."""
        targets = [{
            "id": t.id,
            "entryId": t.entry_id,
            "origin": t.origin,
            "job": t.config.job_name,
            "url": t.url,
            "labels": t.labels,
            "health": t.health,
            "lastScrape": None if t.last_scrape is None else rfc3339(t.last_scrape),
            "lastScrapeDuration": round(t.last_duration, 6),
            "lastError": t.last_error or None,
            "lastSamples": t.last_samples,
            "interval": t.config.interval,
            "timeout": t.config.timeout,
        } for t in self.targets.values()]
        targets.sort(key=lambda x: (x["job"], x["url"]))
        sd_errors = {path: err for sd in self.file_sd.values() for path, err in sd.errors.items()}
        return {"targets": targets, "entries": [e.public() for e in self.entries.values()],
                "droppedTargets": len(self.dropped), "fileSdErrors": sd_errors}


def global_url(url: str) -> str:
    """The scrape URL as seen from elsewhere: a loopback host becomes this machine's name (Prometheus's
    ``globalURL``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host != "localhost" and not _is_loopback_ip(host):
        return url
    netloc = socket.gethostname() + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _everything(_key: str) -> bool:
    return True


def stale_key(target_id: str) -> str:
    return f"scrape/{target_id}"


def _parse_and_process(target: Target, body: bytes, content_type: str) -> Processed:
    """Worker-thread half of a scrape: decode, parse and map through the target's cache."""
    text = body.decode("utf-8", "surrogateescape")
    openmetrics = is_openmetrics(content_type)
    try:
        try:
            return process(target, read_samples(text, openmetrics))
        except ParseError:  # a series text the quick split got wrong (a timestamp): read it fully
            return process(target, read_strictly(text, openmetrics))
    except ParseError as exc:
        raise ScrapeFailed(str(exc)) from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        reason = os.strerror(code).lower() if code else str(exc.os_error)
        return f"dial tcp {exc.host}:{exc.port}: connect: {reason}"
    return str(exc) or type(exc).__name__
