"""The notification log in Redis (REDIS_URL): what each group last notified, shared by the replicas.

The leader writes it after each flush (next to its own outbox); a replica that starts leading reads it,
so the alerts the previous leader already notified are not notified again.
"""

from __future__ import annotations

import json
import logging

from engine.notify.dispatch import LogEntry

KEY = "metrics-service:notify:log"
log = logging.getLogger(__name__)


class SharedNotificationLog:
    def __init__(self, url: str) -> None:
        import redis  # loaded only when REDIS_URL is set
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def save(self, updates: list[tuple[str, LogEntry | None]]) -> None:
        pipe = self.client.pipeline(transaction=True)
        for key, entry in updates:
            if entry is None:
                pipe.hdel(KEY, key)
            else:
                pipe.hset(KEY, key, json.dumps([sorted(entry.firing), sorted(entry.resolved), entry.sent_at]))
        pipe.execute()

    def load(self) -> dict[str, LogEntry]:
        out = {}
        for key, value in self.client.hgetall(KEY).items():
            try:
                firing, resolved, sent_at = json.loads(value)
                out[key.decode()] = LogEntry(set(firing), set(resolved), float(sent_at))
            except (ValueError, TypeError):
                log.warning("unreadable shared notification log entry skipped")
        return out

    def close(self) -> None:
        self.client.close()
