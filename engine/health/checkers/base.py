"""What every checker returns, and what it is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine.netpolicy import NetPolicy
from engine.settings import redact_uris

MAX_BODY_BYTES = 256 * 1024
"""Most of a response body read by a check: enough for any health document, bounded for hostile ones."""
MAX_ERROR_CHARS = 500


class CheckFailed(Exception):
    """A checker's verdict of failure, with the text users see as ``lastError``."""


@dataclass
class Result:
    """One check run. ``ok`` False is a failure (``error`` says why); ``slow`` marks an answer past
    ``degradedLatency``. The optional figures feed blackbox_exporter's metrics."""

    ok: bool
    duration: float
    error: str | None = None
    slow: bool = False
    status_code: int | None = None
    cert_expiry: float | None = None
    dns_lookup: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        if not self.ok:
            return "down"
        return "degraded" if self.slow else "up"


@dataclass(frozen=True)
class Context:
    """Shared means of the checkers. ``policy`` is None for trusted (config) checks."""

    policy: NetPolicy | None
    http: Any
    """The HTTP client pool (checkers.http.HttpClients)."""
    threads: Any
    """An executor for blocking drivers (pymongo)."""


def short_error(exc: BaseException) -> str:
    """An exception as one short line, never with a secret: the checkers' messages do not quote URLs'
    passwords or header values."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError":
        text = "timed out"
    text = redact_uris(" ".join(text.split()))
    return text[:MAX_ERROR_CHARS]


async def pinned_url(url: str, policy: NetPolicy | None, default_port: int, tls_schemes: tuple[str, ...]) -> str:
    """``url`` after the policy judged every address its host resolves to; for a plain-text scheme
    the host is replaced by the address judged, so the driver cannot resolve the name again to
    another address (DNS rebinding). A TLS URL keeps its name, which the certificate must match."""
    if policy is None:
        return url
    parts = urlsplit(url)
    addresses = await policy.resolve(parts.hostname or "", parts.port or default_port)
    if parts.scheme in tls_schemes or not addresses:
        return url
    address = addresses[0]
    host = f"[{address}]" if ":" in address else address
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}{host}{port}"))
