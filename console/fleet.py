"""Several servers at once (``--server a,b,c`` or ``servers:`` in the config): each polled on its
own, every few seconds with a timeout, so a dead or slow server never holds up the others.

One poll is two requests: ``/api/dashboard/realtime`` (host figures, firing alerts, checks down)
and ``/api/alerts`` (the fleet's combined alert list); the version comes from
``/api/metrics/summary`` once per connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from console.client import Reply, ServerClient

if TYPE_CHECKING:
    from pathlib import Path

POLL_S = 5.0
TIMEOUT_S = 3.0


class MemberState(StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    UNAUTHORIZED = "unauthorized"


@dataclass
class Member:
    """What the Fleet screen shows of one server: its last answer, or why there is none."""

    url: str
    address: str
    state: MemberState = MemberState.CONNECTING
    reason: str = ""
    version: str | None = None
    system: dict[str, Any] = field(default_factory=dict)
    firing: int | None = None
    checks_down: int | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def take(self, realtime: Reply, alerts: Reply, status: int | None) -> None:
        """Apply one poll's replies; ``status`` is the HTTP status of a refusal (401/403), if any."""
        if not realtime.ok:
            self.state = MemberState.UNAUTHORIZED if status in (401, 403) else MemberState.DOWN
            self.reason = realtime.error
            return
        data = realtime.data if isinstance(realtime.data, dict) else {}
        self.state, self.reason = MemberState.UP, ""
        system = data.get("system") if isinstance(data.get("system"), dict) else {}
        self.system = {k: v for k, v in system.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        counts = data.get("alerts") if isinstance(data.get("alerts"), dict) else {}
        self.firing = _int(counts.get("firing"))
        self.checks_down = _int(data.get("services_down"))
        if alerts.ok and isinstance(alerts.data, dict):
            listed = alerts.data.get("alerts")
            self.alerts = [a for a in listed if _well_formed(a)] if isinstance(listed, list) else []


def _well_formed(alert: Any) -> bool:
    """An alert the tables can show: another server's answer is not trusted to be one."""
    from console.screens.alert_dialogs import parse_time  # console.screens imports this module

    if not isinstance(alert, dict) or "id" not in alert or not isinstance(alert.get("labels") or {}, dict):
        return False
    times = (alert.get("activeAt"), alert.get("resolvedAt"))
    return all(t in (None, "") or parse_time(t) is not None for t in times)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Fleet:
    """The servers of a fleet console, in the order given; ``poll`` False keeps the members as set
    (the snapshots' fixed data)."""

    def __init__(self, urls: list[str], token: str | None = None, *, poll: bool = True,
                 interval: float = POLL_S, timeout: float = TIMEOUT_S, token_file: Path | None = None) -> None:
        """``token_file``: where the token came from, read again after a refusal (``ServerClient``)."""
        self.clients = {url: ServerClient(url, token=token, timeout=timeout, token_file=token_file) for url in urls}
        self.members = {url: Member(url, client.address) for url, client in self.clients.items()}
        self.poll, self.interval = poll, interval
        self.dirty = False

    @property
    def urls(self) -> list[str]:
        return list(self.members)

    def alerts(self) -> list[tuple[Member, dict[str, Any]]]:
        """Every server's live alerts, each with the server it is from."""
        return [(m, a) for m in self.members.values() if m.state == MemberState.UP for a in m.alerts]

    async def follow(self, url: str) -> None:
        """Poll one server until cancelled; ``dirty`` after each poll (the console redraws at its flush)."""
        client, member = self.clients[url], self.members[url]
        while True:
            realtime, alerts = await asyncio.gather(client.get("/api/dashboard/realtime"), client.alerts())
            was_up = member.state == MemberState.UP
            member.take(realtime, alerts, realtime.status)
            if member.state == MemberState.UP and not was_up:
                summary = await client.get("/api/metrics/summary")
                version = summary.data.get("version") if summary.ok and isinstance(summary.data, dict) else None
                member.version = str(version) if version is not None else None
            if member.state == MemberState.UNAUTHORIZED:
                member.reason = client.refusal(realtime.status or 0) or member.reason
            self.dirty = True
            await asyncio.sleep(self.interval)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
