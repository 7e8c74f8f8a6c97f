"""The alert book: every alert instance, its acknowledgement, silences and timeline.

The ruler reports what Prometheus's state machine decided; the book adds what Prometheus does not
have (acknowledge, manual resolve, silences, history), persists it, and announces each change on
the event bus topic ``alerts``.

Memory changes happen on the event loop; what reads or writes the database (SQLite, MongoDB, Redis
with REDIS_URL) for a request or an evaluation runs on the book's own threads, so a database that hangs
holds those requests, never the server (issue 8: /livez keeps answering).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from engine.alerts.db import AlertDB
from engine.alerts.model import Acknowledgement, AlertInstance, TimelineEvent, comment_problem
from engine.alerts.silences import MAX_SILENCES, Silence, new_silence_id, parse_silence
from engine.datadir import StorageFullError
from engine.evaluation.alerting_state import ActiveAlert, Transition
from engine.events import EventBus
from engine.timefmt import LATEST, in_rfc3339_range, rfc3339

SYSTEM = "system"
DB_THREADS = 4
"""Requests waiting on the alert database at once; more wait in line (a hung Redis holds each ~2 s)."""
T = TypeVar("T")
log = logging.getLogger(__name__)


class AlertActionError(ValueError):
    """An action that cannot apply (unknown id, alert already resolved...): ``code`` for the API."""

    def __init__(self, code: str, message: str, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.field = field


class AlertBook:
    def __init__(self, db: AlertDB, bus: EventBus, clock_now: Callable[[], float], ttl_s: float, *,
                 forget: Callable[[str, str], None],
                 on_change: Callable[[str, AlertInstance], None] | None = None) -> None:
        """``forget(rule_id, fingerprint)``: the ruler drops an alert resolved by hand. ``on_change(kind,
        instance)``: told of each timeline event once it is committed (the notifier)."""
        self.db = db
        self.bus = bus
        self.now = clock_now
        self.ttl_s = ttl_s
        self.live: dict[str, AlertInstance] = {}
        self.silences: dict[str, Silence] = {}
        self.forget = forget
        self.on_change = on_change
        self._dirty: dict[str, AlertInstance] = {}
        self._events: list[TimelineEvent] = []
        self._refreshed: set[str] = set()
        """Instances whose value or annotations an evaluation changed since the last commit."""
        self._pool = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="alert-db")
        self._writing = asyncio.Lock()
        """Held while a write is on its way: writes reach the database in the order they were made."""

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.db.close()

    def open(self) -> None:
        self.db.open()
        self.live, self.silences = self._stored_state()

    def _stored_state(self) -> tuple[dict[str, AlertInstance], dict[str, Silence]]:
        return ({i.id: i for i in self.db.load_instances(live_only=True)},
                {s.id: s for s in self.db.load_silences()})

    # -- changes from the ruler ---------------------------------------------------------------

    def apply(self, rule_id: str, transitions: list[Transition], ts: float) -> None:
        """Record the state changes of one rule evaluation."""
        for tr in transitions:
            alert = tr.alert
            if tr.kind == "pending":
                inst = AlertInstance(str(uuid.uuid4()), rule_id, alert.fingerprint, alert.labels["alertname"],
                                     dict(alert.labels), dict(alert.annotations), "pending", alert.value,
                                     alert.active_at)
                alert.instance_id = inst.id
                self.live[inst.id] = inst
                self._record(inst, "pending", ts, SYSTEM)
                continue
            inst = self.live.get(alert.instance_id or "")
            if inst is None:
                continue
            if tr.kind == "firing":
                inst.state, inst.fired_at, inst.value = "firing", alert.fired_at, alert.value
                inst.annotations = dict(alert.annotations)
                self._record(inst, "firing", ts, SYSTEM)
                self._update_silenced(inst, ts)
            elif tr.kind == "resolved":
                self._resolve(inst, ts, SYSTEM, "condition cleared" if alert.state == "inactive" else
                              "condition cleared while pending")

    def refresh(self, alerts: list[ActiveAlert]) -> None:
        """Values and annotations re-expanded by an evaluation (not timeline events)."""
        for alert in alerts:
            inst = self.live.get(alert.instance_id or "")
            if inst is not None and (inst.value != alert.value or inst.annotations != alert.annotations):
                inst.value, inst.annotations = alert.value, dict(alert.annotations)
                self._dirty[inst.id] = inst
                self._refreshed.add(inst.id)

    def housekeeping(self, ts: float) -> None:
        """Expire acknowledgements and re-check silences (each evaluation cycle)."""
        for inst in list(self.live.values()):
            ack = inst.acknowledgement
            if ack is not None and ack.expires_at is not None and ack.expires_at <= ts:
                inst.acknowledgement = None
                self._record(inst, "unacknowledged", ts, SYSTEM, "acknowledgement expired")
            self._update_silenced(inst, ts)

    def commit(self) -> None:
        """Persist and announce what changed since the last commit, before the server serves (the
        rules' first load); ``save()`` once it does.

        On a full disk the changes stay pending and go with the next commit; the flush loop reports
        the full disk."""
        try:
            self._commit()
        except StorageFullError:
            log.debug("alert changes kept in memory: disk full")

    async def save(self) -> None:
        """``commit()`` with the write on the book's threads (the ruler's, after each evaluation)."""
        async with self._writing:
            try:
                await self._commit_off_loop()
            except StorageFullError:
                log.debug("alert changes kept in memory: disk full")

    def _commit(self, silences: list[Silence] | tuple[()] = ()) -> None:
        dirty, events = self._take()
        try:
            self.db.write(list(dirty.values()), events, silences)
        except BaseException:
            self._put_back(dirty, events)
            raise
        self._committed(dirty, events)

    async def _commit_off_loop(self, silences: list[Silence] | tuple[()] = ()) -> None:
        dirty, events = self._take()
        try:
            await self._off_loop(self.db.write, list(dirty.values()), events, silences)
        except BaseException:
            self._put_back(dirty, events)
            raise
        self._committed(dirty, events)

    def _take(self) -> tuple[dict[str, AlertInstance], list[TimelineEvent]]:
        dirty, events = self._dirty, self._events
        self._dirty, self._events = {}, []
        return dirty, events

    def _put_back(self, dirty: dict[str, AlertInstance], events: list[TimelineEvent]) -> None:
        """A write that failed: its changes stay pending, before any made while it was on its way."""
        self._dirty, self._events = {**dirty, **self._dirty}, events + self._events

    def _committed(self, dirty: dict[str, AlertInstance], events: list[TimelineEvent]) -> None:
        for inst in dirty.values():
            if not inst.live:
                self.live.pop(inst.id, None)
        for ev in events:
            inst = dirty.get(ev.instance_id)
            if inst is not None:
                self._announce(ev, inst)
        refreshed = (self._refreshed & dirty.keys()) - {ev.instance_id for ev in events}
        self._refreshed -= dirty.keys()
        for inst_id in refreshed:  # a new value or annotation from an evaluation: shown live, not notified
            inst = dirty.get(inst_id)
            if inst is not None and inst.live:
                self.bus.publish("alerts", self.now(), {"event": "updated", "by": "", "detail": "",
                                                        "alert": inst.to_json(rfc3339)})

    def _announce(self, ev: TimelineEvent, inst: AlertInstance) -> None:
        self.bus.publish("alerts", ev.ts, {"event": ev.kind, "by": ev.by, "detail": ev.detail,
                                           "alert": inst.to_json(rfc3339)})
        if self.on_change is not None:
            self.on_change(ev.kind, inst)

    # -- changes committed by another replica (REDIS_URL: engine/cluster/alertsync.py) ---------

    async def reload(self) -> None:
        """Read live instances and silences again, dropping changes not yet committed: a replica
        that starts or stops leading takes the shared state as it is."""
        async with self._writing:
            self.live, self.silences = await self._off_loop(self._stored_state)
            self._dirty, self._events, self._refreshed = {}, [], set()

    def apply_remote(self, instances: list[AlertInstance], events: list[TimelineEvent],
                     silences: list[Silence]) -> None:
        """Another replica's committed change, taken into memory and announced here as it was there.
        An instance with an evaluation's change pending here keeps that change and takes the user's
        part (acknowledgement, a resolution by hand)."""
        for inst in instances:
            mine = self.live.get(inst.id)
            if not inst.live:
                self.live.pop(inst.id, None)
                self._dirty.pop(inst.id, None)
            elif mine is not None and inst.id in self._dirty:
                mine.acknowledgement = inst.acknowledgement
            else:
                self.live[inst.id] = inst
        for silence in silences:
            self.silences[silence.id] = silence
        by_id = {i.id: i for i in instances}
        for ev in events:
            inst = by_id.get(ev.instance_id)
            if inst is None:
                continue
            if ev.kind == "resolved" and ev.by != SYSTEM:
                self.forget(inst.rule_id, inst.fingerprint)
            self._announce(ev, self.live.get(inst.id, inst))

    # -- user actions ------------------------------------------------------------------------

    async def _check_live(self, instance_id: str) -> None:
        """AlertActionError unless ``instance_id`` is live: 404 for no such alert, 409 for a resolved one."""
        if instance_id not in self.live:
            if await self._off_loop(self.db.instance, instance_id) is None:
                raise AlertActionError("not_found", f"no alert with id {instance_id!r}", 404)
            raise AlertActionError("alert_resolved", f"alert {instance_id} is already resolved", 409)

    def _live_instance(self, instance_id: str) -> AlertInstance:
        inst = self.live.get(instance_id)
        if inst is None:  # resolved since _check_live looked
            raise AlertActionError("alert_resolved", f"alert {instance_id} is already resolved", 409)
        return inst

    async def _user_change(self, change: Callable[[], T], *changed: Silence) -> T:
        """Apply a user's change and write it (with anything pending) in one transaction. If the write
        fails (StorageFullError on a full disk, AlertStateUnavailable) what the change did is undone and
        the error propagates, so the API never reports a change that is not stored. An evaluation's
        changes made while the write was on its way stay, pending."""
        async with self._writing:
            instances = {i.id: copy.copy(i) for i in self.live.values()}
            silences = {s.id: self.silences.get(s.id) for s in changed}
            n_events = len(self._events)
            result = change()
            mine = self._events[n_events:]
            try:
                await self._commit_off_loop(list(changed))
            except BaseException:
                for inst_id in {ev.instance_id for ev in mine}:
                    inst = self.live.get(inst_id)
                    before = instances.get(inst_id)
                    for f in dataclasses.fields(before) if inst is not None and before is not None else ():
                        setattr(inst, f.name, getattr(before, f.name))
                for silence_id, before_silence in silences.items():
                    if before_silence is None:
                        self.silences.pop(silence_id, None)
                    else:
                        self.silences[silence_id] = before_silence
                undone = set(map(id, mine))
                self._events = [ev for ev in self._events if id(ev) not in undone]
                raise
        return result

    async def acknowledge(self, instance_id: str, by: str, comment: str = "", expires_in: float | None = None
                          ) -> AlertInstance:
        _check_comment(comment)
        if expires_in is not None and not (expires_in > 0 and in_rfc3339_range(self.now() + expires_in)):
            raise AlertActionError("invalid_body", f"expiresIn: must be greater than zero and end by "
                                                   f"{rfc3339(LATEST)}", field="expiresIn")
        await self._check_live(instance_id)

        def change() -> AlertInstance:
            inst = self._live_instance(instance_id)
            now = self.now()
            inst.acknowledgement = Acknowledgement(by, now, comment, None if expires_in is None else now + expires_in)
            self._record(inst, "acknowledged", now, by, comment)
            return inst
        return await self._user_change(change)

    async def resolve(self, instance_id: str, by: str, comment: str = "") -> AlertInstance:
        _check_comment(comment)
        await self._check_live(instance_id)

        def change() -> AlertInstance:
            inst = self._live_instance(instance_id)
            self._resolve(inst, self.now(), by, comment or "resolved by hand")
            return inst
        inst = await self._user_change(change)
        self.forget(inst.rule_id, inst.fingerprint)
        return inst

    def _resolve(self, inst: AlertInstance, ts: float, by: str, detail: str) -> None:
        inst.state, inst.resolved_at, inst.resolved_by = "resolved", ts, by
        inst.acknowledgement = None
        self._record(inst, "resolved", ts, by, detail)

    def resolve_rule(self, rule_id: str, detail: str) -> None:
        """Close every live instance of a rule that was removed or disabled (written by the caller's
        next ``commit()`` or ``save()``)."""
        ts = self.now()
        for inst in [i for i in self.live.values() if i.rule_id == rule_id]:
            self._resolve(inst, ts, SYSTEM, detail)

    # -- silences ----------------------------------------------------------------------------

    async def add_silence(self, body: dict[str, Any], created_by: str) -> Silence:
        """A new silence by ``created_by``, the requester: a body never names its own author."""
        now = self.now()
        matchers, starts, ends, comment = parse_silence(body, now)
        silence = Silence(new_silence_id(), matchers, starts, ends, created_by, comment, now)
        return await self._user_change(lambda: self._add_silence(silence, now), silence)

    def _add_silence(self, silence: Silence, now: float) -> Silence:
        """``silence`` stored, unless MAX_SILENCES are already active or pending (409 until some end or
        are expired; an edit in place, or a silence that replaces an active one, adds none). Counted
        under the write lock, so that concurrent requests cannot pass the limit together."""
        in_force = sum(1 for s in self.silences.values() if s.state(now) != "expired")
        if in_force >= MAX_SILENCES:
            raise AlertActionError("too_many_silences", f"at most {MAX_SILENCES} silences may be active or "
                                   "pending at once; expire some first", 409)
        return self._set_silence(silence, now)

    async def expire_silence(self, silence_id: str) -> Silence:
        silence = self.silences.get(silence_id)
        now = self.now()
        if silence is None:
            raise AlertActionError("not_found", f"no silence with id {silence_id!r}", 404)
        if silence.state(now) == "expired":
            raise AlertActionError("silence_expired", f"silence {silence_id} has already expired", 409)
        expired = dataclasses.replace(silence, ends_at=max(now, silence.starts_at), updated_at=now)
        return await self._user_change(lambda: self._set_silence(expired, now), expired)

    async def update_silence(self, silence_id: str, body: dict[str, Any], by: str) -> Silence:
        """Edit or extend a silence, as Alertmanager does: the same matchers on a silence that has not
        ended change it in place (end, comment); other matchers, or an ended silence, make a new silence
        (the old one, if still active, ends now)."""
        old = self.silences.get(silence_id)
        now = self.now()
        if old is None:
            raise AlertActionError("not_found", f"no silence with id {silence_id!r}", 404)
        body = {"matchers": [m.to_json() for m in old.matchers], "comment": old.comment} | body
        matchers, starts, ends, comment = parse_silence(body, now)
        if matchers == old.matchers and old.state(now) != "expired":
            changed = dataclasses.replace(old, starts_at=min(starts, old.starts_at), ends_at=ends,
                                          comment=comment, created_by=by, updated_at=now)
            return await self._user_change(lambda: self._set_silence(changed, now), changed)
        new = Silence(new_silence_id(), matchers, starts, ends, by, comment, now)
        if old.state(now) == "expired":
            return await self._user_change(lambda: self._add_silence(new, now), new)
        ended = dataclasses.replace(old, ends_at=max(now, old.starts_at), updated_at=now)

        def change() -> Silence:
            self.silences[old.id] = ended
            return self._set_silence(new, now)
        return await self._user_change(change, ended, new)

    def _set_silence(self, silence: Silence, now: float) -> Silence:
        self.silences[silence.id] = silence
        for inst in self.live.values():
            self._update_silenced(inst, now)
        return silence

    def _update_silenced(self, inst: AlertInstance, ts: float) -> None:
        ids = sorted(s.id for s in self.silences.values() if s.state(ts) == "active" and s.matches(inst.labels))
        if ids == inst.silenced_by:
            return
        inst.silenced_by = ids
        if not ids:
            self._record(inst, "unsilenced", ts, SYSTEM, "silence ended")
            return
        silences = [self.silences[i] for i in ids]
        self._record(inst, "silenced", ts, ", ".join(sorted({s.created_by for s in silences})),
                     "; ".join(s.comment for s in silences))

    async def keep_processes(self, instance_id: str, processes: list[dict[str, Any]]) -> None:
        """Store the top processes read when the alert fired (after the fact: reading them takes a
        thread, and the ruler never waits for it); no timeline event."""
        inst = await self.get(instance_id)
        if inst is None:
            return
        inst.processes = processes
        self._dirty[inst.id] = inst
        await self.save()

    # -- reading -----------------------------------------------------------------------------

    async def get(self, instance_id: str) -> AlertInstance | None:
        return self.live.get(instance_id) or await self._off_loop(self.db.instance, instance_id)

    async def timeline(self, instance_id: str) -> list[TimelineEvent]:
        return await self._off_loop(self.db.timeline, instance_id)

    async def recent_resolved(self, since: float, limit: int = 500) -> list[AlertInstance]:
        return await self._off_loop(self.db.recent_resolved, since, limit)

    async def purge(self) -> None:
        """Forget what ended longer than ALERTS_TTL ago, in storage and in memory: silences made and
        expired in a loop would otherwise pile up here until a restart."""
        async with self._writing:
            before = self.now() - self.ttl_s
            await self._off_loop(self.db.purge, before)
            for silence_id in [i for i, s in self.silences.items() if s.ends_at < before]:
                del self.silences[silence_id]

    def _record(self, inst: AlertInstance, kind: str, ts: float, by: str, detail: str = "") -> None:
        self._dirty[inst.id] = inst
        self._events.append(TimelineEvent(inst.id, ts, kind, by, detail))


def _check_comment(comment: str) -> None:
    problem = comment_problem(comment)
    if problem is not None:
        raise AlertActionError("invalid_body", f"comment: {problem}", field="comment")
