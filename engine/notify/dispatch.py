"""Aggregation groups and their timers, as Alertmanager's dispatcher and dedup stage, on the injected clock.

An alert instance joins one group per (route, receiver, group labels); groups and the notification log
hold instances by id, so an alert resolved by hand whose condition still holds is sent resolved
beside the new instance that follows it. A new group waits ``group_wait``, then
is looked at every ``group_interval``; it notifies when it has firing alerts never notified, when
alerts it notified as firing have resolved, or when ``repeat_interval`` has passed since it last
notified and an unacknowledged alert still fires. Silenced and inhibited alerts are left out.
``tick(now)`` does what is due; the caller persists what it returns (notifications and the
notification log) before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.notify.model import AlertView, Notification
from engine.notify.routing import Route

ALERTMANAGER_RESEND_S = 60.0


@dataclass
class LogEntry:
    """What a group last notified: Alertmanager's notification log entry."""

    firing: set[str]
    resolved: set[str]
    sent_at: float


@dataclass(frozen=True)
class Target:
    """Where an alert goes: a route (for timers and grouping), a receiver and a per-rule destination."""

    route: Route
    receiver: str
    destination: str | None = None
    route_key: str = ""

    @property
    def key(self) -> str:
        return self.route_key or self.route.key


@dataclass
class Group:
    target: Target
    labels: dict[str, str]
    alerts: dict[str, AlertView] = field(default_factory=dict)
    next_flush: float = 0.0

    def notification(self, alerts: list[AlertView], reason: str, external_url: str) -> Notification:
        return Notification(self.target.receiver, self.target.key, self.labels, alerts, reason, external_url,
                            self.target.destination)

    @property
    def log_key(self) -> str:
        return f"{self.target.receiver}|{self.notification([], '', '').group_key}"


class Dispatcher:
    """``muted(alert, now)``: inhibited (silences are on the alert). ``send_resolved(receiver)`` and
    ``always_repeat(receiver)`` (Alertmanager forwarding: re-sent every minute, acknowledged or not)
    come from the channels."""

    def __init__(self, muted: Callable[[AlertView], bool], send_resolved: Callable[[str], bool],
                 always_repeat: Callable[[str], bool], external_url: Callable[[], str]) -> None:
        self.groups: dict[tuple[str, str, str], Group] = {}
        self._where: dict[str, set[tuple[str, str, str]]] = {}
        """alert id -> the groups holding it, so a change touches only those"""
        self.log: dict[str, LogEntry] = {}
        self.muted = muted
        self.send_resolved = send_resolved
        self.always_repeat = always_repeat
        self.external_url = external_url

    def add(self, alert: AlertView, targets: list[Target], now: float) -> None:
        """A new or changed alert: into each target's group (a new group starts its group_wait)."""
        for target in targets:
            labels = target.route.group_labels(alert.labels)
            gid = (target.receiver, target.key, repr(sorted(labels.items())))
            group = self.groups.get(gid)
            if group is None:
                group = self.groups[gid] = Group(target, labels, next_flush=now + target.route.group_wait)
            group.alerts[alert.id] = alert
            self._where.setdefault(alert.id, set()).add(gid)

    def update(self, alert: AlertView) -> bool:
        """A known alert changed (resolved, acknowledged, silenced); False when no group holds it."""
        gids = self._where.get(alert.id, ())
        for gid in gids:
            self.groups[gid].alerts[alert.id] = alert
        return bool(gids)

    def save(self) -> Any:
        """The groups and log as they are, for ``restore`` when a flush's notifications could not be committed."""
        return ({gid: (g, dict(g.alerts), g.next_flush) for gid, g in self.groups.items()}, dict(self.log))

    def restore(self, saved: Any) -> None:
        groups, self.log = saved
        self.groups, self._where = {}, {}
        for gid, (group, alerts, next_flush) in groups.items():
            group.alerts, group.next_flush = alerts, next_flush
            self.groups[gid] = group
            for alert_id in alerts:
                self._where.setdefault(alert_id, set()).add(gid)

    def _forget(self, alert_id: str, gid: tuple[str, str, str]) -> None:
        gids = self._where.get(alert_id)
        if gids is not None:
            gids.discard(gid)
            if not gids:
                del self._where[alert_id]

    def next_due(self) -> float | None:
        return min((g.next_flush for g in self.groups.values()), default=None)

    def tick(self, now: float) -> list[tuple[Notification, str, LogEntry | None]]:
        """Flush every due group: (notification, log key, new log entry or None to clear it)."""
        out = []
        for gid, group in list(self.groups.items()):
            if group.next_flush > now:
                continue
            group.next_flush = now + group.target.route.group_interval
            sent = self._flush(group, now)
            if sent is not None:
                out.append(sent)
            for alert_id in [i for i, a in group.alerts.items() if a.status == "resolved"]:
                del group.alerts[alert_id]
                self._forget(alert_id, gid)
            if not group.alerts:
                del self.groups[gid]
        return out

    def _flush(self, group: Group, now: float) -> tuple[Notification, str, LogEntry | None] | None:
        receiver = group.target.receiver
        shown = [a for a in group.alerts.values() if not a.silenced and not self.muted(a)]
        firing = {a.id for a in shown if a.status == "firing"}
        resolved = {a.id for a in shown if a.status == "resolved"}
        key = group.log_key
        entry = self.log.get(key)
        reason = _reason(entry, firing, resolved, self.send_resolved(receiver))
        if reason is None and entry is not None and firing:
            repeat = group.target.route.repeat_interval
            active = firing
            if self.always_repeat(receiver):
                repeat = min(repeat, ALERTMANAGER_RESEND_S)
            else:
                active = {a.id for a in shown if a.status == "firing" and a.acknowledgement is None}
            if active and now >= entry.sent_at + repeat:
                reason = "repeat interval elapsed"
        if reason is None:
            return None
        alerts = [a for a in shown if a.status == "firing" or self.send_resolved(receiver)]
        new_entry = LogEntry(firing, resolved, now) if firing else None
        if new_entry is None:
            self.log.pop(key, None)
        else:
            self.log[key] = new_entry
        if not alerts:  # all resolved, and this receiver does not want resolved alerts: the log is cleared
            return None
        return group.notification(alerts, reason, self.external_url()), key, new_entry


def _reason(entry: LogEntry | None, firing: set[str], resolved: set[str], send_resolved: bool) -> str | None:
    if entry is None:
        return "first notification" if firing else None
    if not firing <= entry.firing:
        return "new alerts added"
    if not firing and entry.firing:
        return "all alerts resolved"
    if send_resolved and resolved & entry.firing:
        return "some alerts resolved"
    return None
