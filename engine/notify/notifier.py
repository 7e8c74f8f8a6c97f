"""The notifier the Engine owns: alert changes in, routed and grouped notifications committed to the
outbox, delivered by per-channel workers; channels from the config, the environment and the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from engine.alerts.model import AlertInstance
from engine.cluster.nflog import SharedNotificationLog
from engine.cluster.shared import Docs, SharedDocs, SharedStateUnavailable
from engine.datadir import StorageFullError
from engine.events import EventBus
from engine.logs import log_fields
from engine.netpolicy import BlockedTarget, NetPolicy, PolicyResolver
from engine.notify import alertmanager, mail, slack, webhook
from engine.notify.config import (
    Channel,
    NotifyConfigError,
    env_channels,
    merge_update,
    parse_channel,
    redact_url,
    with_defaults,
)
from engine.notify.delivery import Delivery
from engine.notify.dispatch import Dispatcher, LogEntry, Target
from engine.notify.model import AlertView, Notification
from engine.notify.outbox import Outbox
from engine.notify.routing import Inhibitor, Route, build_route
from engine.notify.transport import Result
from engine.secretbox import SecretBox
from engine.settings import Settings, SettingsError
from engine.timefmt import rfc3339
from engine.tracing import NO_TRACER, Tracer

log = logging.getLogger(__name__)
T = TypeVar("T")
TICK_S = 1.0
MAX_API_CHANNELS = 256
_BUILDERS = {"webhook": webhook.payload, "slack": slack.payload, "email": mail.payload}
_SENDERS = {"webhook": webhook.send, "slack": slack.send, "email": mail.send, "alertmanager": alertmanager.send}
_LIVE_EVENTS = ("firing", "resolved", "acknowledged", "unacknowledged", "silenced", "unsilenced")


class ChannelError(ValueError):
    """A channel API refusal: ``status`` and ``code`` for the answer, ``field`` when a field is wrong."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


class Notifier:
    def __init__(self, settings: Settings, now: Callable[[], float], bus: EventBus,
                 rule_channels: Callable[[str], list[dict[str, Any]]], *, repair: bool = False,
                 tracer: Tracer = NO_TRACER, leading: Callable[[], bool] = lambda: True,
                 shared_log: SharedNotificationLog | None = None, shared: SharedDocs | None = None) -> None:
        """``rule_channels(rule_id)``: a rule's ``notificationChannels``. ``leading()``: may this replica
        send now? With several replicas only the leader does, ``shared_log`` carries the
        notification log from one leader to the next, and ``shared`` holds the API's channels (sealed)
        in place of ``notifications.db``'s table."""
        self.settings = settings
        self.shared = shared
        self.leading = leading
        self.shared_log = shared_log
        self.tracer = tracer
        self.config = settings.notifications
        self.now = now
        self.bus = bus
        self.rule_channels = rule_channels
        self.policy = NetPolicy.from_entries(settings.health_check_allow)
        self.outbox = Outbox(settings.data_dir, SecretBox(settings.data_dir, settings.secrets_key), repair)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify-db")
        self.external_url = self.config.external_url
        env = {k: getattr(settings, k) for k in ("slack_webhook_url", "email_smtp_host", "email_smtp_port",
                                                 "email_username", "email_password", "email_from", "email_to",
                                                 "webhook_url", "webhook_secret")}
        try:
            configured = [with_defaults(c, env) for c in self.config.channels]
        except NotifyConfigError as exc:
            raise SettingsError(f"NOTIFICATIONS: {exc}", "NOTIFICATIONS") from None
        configured += env_channels(env, {c.name for c in configured})
        self.fixed: dict[str, Channel] = {c.name: c for c in configured}
        self.api: dict[str, Channel] = {}
        self._writing = asyncio.Lock()
        """Held by an API change from checking the channels to storing it: concurrent requests for
        one name never both make it, nor bring back one deleted meanwhile."""
        self.root = self._build_route()
        self.inhibitor = Inhibitor(self.config.inhibit_rules)
        self.dispatcher = Dispatcher(self._inhibited, self._send_resolved, self._always_repeat,
                                     lambda: self.external_url)
        self.delivery = Delivery(self.outbox, self.pool, now, self._send, settings.notify_max_age, self._attempted)
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._firing: dict[str, AlertView] = {}

    def _build_route(self) -> Route:
        try:
            return build_route(self.config.route, self.fixed)
        except NotifyConfigError as exc:
            raise SettingsError(f"NOTIFICATIONS: {exc}", "NOTIFICATIONS") from None

    # -- lifecycle --------------------------------------------------------------------------------

    def open(self, live: list[AlertInstance]) -> None:
        """Open the outbox, load API channels and the notification log, and take in the live alerts
        (groups already notified do not notify again)."""
        self.outbox.open()
        if self.shared is None:
            self._take_channels(self.outbox.api_channels())
        else:
            try:
                self.apply_shared(self.shared.load())
            except SharedStateUnavailable as exc:  # read when Redis answers (engine/cluster/shared.py)
                log.warning("API channels not read: Redis does not answer", extra=log_fields(error=str(exc)))
        self.dispatcher.log = self.outbox.load_log()
        now = self.now()
        for inst in live:
            if inst.state == "firing":
                self._take(AlertView.of(inst), now)

    def apply_shared(self, docs: Docs) -> None:
        """The API's channels as Redis has them (another replica changed them)."""
        self._take_channels([(name, doc.get("type"), doc.get("settings")) for name, doc in sorted(docs.items())])

    def _take_channels(self, stored: list[tuple[str, Any, Any]]) -> None:
        api = {}
        for name, kind, settings in stored:
            if name in self.fixed:
                continue
            try:
                api[name] = parse_channel({"name": name, "type": kind, "settings": settings}, name, "api")
            except NotifyConfigError as exc:
                log.warning("stored channel skipped", extra=log_fields(channel=name, problem=exc.message))
        self.api = api

    async def start(self) -> None:
        self._sessions = {trusted: aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            resolver=None if trusted else PolicyResolver(self.policy), limit=100)) for trusted in (True, False)}
        self._wake = asyncio.Event()
        await self.delivery.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="notify-dispatch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.delivery.stop()
        for session in self._sessions.values():
            await session.close()
        self._sessions = {}

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.outbox.close()
        if self.shared_log is not None:
            self.shared_log.close()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            due = self.dispatcher.next_due()
            wait = TICK_S if due is None or not self.leading() else min(TICK_S, max(0.0, due - self.now()))
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            if not self.leading():
                continue  # another replica leads and sends
            try:
                await self.flush_due()
            except StorageFullError:
                log.debug("notifications kept in memory: disk full")  # the flush loop reports the full disk
            except Exception:
                log.exception("committing notifications failed; they are retried on the next tick")

    # -- alerts in --------------------------------------------------------------------------------

    def alert_changed(self, kind: str, inst: AlertInstance) -> None:
        """The alert book's callback after each committed change."""
        if kind not in _LIVE_EVENTS:
            return
        view = AlertView.of(inst)
        if kind == "firing":
            self._take(view, self.now())
        else:
            self.dispatcher.update(view)
            if view.status == "firing":
                self._firing[view.fingerprint] = view
            else:
                self._firing.pop(view.fingerprint, None)
        if self._wake is not None:
            self._wake.set()

    def _take(self, view: AlertView, now: float) -> None:
        self._firing[view.fingerprint] = view
        self.dispatcher.add(view, self.targets(view), now)

    def targets(self, view: AlertView) -> list[Target]:
        """The route tree's receivers plus the rule's own ``notificationChannels``."""
        out = [Target(r, r.receiver) for r in self.root.match(view.labels) if r.receiver in self.channels_by_name()]
        for i, spec in enumerate(self.rule_channels(view.rule_id)):
            name = spec.get("name") or spec.get("type")
            channel = self.channels_by_name().get(name) if isinstance(name, str) else None
            if channel is None:
                continue
            dest = spec.get("destination")
            out.append(Target(self.root, channel.name, dest if isinstance(dest, str) and dest else None,
                              f"{self.root.key}/rule:{view.rule_id}:{i}"))
        return [t for t in out if self.channels_by_name()[t.receiver].type != "websocket"]

    def _inhibited(self, view: AlertView) -> bool:
        if not self.inhibitor.rules:
            return False
        firing = [(a.fingerprint, a.labels) for a in self._firing.values() if a.status == "firing"]
        return self.inhibitor.inhibited(view.labels, view.fingerprint, firing)

    def _send_resolved(self, receiver: str) -> bool:
        channel = self.channels_by_name().get(receiver)
        return channel is None or channel.type == "alertmanager" or channel.send_resolved

    def _always_repeat(self, receiver: str) -> bool:
        channel = self.channels_by_name().get(receiver)
        return channel is not None and channel.type == "alertmanager"

    async def flush_due(self) -> int:
        """Flush due groups: their notifications and the notification log committed in one
        transaction, then the channels' workers woken. The number of notifications."""
        now = self.now()
        due = self.dispatcher.next_due()
        if due is None or due > now:
            return 0
        saved = self.dispatcher.save()
        flushed = self.dispatcher.tick(now)
        if not flushed:
            return 0
        rows = [self._row(n, now) for n, _, _ in flushed]
        rows = [r for r in rows if r is not None]
        updates = [(key, entry) for _, key, entry in flushed]
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self.outbox.enqueue, rows, updates)
        except BaseException:
            self.dispatcher.restore(saved)  # nothing is lost: the same groups flush again on the next tick
            raise
        if self.shared_log is not None:
            await asyncio.get_running_loop().run_in_executor(self.pool, self._share_log, updates)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["channel"]] = counts.get(r["channel"], 0) + 1
        self.delivery.enqueued(counts)
        return len(rows)

    def _share_log(self, updates: list[tuple[str, LogEntry | None]]) -> None:
        import redis
        assert self.shared_log is not None
        try:
            self.shared_log.save(updates)
        except (redis.RedisError, OSError) as exc:
            log.warning("notification log not shared: Redis does not answer", extra=log_fields(error=str(exc)))

    async def adopt_shared_log(self) -> None:
        """This replica starts leading: what the previous leader notified is notified already (read
        on the notifier's thread: a Redis that hangs holds this term's start, not the server)."""
        import redis
        if self.shared_log is None:
            return
        try:
            self.dispatcher.log = await asyncio.get_running_loop().run_in_executor(self.pool, self.shared_log.load)
        except (redis.RedisError, OSError) as exc:
            log.warning("notification log not read from Redis: this replica's own is used",
                        extra=log_fields(error=str(exc)))

    def _row(self, n: Notification, now: float) -> dict[str, Any] | None:
        channel = self.channels_by_name().get(n.receiver)
        if channel is None:
            return None
        key = uuid.uuid4().hex
        if channel.type == "alertmanager":
            body: Any = alertmanager.payload(n, channel, key, now)
        else:
            body = _BUILDERS[channel.type](n, channel, key)
        return {"key": key, "channel": channel.name, "created_at": now, "group_key": n.group_key,
                "route_key": n.route_key, "alert_status": n.status, "payload": body,
                "alerts": [{"id": a.id, "name": a.name, "fingerprint": a.fingerprint, "status": a.status}
                           for a in n.alerts]}

    # -- sending ---------------------------------------------------------------------------------

    async def _send(self, name: str, body: Any, now: float) -> Result:
        channel = self.channels_by_name()[name]
        session = self._sessions[channel.source != "api"]
        with self.tracer.span("notification.deliver", {"notify.channel": name,
                                                       "notify.channel_type": channel.type}) as span:
            result = await _SENDERS[channel.type](session, channel, body, now)
            if result.error:
                result.error = _mask(result.error, channel)
            if self.tracer.enabled:
                span.set_attributes({"notify.ok": result.ok})
                if result.status is not None:
                    span.set_attributes({"http.response.status_code": result.status})
                if result.error:
                    span.fail(result.error)
        return result

    def _attempted(self, row: dict[str, Any]) -> None:
        self.bus.publish("notifications", self.now(), {"event": "delivery", "notification": entry_json(row)})

    # -- channels API -----------------------------------------------------------------------------

    def channels_by_name(self) -> dict[str, Channel]:
        return {**self.api, **self.fixed}

    def channels(self) -> list[dict[str, Any]]:
        queue = self.delivery.queue
        out = []
        for channel in sorted(self.channels_by_name().values(), key=lambda c: c.name):
            health = self.delivery.health.get(channel.name)
            item = channel.public()
            item["health"] = (health.to_json() if health is not None else
                              {"healthy": True, "consecutiveFailures": 0, "lastError": None, "lastAttemptAt": None,
                               "lastSuccessAt": None})
            item["queueLength"] = queue.get(channel.name, 0)
            out.append(item)
        return out

    def channel(self, name: str) -> dict[str, Any]:
        for item in self.channels():
            if item["name"] == name:
                return item
        raise ChannelError(404, "not_found", f"no channel named {name!r}")

    def _check_policy(self, channel: Channel) -> None:
        url = channel.get("url")
        if url is None:
            return
        try:
            self.policy.check_name(urlsplit(url).hostname or "")
        except BlockedTarget as exc:
            raise ChannelError(400, "invalid_body", f"url: {_mask(str(exc), channel)}", "url") from None

    async def create_channel(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = _parsed(lambda: parse_channel(body, "", "api"))
        async with self._writing:
            if channel.name in self.channels_by_name():
                raise ChannelError(409, "channel_exists", f"a channel named {channel.name!r} already exists", "name")
            if len(self.api) >= MAX_API_CHANNELS:
                raise ChannelError(409, "too_many_channels", f"at most {MAX_API_CHANNELS} channels may be created")
            return await self._store(channel, "new")

    async def update_channel(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._writing:
            old = self._api_channel(name)
            body = {**body, "name": name}
            channel = _parsed(lambda: merge_update(old, body))
            return await self._store(channel, "existing")

    async def delete_channel(self, name: str) -> None:
        async with self._writing:
            self._api_channel(name)
            forget = self.outbox.delete_channel if self.shared is None else self.shared.delete
            await asyncio.get_running_loop().run_in_executor(self.pool, forget, name)
            self.api.pop(name, None)

    def _api_channel(self, name: str) -> Channel:
        if name in self.fixed:
            raise ChannelError(409, "read_only_channel", f"channel {name!r} comes from the {self.fixed[name].source}"
                                                         " and cannot be changed through the API")
        channel = self.api.get(name)
        if channel is None:
            raise ChannelError(404, "not_found", f"no channel named {name!r}")
        return channel

    async def _store(self, channel: Channel, only: str) -> dict[str, Any]:
        """Write a channel made (``only="new"``) or changed (``"existing"``): with replicas, the same
        name made on another one meanwhile is a conflict, and a channel deleted there is gone."""
        self._check_policy(channel)
        settings = dict(channel.settings)
        if self.shared is None:
            await asyncio.get_running_loop().run_in_executor(self.pool, self.outbox.put_channel, channel.name,
                                                             channel.type, settings)
        elif not await asyncio.get_running_loop().run_in_executor(
                self.pool, self.shared.put, channel.name, {"type": channel.type, "settings": settings}, only):
            if only == "new":
                raise ChannelError(409, "channel_exists", f"a channel named {channel.name!r} already exists", "name")
            raise ChannelError(404, "not_found", f"no channel named {channel.name!r}")
        self.api[channel.name] = replace(channel, source="api")
        return self.channel(channel.name)

    async def test_channel(self, name: str) -> dict[str, Any]:
        """Send a test message now, outside the outbox; the receiver's answer."""
        channel = self.channels_by_name().get(name)
        if channel is None:
            raise ChannelError(404, "not_found", f"no channel named {name!r}")
        if channel.type == "websocket":
            return {"ok": True, "status": None, "response": "alerts go to the WebSocket 'alerts' topic", "error": None,
                    "durationSeconds": 0.0}
        now = self.now()
        alert = AlertView(f"test-{uuid.uuid4().hex[:8]}", "0000000000000000", "TestNotification", "",
                          {"alertname": "TestNotification", "severity": "info"},
                          {"summary": "A test message from metrics-service: this channel works."}, now)
        n = Notification(name, "{}/test", {"alertname": "TestNotification"}, [alert], "test", self.external_url)
        key = uuid.uuid4().hex
        body = (alertmanager.payload(n, channel, key, now) if channel.type == "alertmanager"
                else _BUILDERS[channel.type](n, channel, key))
        started = time.perf_counter()
        result = await self._send(name, body, now)
        return {"ok": result.ok, "status": result.status, "response": result.body, "error": result.error,
                "durationSeconds": round(time.perf_counter() - started, 3)}

    # -- log and routing ------------------------------------------------------------------------

    async def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        rows = await asyncio.get_running_loop().run_in_executor(self.pool, lambda: self.outbox.list(**filters))
        return [entry_json(r) for r in rows]

    async def delivery_entry(self, row_id: int) -> dict[str, Any] | None:
        row = await asyncio.get_running_loop().run_in_executor(self.pool, self.outbox.get, row_id)
        if row is None:
            return None
        return {**entry_json(row), "payload": row["payload"], "response": row["response"]}

    def routing(self) -> dict[str, Any]:
        return {"route": self.root.to_json(), "inhibitRules": [r.to_json() for r in self.inhibitor.rules],
                "groups": [{"groupKey": g.notification([], "", "").group_key, "receiver": g.target.receiver,
                            "alerts": len(g.alerts), "nextFlushAt": rfc3339(g.next_flush)}
                           for g in self.dispatcher.groups.values()]}

    async def purge(self, before: float) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, self.outbox.purge, before)

    def families(self) -> list[Any]:
        return self.delivery.families()


def entry_json(row: dict[str, Any]) -> dict[str, Any]:
    def t(v: float | None) -> str | None:
        return None if v is None else rfc3339(v)
    return {"id": row["id"], "createdAt": t(row["created_at"]), "channel": row["channel"],
            "routeKey": row["route_key"], "groupKey": row["group_key"], "alertStatus": row["alert_status"],
            "alerts": row["alerts"], "status": row["status"], "attempts": row["attempts"],
            "lastAttemptAt": t(row.get("last_attempt_at")),
            "nextAttemptAt": t(row["next_attempt_at"]) if row["status"] == "pending" else None,
            "sentAt": t(row.get("sent_at")), "lastError": row.get("last_error"), "idempotencyKey": row["key"]}


def _parsed(build: Callable[[], Channel]) -> Channel:
    try:
        return build()
    except NotifyConfigError as exc:
        raise ChannelError(400, "invalid_body", str(exc), exc.field) from None


def _mask(text: str, channel: Channel) -> str:
    """An error text with the channel's secrets (a Slack URL is one) taken out."""
    for secret in channel.secrets():
        if secret:
            text = text.replace(secret, redact_url(secret) if secret.startswith("http") else "***")
    return text
