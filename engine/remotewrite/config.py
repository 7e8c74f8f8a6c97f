"""The ``remote_write`` section, in Prometheus 2.42's format and defaults (``config.RemoteWriteConfig``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from engine.scrape.config import (
    ConfigError,
    RelabelConfig,
    _basic_auth,
    _list,
    _mapping,
    _string,
    duration_field,
    relabel_configs,
)

_KEYS = ("url", "name", "remote_timeout", "headers", "basic_auth", "bearer_token", "authorization",
         "write_relabel_configs", "queue_config", "metadata_config", "send_exemplars", "send_native_histograms")
_QUEUE_KEYS = ("capacity", "max_shards", "min_shards", "max_samples_per_send", "batch_send_deadline",
               "min_backoff", "max_backoff", "retry_on_http_429", "sample_age_limit")
_RESERVED_HEADERS = frozenset({"authorization", "host", "content-encoding", "content-length", "content-type",
                               "user-agent", "connection", "keep-alive", "proxy-authenticate",
                               "proxy-authorization", "www-authenticate", "transfer-encoding",
                               "x-prometheus-remote-write-version"})
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class QueueConfig:
    """Prometheus's ``queue_config`` defaults (2.42 ``DefaultQueueConfig``)."""

    capacity: int = 2500
    max_shards: int = 200
    min_shards: int = 1
    max_samples_per_send: int = 500
    batch_send_deadline: float = 5.0
    min_backoff: float = 0.03
    max_backoff: float = 5.0
    retry_on_http_429: bool = True


@dataclass(frozen=True)
class RemoteWriteConfig:
    url: str
    name: str
    remote_timeout: float = 30.0
    headers: tuple[tuple[str, str], ...] = ()
    basic_auth: tuple[str, str] | None = None
    bearer_token: str | None = None
    write_relabel_configs: tuple[RelabelConfig, ...] = ()
    queue: QueueConfig = field(default_factory=QueueConfig)

    def auth_headers(self) -> dict[str, str]:
        """Headers sent with each request (credentials included: never logged)."""
        out = dict(self.headers)
        if self.bearer_token:
            out["Authorization"] = f"Bearer {self.bearer_token}"
        return out

    def redacted(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "basic_auth": self.basic_auth is not None,
                "bearer_token": self.bearer_token is not None, "headers": [k for k, _ in self.headers]}


def parse_remote_write(value: Any) -> tuple[RemoteWriteConfig, ...]:
    """Validate the section; ConfigError names the field (``remote_write[0].queue_config.max_shards``)."""
    if isinstance(value, tuple) and all(isinstance(v, RemoteWriteConfig) for v in value):
        return value
    configs = tuple(_remote(raw, f"remote_write[{i}]") for i, raw in enumerate(_list(value, "remote_write")))
    names = [c.name for c in configs]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"remote_write[{i}].name", f"found multiple remote write configs with name {name!r}")
    return configs


def _remote(raw: Any, path: str) -> RemoteWriteConfig:
    d = _mapping(raw, path, _KEYS)
    url = _string(d.get("url"), f"{path}.url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{path}.url", f"{url!r} is not an http(s) URL with a host")
    name = _string(d.get("name", _default_name(url)), f"{path}.name")
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(f"{path}.name", f"{name!r}: use 1 to 64 letters, digits, '_', '-' or '.'")
    auths = [k for k in ("basic_auth", "bearer_token", "authorization") if k in d]
    if len(auths) > 1:
        raise ConfigError(f"{path}.{auths[1]}", "at most one of basic_auth, oauth2, sigv4, authorization & "
                          "bearer_token must be configured")
    bearer = _string(d["bearer_token"], f"{path}.bearer_token") if "bearer_token" in d else None
    if "authorization" in d:
        a = _mapping(d["authorization"], f"{path}.authorization", ("type", "credentials"))
        kind = _string(a.get("type", "Bearer"), f"{path}.authorization.type")
        if kind.lower() != "bearer":
            raise ConfigError(f"{path}.authorization.type", f"{kind!r}: only Bearer is supported")
        bearer = _string(a.get("credentials", ""), f"{path}.authorization.credentials")
    headers = []
    for k, v in _mapping(d.get("headers") or {}, f"{path}.headers").items():
        key = _string(k, f"{path}.headers")
        if key.lower() in _RESERVED_HEADERS:
            raise ConfigError(f"{path}.headers.{key}", f"{key} is a reserved header. It must not be changed")
        headers.append((key, _string(v, f"{path}.headers.{key}")))
    return RemoteWriteConfig(
        url=url, name=name,
        remote_timeout=duration_field(d.get("remote_timeout", "30s"), f"{path}.remote_timeout"),
        headers=tuple(headers),
        basic_auth=_basic_auth(d["basic_auth"], f"{path}.basic_auth") if "basic_auth" in d else None,
        bearer_token=bearer,
        write_relabel_configs=relabel_configs(d.get("write_relabel_configs"), f"{path}.write_relabel_configs"),
        queue=_queue(d.get("queue_config") or {}, f"{path}.queue_config"),
    )


def _queue(raw: Any, path: str) -> QueueConfig:
    d = _mapping(raw, path, _QUEUE_KEYS)
    base = QueueConfig()
    counts = {k: _positive(d.get(k, getattr(base, k)), f"{path}.{k}")
              for k in ("capacity", "max_shards", "min_shards", "max_samples_per_send")}
    times = {k: duration_field(d[k], f"{path}.{k}") if k in d else getattr(base, k)
             for k in ("batch_send_deadline", "min_backoff", "max_backoff")}
    if counts["min_shards"] > counts["max_shards"]:
        raise ConfigError(f"{path}.min_shards", "min_shards is greater than max_shards")
    if times["min_backoff"] > times["max_backoff"]:
        raise ConfigError(f"{path}.min_backoff", "min_backoff is greater than max_backoff")
    retry = d.get("retry_on_http_429", True)
    if not isinstance(retry, bool):
        raise ConfigError(f"{path}.retry_on_http_429", f"{retry!r} is not true or false")
    return QueueConfig(**counts, **times, retry_on_http_429=retry)


def _positive(raw: Any, path: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ConfigError(path, f"{raw!r} is not a positive integer")
    return raw


def _default_name(url: str) -> str:
    """A name for the queue's directory and metrics when none is given: host and port."""
    parts = urlsplit(url)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{parts.hostname}_{parts.port or parts.scheme}")[:64]
