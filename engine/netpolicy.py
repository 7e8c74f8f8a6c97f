"""Which network targets a user-supplied URL or host may reach: one allow/deny policy for health
checks, scrape targets and webhooks created through the API.

The list (``HEALTH_CHECK_ALLOW``) holds CIDRs (``10.0.0.0/8``), addresses and host names; an entry
starting with ``!`` denies. Deny entries always win. When the list has allow entries, only what they
match is allowed; when it has none, everything is allowed except link-local and cloud metadata
addresses (169.254.0.0/16 with 169.254.169.254, fe80::/10, fd00:ec2::254, ``metadata.google.internal``)
and the unspecified/multicast ranges. Loopback stays allowed by default: the demo and tests use it.

A name is judged by every address it resolves to (``resolve``), at the time of each connection, so a
name re-pointed at a metadata address (DNS rebinding) is refused when it is used, not only when the
check was created.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_DENY_NETS: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "0.0.0.0/8", "224.0.0.0/4", "ff00::/8", "::/128",
))
DEFAULT_DENY_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})
_HOST_RE = re.compile(r"(?=.{1,253}\.?$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?)+", re.ASCII)


class BlockedTarget(ValueError):
    """A target the policy refuses; the message names the host and why."""


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def valid_host(host: str) -> bool:
    """A syntactically valid DNS name or IP address (what URLs and check hosts may name)."""
    return _address(host) is not None or bool(_HOST_RE.fullmatch(host))


def parse_entries(entries: Iterable[str]) -> tuple[str, ...]:
    """Validate list entries (CIDR, address or host name, optionally ``!``-prefixed); ValueError names the bad one."""
    out = []
    for entry in entries:
        text = entry.strip()
        body = text[1:].strip() if text.startswith("!") else text
        if not body or (_network(body) is None and not _HOST_RE.fullmatch(body)):
            raise ValueError(f"{entry!r} is not a CIDR, an IP address or a host name")
        out.append(text)
    return tuple(out)


@dataclass(frozen=True)
class NetPolicy:
    """The parsed allow/deny list; ``check_address``/``check_name``/``resolve`` raise BlockedTarget."""

    allow_nets: tuple[IPNetwork, ...] = ()
    allow_names: frozenset[str] = frozenset()
    deny_nets: tuple[IPNetwork, ...] = ()
    deny_names: frozenset[str] = frozenset()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> NetPolicy:
        allow_nets, allow_names, deny_nets, deny_names = [], set(), [], set()
        for entry in parse_entries(entries):
            deny = entry.startswith("!")
            body = entry[1:].strip() if deny else entry
            net = _network(body)
            if net is not None:
                (deny_nets if deny else allow_nets).append(net)
            else:
                (deny_names if deny else allow_names).add(body.lower().rstrip("."))
        return cls(tuple(allow_nets), frozenset(allow_names), tuple(deny_nets), frozenset(deny_names))

    @property
    def restrictive(self) -> bool:
        """True when only listed targets are allowed."""
        return bool(self.allow_nets or self.allow_names)

    def check_name(self, host: str) -> None:
        """Judge a host by its name alone (no DNS): literal addresses fully, names by the name lists."""
        addr = _address(host)
        if addr is not None:
            self.check_address(addr, host)
            return
        name = host.lower().rstrip(".")
        if name in self.deny_names or (not self.restrictive and name in DEFAULT_DENY_NAMES):
            raise BlockedTarget(f"{host} is not an allowed target (HEALTH_CHECK_ALLOW)")

    def name_allowed_outright(self, host: str) -> bool:
        """A name listed as allowed: its addresses are not judged (an explicit trust)."""
        return host.lower().rstrip(".") in self.allow_names

    def check_address(self, addr: IPAddress, host: str | None = None) -> None:
        what = host if host is not None and host != str(addr) else str(addr)
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if any(addr in n for n in self.deny_nets if n.version == addr.version):
            raise BlockedTarget(f"{what} ({addr}) is denied by HEALTH_CHECK_ALLOW")
        if self.restrictive:
            if not any(addr in n for n in self.allow_nets if n.version == addr.version):
                raise BlockedTarget(f"{what} ({addr}) is not in HEALTH_CHECK_ALLOW")
        elif any(addr in n for n in DEFAULT_DENY_NETS if n.version == addr.version):
            raise BlockedTarget(f"{what} ({addr}) is a link-local, metadata or unspecified address, refused by "
                                f"default; list it in HEALTH_CHECK_ALLOW to allow it")

    async def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[str]:
        """The addresses ``host`` resolves to, each judged (BlockedTarget if any is refused), for a
        caller that connects to one of them itself."""
        self.check_name(host)
        addr = _address(host)
        if addr is not None:
            return [str(addr)]
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.name_allowed_outright(host):
            for a in addresses:
                self.check_address(ipaddress.ip_address(a), host)
        return addresses


class PolicyResolver:
    """An aiohttp resolver (duck-typed ``AbstractResolver``) that refuses what the policy refuses, so
    every connection an HTTP client makes, redirects included, is judged at connect time."""

    def __init__(self, policy: NetPolicy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        addresses = await self.policy.resolve(host, port, family)
        return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST} for a in addresses]

    async def close(self) -> None:
        """Nothing to release (aiohttp's interface)."""
