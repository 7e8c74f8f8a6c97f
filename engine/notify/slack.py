"""Slack incoming webhook: one message per group, blocks inside an attachment coloured by severity
(the only way Slack draws a coloured bar), and a resolved message when the group resolves."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from engine.alerts.model import SEVERITY_ORDER
from engine.notify import templates
from engine.notify.config import Channel
from engine.notify.model import Notification
from engine.notify.transport import Result, post

RESOLVED_COLOUR = "#2EB886"
COLOURS = {4: "#E01E5A", 3: "#E01E5A", 2: "#ECB22E", 1: "#439FE0", 0: "#439FE0"}
MAX_LABELS = 10


def colour(n: Notification) -> str:
    if n.status == "resolved":
        return RESOLVED_COLOUR
    worst = max((SEVERITY_ORDER.get(a.labels.get("severity", ""), 2) for a in n.alerts
                 if a.status == "firing"), default=2)
    return COLOURS[worst]


def payload(n: Notification, channel: Channel, key: str) -> dict[str, Any]:
    title = templates.render(channel.get("title", templates.TITLE), n)
    text = templates.render(channel.get("text", templates.TEXT), n)[:2900]
    labels = sorted(n.common_labels().items())[:MAX_LABELS]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text or " "}},
    ]
    if labels:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"`{k}={v[:100]}`"} for k, v in labels]})
    if n.external_url:
        blocks.append({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text",
                                                                                  "text": "Open alerts"},
                                                        "url": f"{n.external_url}/api/alerts"}]})
    body: dict[str, Any] = {"text": title, "attachments": [{"color": colour(n), "fallback": title, "blocks": blocks}],
                            "metadata": {"event_type": "metrics_service_alert",
                                         "event_payload": {"idempotencyKey": key, "groupKey": n.group_key,
                                                           "status": n.status}}}
    target = n.destination or channel.get("channel")
    if target:
        body["channel"] = target
    if channel.get("username"):
        body["username"] = channel.get("username")
    return body


async def send(session: aiohttp.ClientSession, channel: Channel, body: Any, now: float) -> Result:
    return await post(session, channel.settings["url"], json.dumps(body).encode(),
                      {"Content-Type": "application/json"}, channel.timeout)
