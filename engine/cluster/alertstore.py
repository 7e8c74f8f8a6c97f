"""Alert state in Redis (REDIS_URL): the same calls as ``AlertDB``, one source of truth for every replica.

Instances, timelines and silences live under ``metrics-service:alerts:``. Every write is one Lua
script that also publishes the change on ``metrics-service:alerts:changes`` (engine/cluster/alertsync.py
applies it on the other replicas). A write from the leader carries its fencing token: once another
replica has taken the lease, the old leader's writes are refused. A user's change (any replica, no
token) never brings back an instance the leader resolved meanwhile.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from engine.alerts.db import decode_instance, decode_silence, silence_record
from engine.alerts.model import AlertInstance, TimelineEvent
from engine.alerts.silences import Silence
from engine.cluster.lease import FENCE_KEY
from engine.logs import log_fields
from engine.tsdb.backend import StoreError

PREFIX = "metrics-service:alerts:"
INSTANCES = PREFIX + "instances"
LIVE = PREFIX + "live"
RESOLVED = PREFIX + "resolved"
EVENTS = PREFIX + "events:"
SILENCES = PREFIX + "silences"
SILENCE_ENDS = PREFIX + "silence-ends"
CHANGES = PREFIX + "changes"
log = logging.getLogger(__name__)

_WRITE = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local p = cjson.decode(ARGV[2])
for _, i in ipairs(p.instances) do
  local old = ARGV[1] == '' and i[2] ~= 'resolved' and redis.call('HGET', KEYS[2], i[1])
  if old and cjson.decode(old).state == 'resolved' then
    -- a user's change made on a copy the leader had resolved meanwhile: the resolution stands
  elseif i[2] == 'resolved' then
    redis.call('HSET', KEYS[2], i[1], i[4]); redis.call('SREM', KEYS[3], i[1]); redis.call('ZADD', KEYS[4], i[3], i[1])
  else
    redis.call('HSET', KEYS[2], i[1], i[4]); redis.call('SADD', KEYS[3], i[1])
  end
end
for _, e in ipairs(p.events) do redis.call('RPUSH', KEYS[5] .. e[1], e[2]) end
for _, s in ipairs(p.silences) do
  redis.call('HSET', KEYS[6], s[1], s[3]); redis.call('ZADD', KEYS[7], s[2], s[1])
end
for _, d in ipairs(p.deleted) do redis.call('HDEL', KEYS[6], d); redis.call('ZREM', KEYS[7], d) end
redis.call('PUBLISH', KEYS[8], ARGV[3])
return 1
"""
_PURGE = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, id in ipairs(gone) do
  redis.call('HDEL', KEYS[2], id); redis.call('DEL', KEYS[3] .. id); redis.call('ZREM', KEYS[1], id)
end
local ended = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[1])
for _, id in ipairs(ended) do redis.call('HDEL', KEYS[5], id); redis.call('ZREM', KEYS[4], id) end
return #gone
"""


def change_message(origin: str, instances: list[AlertInstance], events: list[TimelineEvent],
                   silences: list[Silence], deleted: list[str]) -> str:
    return json.dumps({"origin": origin, "instances": [i.to_record() for i in instances],
                       "events": [[e.instance_id, e.ts, e.kind, e.by, e.detail] for e in events],
                       "silences": [silence_record(s) for s in silences], "deleted": list(deleted)})


class AlertStateUnavailable(StoreError):
    """Redis, which holds the alert state, does not answer: the request may be retried (a 503)."""


class RedisAlertDB:
    """``AlertDB``'s calls on Redis. ``origin``: this replica's id; ``token()``: the fencing token to
    write under (None when this replica does not lead: a user's action, written unconditionally)."""

    def __init__(self, url: str, origin: str, token: Callable[[], int | None]) -> None:
        import redis  # loaded only when REDIS_URL is set
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.origin = origin
        self.token = token
        self._write = self.client.register_script(_WRITE)
        self._purge = self.client.register_script(_PURGE)
        self.path = "redis"

    def _call(self, job: Callable[[], Any]) -> Any:
        import redis
        try:
            return job()
        except (redis.RedisError, OSError) as exc:
            raise AlertStateUnavailable(f"alert state in Redis cannot be reached: {exc}") from None

    def open(self) -> None:
        self._call(self.client.ping)

    def load_instances(self, live_only: bool) -> list[AlertInstance]:
        if live_only:
            ids = sorted(i.decode() for i in self._call(lambda: self.client.smembers(LIVE)))
            records = self._call(lambda: self.client.hmget(INSTANCES, ids)) if ids else []
        else:
            records = list(self._call(lambda: self.client.hgetall(INSTANCES)).values())
        return _decoded(records, decode_instance)

    def recent_resolved(self, since: float, limit: int) -> list[AlertInstance]:
        ids = self._call(lambda: self.client.zrevrangebyscore(RESOLVED, "+inf", since, start=0, num=limit))
        return _decoded(self._call(lambda: self.client.hmget(INSTANCES, ids)) if ids else [], decode_instance)

    def instance(self, instance_id: str) -> AlertInstance | None:
        found = _decoded([self._call(lambda: self.client.hget(INSTANCES, instance_id))], decode_instance)
        return found[0] if found else None

    def timeline(self, instance_id: str) -> list[TimelineEvent]:
        return [TimelineEvent(*json.loads(e)) for e in self._call(lambda: self.client.lrange(EVENTS + instance_id,
                                                                                             0, -1))]

    def load_silences(self) -> list[Silence]:
        return _decoded(list(self._call(lambda: self.client.hgetall(SILENCES)).values()), decode_silence)

    def write(self, instances: list[AlertInstance], events: list[TimelineEvent],
              silences: list[Silence] = (), deleted_silences: list[str] = ()) -> None:
        """One atomic script for everything an operation changed, published to the other replicas."""
        if not (instances or events or silences or deleted_silences):
            return
        payload = json.dumps({
            "instances": [[i.id, i.state, i.resolved_at or 0, json.dumps(i.to_record())] for i in instances],
            "events": [[e.instance_id, json.dumps([e.instance_id, e.ts, e.kind, e.by, e.detail])] for e in events],
            "silences": [[s.id, s.ends_at, json.dumps(silence_record(s))] for s in silences],
            "deleted": list(deleted_silences)})
        token = self.token()
        message = change_message(self.origin, instances, events, list(silences), list(deleted_silences))
        written = self._call(lambda: self._write(
            keys=[FENCE_KEY, INSTANCES, LIVE, RESOLVED, EVENTS, SILENCES, SILENCE_ENDS, CHANGES],
            args=["" if token is None else str(token), payload, message]))
        if not written:
            log.warning("alert changes refused: another replica leads now (stale fencing token)",
                        extra=log_fields(token=token, instances=len(instances), events=len(events)))

    def purge(self, before: float) -> None:
        self._call(lambda: self._purge(keys=[RESOLVED, INSTANCES, EVENTS, SILENCE_ENDS, SILENCES], args=[before]))

    def close(self) -> None:
        self.client.close()


def _decoded(records: list[Any], decode: Callable[[str], Any]) -> list[Any]:
    out = []
    for record in records:
        if record is None:
            continue
        try:
            out.append(decode(record.decode() if isinstance(record, bytes) else record))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
            log.warning("unreadable alert record in Redis skipped: %s: %s", type(exc).__name__, exc)
    return out
