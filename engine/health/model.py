"""Health-check definitions: one validating parser for the YAML config, HEALTH_CHECKS_FILE and the API.

The API's field names are camelCase (``dependsOn``, ``expectedStatus``); the YAML sources take the
same names (snake_case is accepted there too). A wrong field raises CheckError naming it.
"""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from engine.compat.durations import DurationError, format_duration, parse_duration
from engine.netpolicy import valid_host

TYPES = ("http", "https", "tcp", "redis", "postgres", "mongodb", "dns", "command")
SOURCES = ("config", "file", "api")
STATES = ("up", "degraded", "down", "unknown")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
URL_SCHEMES = {"http": ("http", "https"), "https": ("https",), "redis": ("redis", "rediss"),
               "postgres": ("postgres", "postgresql"), "mongodb": ("mongodb", "mongodb+srv")}
RESERVED_LABELS = frozenset({"service", "type", "state", "job", "instance"})
SECRET = "***"

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 5.0
MIN_INTERVAL = 1.0
MAX_INTERVAL = 86400.0
MAX_TIMEOUT = 300.0
MAX_RETRIES = 100
MAX_TEXT = 65536
MAX_HEADERS = 50
MAX_LABELS = 30
MAX_DEPENDS = 50

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", re.ASCII)
_LABEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_HEADER_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}", re.ASCII)
_STATUS_CLASS_RE = re.compile(r"([1-5])xx", re.ASCII)
_JSON_PATH_RE = re.compile(r"\$?(?:\.?[A-Za-z_][A-Za-z0-9_-]*|\[\d{1,6}\])+", re.ASCII)
_SNAKE = {"depends_on": "dependsOn", "expected_status": "expectedStatus", "body_contains": "bodyContains",
          "json_path": "jsonPath", "json_value": "jsonValue", "degraded_latency": "degradedLatency",
          "follow_redirects": "followRedirects", "tls_verify": "tlsVerify", "expected_address": "expectedAddress"}

COMMON = ("name", "type", "interval", "timeout", "retries", "labels", "dependsOn")
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "http": ("url", "method", "headers", "body", "expectedStatus", "bodyContains", "jsonPath", "jsonValue",
             "degradedLatency", "followRedirects", "tlsVerify"),
    "tcp": ("host", "port", "send", "expect", "degradedLatency"),
    "redis": ("url", "degradedLatency"),
    "postgres": ("url", "degradedLatency"),
    "mongodb": ("url", "degradedLatency"),
    "dns": ("host", "expectedAddress", "degradedLatency"),
    "command": ("command", "degradedLatency"),
}
TYPE_FIELDS["https"] = TYPE_FIELDS["http"]


class CheckError(ValueError):
    """A wrong check definition; ``field`` names the field (camelCase), the message starts with it."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name


@dataclass(frozen=True)
class CheckSpec:
    """One validated check. ``params`` holds the type's own fields, normalised (secrets included:
    ``public`` is what may be shown)."""

    name: str
    type: str
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    retries: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    source: str = "api"

    def record(self) -> dict[str, Any]:
        """The definition as accepted input (camelCase, secrets included): what is persisted."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "interval": format_duration(_ms(self.interval)),
                               "timeout": format_duration(_ms(self.timeout)), "retries": self.retries}
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.depends_on:
            out["dependsOn"] = list(self.depends_on)
        for key, value in self.params.items():
            if key == "expectedStatus":
                value = [f"{lo // 100}xx" if hi - lo == 99 and lo % 100 == 0 else lo for lo, hi in value]
            elif key == "degradedLatency":
                value = format_duration(_ms(value))
            elif key == "command":
                value = list(value)
            out[key] = value
        return out

    def public(self) -> dict[str, Any]:
        """``record`` with secrets hidden: header values and passwords in URLs are ``***``."""
        out = self.record()
        if "headers" in out:
            out["headers"] = {k: SECRET for k in out["headers"]}
        if "url" in out:
            out["url"] = redact_url(out["url"])
        return out

    def target(self) -> tuple[str, int | None] | None:
        """The host (and port) this check connects to, for the network policy; None for local checks."""
        if "url" in self.params:
            parts = urlsplit(self.params["url"])
            try:
                port = parts.port
            except ValueError:
                port = None
            return (parts.hostname or "", port)
        if self.type == "tcp":
            return (self.params["host"], self.params["port"])
        return None


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:{SECRET}@{host}"))


def keep_secrets(new: dict[str, Any], old: CheckSpec) -> dict[str, Any]:
    """A replacement definition in which ``***`` (as the API shows secrets) keeps the old secret, so a
    client can send back what it read."""
    out = dict(new)
    headers = out.get("headers")
    old_headers = old.params.get("headers", {})
    if isinstance(headers, dict):
        out["headers"] = {k: old_headers.get(k, v) if v == SECRET else v for k, v in headers.items()}
    url, old_url = out.get("url"), old.params.get("url")
    if isinstance(url, str) and isinstance(old_url, str) and SECRET in url:
        try:
            parts, before = urlsplit(url), urlsplit(old_url)
            if parts.password == SECRET and before.password is not None:
                host = parts.netloc.rsplit("@", 1)[1]
                out["url"] = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{before.password}@{host}"))
        except ValueError:
            pass
    return out


# -- parsing -----------------------------------------------------------------------------------------


def parse_check(raw: Any, source: str = "api", *, commands_allowed: bool = False) -> CheckSpec:
    """Validate one definition; CheckError names the first wrong field."""
    if not isinstance(raw, dict):
        raise CheckError("check", "must be an object")
    data = {_SNAKE.get(k, k) if isinstance(k, str) else k: v for k, v in raw.items()}
    if source != "api":
        data.pop("source", None)
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise CheckError("name", "required: 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit")
    kind = data.get("type")
    if kind is None and isinstance(data.get("url"), str):
        kind = urlsplit(data["url"]).scheme.lower() or None  # the seed's addService gives only a URL
        kind = "http" if kind == "https" else kind
    if kind not in TYPES:
        raise CheckError("type", f"{kind!r} is not one of {', '.join(TYPES)}" if kind is not None else
                         f"required: one of {', '.join(TYPES)}")
    if kind == "command" and (source == "api" or not commands_allowed):
        why = "never from the API" if source == "api" else "disabled (set HEALTH_COMMANDS_ENABLED to allow them)"
        raise CheckError("type", f"command checks are {why}")
    allowed = set(COMMON) | set(TYPE_FIELDS[kind])
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise CheckError(unknown[0], f"unknown field for a {kind} check")
    interval = _duration(data, "interval", DEFAULT_INTERVAL, MIN_INTERVAL, MAX_INTERVAL)
    timeout = _duration(data, "timeout", DEFAULT_TIMEOUT, 0.001, MAX_TIMEOUT)
    retries = data.get("retries", 1)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 1 <= retries <= MAX_RETRIES:
        raise CheckError("retries", f"must be an integer from 1 to {MAX_RETRIES}, got {retries!r}")
    labels = _labels(data.get("labels", {}))
    depends = _depends(data.get("dependsOn", []), name)
    params = _PARAMS[kind](data, kind)
    if "degradedLatency" in data:
        params["degradedLatency"] = _duration(data, "degradedLatency", 0.0, 0.001, MAX_TIMEOUT)
    return CheckSpec(name, kind, interval, timeout, retries, labels, depends, params, source)


def with_source(spec: CheckSpec, source: str) -> CheckSpec:
    return replace(spec, source=source)


def _duration(data: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    """Seconds from a Prometheus duration string ("30s", "1m30s", "500ms") or a number of milliseconds
    (the seed's ``addService({interval: 30000})``)."""
    if key not in data:
        return default
    value = data[key]
    hint = "a duration such as 30s, 5m, 500ms, or a number of milliseconds"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CheckError(key, f"{value!r} is not {hint}")
    if isinstance(value, str):
        try:
            seconds = parse_duration(value.strip()) / 1000
        except DurationError:
            raise CheckError(key, f"{value!r} is not {hint}") from None
    else:
        seconds = float(value) / 1000
    if not math.isfinite(seconds) or not low <= seconds <= high:
        unit = "" if isinstance(value, str) else " (a number is milliseconds)"
        raise CheckError(key, f"must be between {format_duration(_ms(low))} and {format_duration(_ms(high))}, "
                              f"got {value!r}{unit}")
    return seconds


def _string(data: dict[str, Any], key: str, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise CheckError(key, "required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise CheckError(key, "must be a non-empty string" if required else "must be a string")
    if len(value) > limit:
        raise CheckError(key, f"longer than {limit} characters")
    return value


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise CheckError("labels", f"must be an object of at most {MAX_LABELS} string values")
    for k, v in value.items():
        if not isinstance(k, str) or not _LABEL_RE.fullmatch(k) or k.startswith("__"):
            raise CheckError("labels", f"{k!r} is not a valid label name")
        if k in RESERVED_LABELS:
            raise CheckError("labels", f"{k!r} is set by the health checker")
        if not isinstance(v, str) or len(v) > 1024:
            raise CheckError("labels", f"{k}: the value must be a string of at most 1024 characters")
    return dict(value)


def _depends(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_DEPENDS:
        raise CheckError("dependsOn", f"must be a list of at most {MAX_DEPENDS} check names")
    for d in value:
        if not isinstance(d, str) or not _NAME_RE.fullmatch(d):
            raise CheckError("dependsOn", f"{d!r} is not a check name")
        if d == name:
            raise CheckError("dependsOn", "a check cannot depend on itself")
    return tuple(dict.fromkeys(value))


def _url(data: dict[str, Any], kind: str) -> str:
    url = _string(data, "url", required=True, limit=2048)
    assert url is not None
    try:
        parts: SplitResult = urlsplit(url.strip())
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        raise CheckError("url", f"{url!r} is not a URL: {exc}") from None
    schemes = URL_SCHEMES[kind]
    if parts.scheme.lower() not in schemes:
        raise CheckError("url", f"{redact_url(url)!r} is not a URL with scheme {' or '.join(schemes)}")
    host = parts.hostname or ""
    if kind != "mongodb" and not valid_host(host):
        raise CheckError("url", f"{redact_url(url)!r} has no valid host")
    if any(c in url for c in "\r\n\t "):
        raise CheckError("url", "must not contain whitespace")
    return url.strip()


def _bool(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise CheckError(key, f"must be true or false, got {value!r}")
    return value


def _expected_status(value: Any) -> list[tuple[int, int]]:
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > 50:
        raise CheckError("expectedStatus", "must be a status, a class such as 2xx, or a list of them")
    out = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            out.append((item, item))
            continue
        match = _STATUS_CLASS_RE.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            raise CheckError("expectedStatus", f"{item!r} is not a status code (100-599) or a class such as 2xx")
        lo = int(match[1]) * 100
        out.append((lo, lo + 99))
    return out


def _http(data: dict[str, Any], kind: str) -> dict[str, Any]:
    url = _url(data, kind)
    method = data.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise CheckError("method", f"{method!r} is not one of {', '.join(HTTP_METHODS)}")
    headers = data.get("headers", {})
    if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
        raise CheckError("headers", f"must be an object of at most {MAX_HEADERS} string values")
    for k, v in headers.items():
        if not isinstance(k, str) or not _HEADER_RE.fullmatch(k):
            raise CheckError("headers", f"{k!r} is not a header name")
        if not isinstance(v, str) or len(v) > 8192 or any(c in v for c in "\r\n\0"):
            raise CheckError("headers", f"{k}: the value must be one line of at most 8192 characters")
    params: dict[str, Any] = {"url": url, "method": method.upper()}
    if headers:
        params["headers"] = dict(headers)
    for key in ("body", "bodyContains"):
        text = _string(data, key)
        if text is not None:
            params[key] = text
    params["expectedStatus"] = _expected_status(data.get("expectedStatus", "2xx"))
    if "jsonPath" in data:
        path = _string(data, "jsonPath", required=True, limit=512)
        if not _JSON_PATH_RE.fullmatch(path or ""):
            raise CheckError("jsonPath", f"{path!r} is not a path such as $.status or data.items[0].state")
        if "jsonValue" not in data:
            raise CheckError("jsonValue", "required with jsonPath")
        params["jsonPath"] = path
        params["jsonValue"] = _json_value(data["jsonValue"])
    elif "jsonValue" in data:
        raise CheckError("jsonPath", "required with jsonValue")
    params["followRedirects"] = _bool(data, "followRedirects", True)
    params["tlsVerify"] = _bool(data, "tlsVerify", True)
    return params


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= 4096):
        return value
    raise CheckError("jsonValue", "must be a string, number, boolean or null")


def _port(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise CheckError("port", f"must be an integer from 1 to 65535, got {value!r}")
    return value


def _host(data: dict[str, Any]) -> str:
    host = _string(data, "host", required=True, limit=253)
    assert host is not None
    if not valid_host(host.strip()):
        raise CheckError("host", f"{host!r} is not a host name or IP address")
    return host.strip().strip("[]")


def _tcp(data: dict[str, Any], kind: str) -> dict[str, Any]:
    params: dict[str, Any] = {"host": _host(data), "port": _port(data.get("port"))}
    for key in ("send", "expect"):
        text = _string(data, key, limit=4096)
        if text is not None:
            params[key] = text
    return params


def _url_only(data: dict[str, Any], kind: str) -> dict[str, Any]:
    return {"url": _url(data, kind)}


def _dns(data: dict[str, Any], kind: str) -> dict[str, Any]:
    params: dict[str, Any] = {"host": _host(data)}
    expected = _string(data, "expectedAddress", limit=64)
    if expected is not None:
        try:
            params["expectedAddress"] = str(ipaddress.ip_address(expected.strip()))
        except ValueError:
            raise CheckError("expectedAddress", f"{expected!r} is not an IP address") from None
    return params


def _command(data: dict[str, Any], kind: str) -> dict[str, Any]:
    value = data.get("command")
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as exc:
            raise CheckError("command", str(exc)) from None
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise CheckError("command", "required: a command line or a list of arguments")
    return {"command": tuple(value)}


_PARAMS = {"http": _http, "https": _http, "tcp": _tcp, "redis": _url_only, "postgres": _url_only,
           "mongodb": _url_only, "dns": _dns, "command": _command}


def parse_check_list(value: Any, source: str, *, commands_allowed: bool) -> tuple[CheckSpec, ...]:
    """A list of definitions (``health_checks:``); CheckError names the item (``health_checks[2].url``)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CheckError("health_checks", "must be a list of checks")
    specs: list[CheckSpec] = []
    names: set[str] = set()
    for i, item in enumerate(value):
        label = item.get("name") if isinstance(item, dict) and isinstance(item.get("name"), str) else None
        where = f"[{i}]" + (f" ({label})" if label else "")
        try:
            spec = parse_check(item, source, commands_allowed=commands_allowed)
        except CheckError as exc:
            raise CheckError(f"{where}.{exc.field}", str(exc).split(": ", 1)[1]) from None
        if spec.name in names:
            raise CheckError(f"{where}.name", f"{spec.name!r} is defined twice")
        names.add(spec.name)
        specs.append(spec)
    return tuple(specs)
