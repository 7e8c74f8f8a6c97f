"""Forwarding to an Alertmanager: ``POST /api/v2/alerts`` with each alert's labels, annotations,
``startsAt`` and ``endsAt`` (a time a few minutes ahead while firing, as Prometheus sends; the
resolution time once resolved). Firing alerts are re-sent every minute (dispatch.py)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from engine.notify.config import Channel
from engine.notify.model import Notification
from engine.notify.transport import Result, post
from engine.timefmt import rfc3339

VALID_FOR_S = 4 * 60.0
"""Prometheus's ValidUntil: 4 × max(evaluation interval, resend delay of 1m)."""


def payload(n: Notification, channel: Channel, key: str, now: float) -> list[dict[str, Any]]:
    return [{"labels": a.labels, "annotations": a.annotations, "startsAt": rfc3339(a.starts_at),
             "endsAt": rfc3339(a.ends_at if a.ends_at is not None else now + VALID_FOR_S),
             "generatorURL": n.generator_url(a)} for a in n.alerts]


async def send(session: aiohttp.ClientSession, channel: Channel, body: Any, now: float) -> Result:
    url = channel.settings["url"].rstrip("/") + "/api/v2/alerts"
    return await post(session, url, json.dumps(body).encode(), {"Content-Type": "application/json"}, channel.timeout)
