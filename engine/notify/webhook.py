"""Webhook: Alertmanager's webhook payload (version 4) plus our fields, signed with HMAC-SHA256.

Signature: ``X-Metrics-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Metrics-Timestamp>.<body>")>``;
the timestamp (Unix seconds) is in ``X-Metrics-Timestamp`` so a receiver can refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp

from engine.compat.regex import quote_meta
from engine.notify.config import Channel
from engine.notify.model import ZERO_TIME, Notification
from engine.notify.transport import Result, post
from engine.timefmt import rfc3339

SIGNATURE_HEADER = "X-Metrics-Signature"
TIMESTAMP_HEADER = "X-Metrics-Timestamp"


def alertmanager_data(n: Notification) -> dict[str, Any]:
    """Alertmanager's template data as its webhook sends it."""
    return {
        "receiver": quote_meta(n.receiver),  # as Alertmanager writes it
        "status": n.status,
        "alerts": [{"status": a.status, "labels": a.labels, "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at), "endsAt": ZERO_TIME if a.ends_at is None else rfc3339(a.ends_at),
                    "generatorURL": n.generator_url(a), "fingerprint": a.fingerprint} for a in n.alerts],
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": n.external_url,
    }


def payload(n: Notification, channel: Channel, key: str) -> dict[str, Any]:
    return {"version": "4", "groupKey": n.group_key, "truncatedAlerts": 0, **alertmanager_data(n),
            "notification_reason": n.reason,
            "metricsService": {"idempotencyKey": key, "notificationReason": n.reason,
                               "alerts": [{"fingerprint": a.fingerprint, "id": a.id,
                                           "acknowledgement": a.acknowledgement} for a in n.alerts]}}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


async def send(session: aiohttp.ClientSession, channel: Channel, body: Any, now: float) -> Result:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    secret = channel.get("secret")
    if secret:
        ts = int(now)
        headers[TIMESTAMP_HEADER] = str(ts)
        headers[SIGNATURE_HEADER] = sign(secret, ts, data)
    return await post(session, channel.settings["url"], data, headers, channel.timeout)
