"""Targets added through the API (``POST /api/targets``), kept in ``DATA_DIR/scrape/targets.json``.

An entry is a small JSON object that becomes one job of static targets:

    {"job": "booking", "url": "http://127.0.0.1:8001/metrics"}
    {"job": "booking", "targets": ["127.0.0.1:8001", "127.0.0.1:8002"], "scheme": "http",
     "metricsPath": "/metrics", "labels": {"service": "booking"}, "interval": "15s", "timeout": "10s",
     "honorLabels": false, "sampleLimit": 0, "labelLimit": 0,
     "basicAuth": {"username": "u", "password": "p"} | "bearerToken": "t"}

``url`` (scheme, host:port, path and query in one) or ``targets`` (host:port list sharing
``scheme`` and ``metricsPath``) is required. Every host must pass HEALTH_CHECK_ALLOW (engine/netpolicy.py).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from engine.datadir import write_atomic
from engine.netpolicy import BlockedTarget, NetPolicy
from engine.scrape.config import (
    ConfigError,
    ScrapeConfig,
    body_limit_field,
    count_field,
    duration_field,
    target_group,
)

log = logging.getLogger(__name__)

FILE = Path("scrape") / "targets.json"
MAX_ENTRIES = 1000
MAX_TARGETS_PER_ENTRY = 100
MAX_JOB_LENGTH = 200
_KEYS = ("job", "url", "targets", "scheme", "metricsPath", "labels", "interval", "timeout", "honorLabels",
         "sampleLimit", "labelLimit", "bodySizeLimit", "basicAuth", "bearerToken")


class EntryError(ValueError):
    """A refused entry: ``field`` names the body field."""

    def __init__(self, field: str, message: str, code: str = "invalid_target") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Entry:
    """One API entry: its id, the body it was made from (for storage and listing), and its job."""

    id: str
    body: dict[str, Any]
    config: ScrapeConfig

    def public(self) -> dict[str, Any]:
        """The entry as the API lists it, secrets hidden."""
        shown = dict(self.body)
        if "basicAuth" in shown:
            shown["basicAuth"] = {"username": shown["basicAuth"].get("username", ""), "password": "<secret>"}
        if "bearerToken" in shown:
            shown["bearerToken"] = "<secret>"
        return {"id": self.id, **shown}


def parse_entry(body: Any, entry_id: str, interval: float, timeout: float, policy: NetPolicy) -> Entry:
    """Validate a POST body into an Entry; ``interval``/``timeout`` are the global defaults. Raises EntryError."""
    if not isinstance(body, dict):
        raise EntryError("body", "must be a JSON object")
    for key in body:
        if key not in _KEYS:
            raise EntryError(key, f"unknown field (known: {', '.join(_KEYS)})")
    job = body.get("job")
    if not isinstance(job, str) or not job.strip() or len(job) > MAX_JOB_LENGTH:
        raise EntryError("job", f"a non-empty string of at most {MAX_JOB_LENGTH} characters is required")
    if ("url" in body) == ("targets" in body):
        raise EntryError("url", "give either url or targets")
    scheme = body.get("scheme", "http")
    path = body.get("metricsPath", "/metrics")
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if "url" in body:
        if "scheme" in body or "metricsPath" in body:
            raise EntryError("url", "url already holds the scheme and path: leave out scheme and metricsPath")
        scheme, hosts, path, params = _split_url(body["url"])
    else:
        hosts = body["targets"]
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
            raise EntryError("targets", "a non-empty list of host:port strings is required")
        if len(hosts) > MAX_TARGETS_PER_ENTRY:
            raise EntryError("targets", f"at most {MAX_TARGETS_PER_ENTRY} targets per entry")
    if scheme not in ("http", "https"):
        raise EntryError("scheme", f"{scheme!r} is not http or https")
    if not isinstance(path, str) or not path.startswith("/"):
        raise EntryError("metricsPath", "a path starting with / is required")
    try:
        group = target_group({"targets": hosts, "labels": body.get("labels")}, "group")
        every = duration_field(body["interval"], "interval") if "interval" in body else interval
        limit = duration_field(body["timeout"], "timeout") if "timeout" in body else min(timeout, every)
        sample_limit = count_field(body.get("sampleLimit", 0), "sampleLimit")
        label_limit = count_field(body.get("labelLimit", 0), "labelLimit")
        body_limit = body_limit_field(body.get("bodySizeLimit"), "bodySizeLimit")
    except ConfigError as exc:
        raise EntryError(exc.path.removeprefix("group."), exc.problem) from None
    if limit > every:
        raise EntryError("timeout", "must not be longer than the interval")
    honor = body.get("honorLabels", False)
    if not isinstance(honor, bool):
        raise EntryError("honorLabels", "must be true or false")
    basic_auth, bearer = _auth(body)
    for host in group.targets:
        try:
            policy.check_name(_host_of(host))
        except BlockedTarget as exc:
            raise EntryError("url" if "url" in body else "targets", str(exc), "target_not_allowed") from None
    config = ScrapeConfig(job_name=job, scrape_interval=every, scrape_timeout=limit, metrics_path=path,
                          scheme=scheme, params=params, honor_labels=honor, static_configs=(group,),
                          sample_limit=sample_limit, label_limit=label_limit, body_size_limit=body_limit,
                          basic_auth=basic_auth, bearer_token=bearer)
    return Entry(entry_id, dict(body), config)


def new_id() -> str:
    return secrets.token_hex(8)


def _split_url(url: Any) -> tuple[str, list[str], str, tuple[tuple[str, tuple[str, ...]], ...]]:
    if not isinstance(url, str) or len(url) > 2048:
        raise EntryError("url", "a URL string of at most 2048 characters is required")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as exc:
        raise EntryError("url", f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EntryError("url", "an http:// or https:// URL with a host is required")
    if parts.username or parts.password:
        raise EntryError("url", "credentials in the URL are not taken: use basicAuth")
    if parts.fragment:
        raise EntryError("url", "a URL fragment is not taken")
    params: dict[str, list[str]] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        params.setdefault(k, []).append(v)
    return parts.scheme, [parts.netloc], parts.path or "/metrics", tuple((k, tuple(v)) for k, v in params.items())


def _host_of(address: str) -> str:
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def _auth(body: dict[str, Any]) -> tuple[tuple[str, str] | None, str | None]:
    if "basicAuth" in body and "bearerToken" in body:
        raise EntryError("bearerToken", "give basicAuth or bearerToken, not both")
    basic = body.get("basicAuth")
    if basic is not None:
        if not isinstance(basic, dict) or set(basic) - {"username", "password"} or \
                not all(isinstance(v, str) for v in basic.values()):
            raise EntryError("basicAuth", "an object with string username and password is required")
        return (basic.get("username", ""), basic.get("password", "")), None
    token = body.get("bearerToken")
    if token is not None and (not isinstance(token, str) or not token):
        raise EntryError("bearerToken", "a non-empty string is required")
    return None, token


class EntryFile:
    """The API's entries on disk, rewritten atomically on every change."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / FILE

    def load(self, interval: float, timeout: float, policy: NetPolicy) -> list[Entry]:
        """The stored entries; one that no longer validates (a policy changed since) is logged and skipped."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.error("stored scrape targets unreadable, starting without them",
                      extra={"fields": {"path": str(self.path), "error": str(exc)}})
            return []
        entries = []
        for item in data.get("entries", []) if isinstance(data, dict) else []:
            try:
                entries.append(parse_entry(item.get("body"), str(item.get("id")), interval, timeout, policy))
            except (EntryError, AttributeError) as exc:
                log.warning("stored scrape target skipped",
                            extra={"fields": {"path": str(self.path), "error": str(exc)}})
        return entries

    def save(self, entries: list[Entry]) -> None:
        """Write every entry (secrets included: the file is private to the server's user)."""
        write_atomic(self.path, json.dumps({"entries": [{"id": e.id, "body": e.body} for e in entries]}, indent=1))
