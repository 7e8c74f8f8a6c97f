"""Channels, the route tree and inhibition rules: parsed and validated from YAML or an API body.

Every problem raises ``NotifyConfigError`` naming the field (``channels[1].url``), so start-up says
which setting is wrong and the API answers 400 naming it. Secrets (a webhook's ``secret``, Slack's
``url``, email's ``password``) are kept on the channel but never shown: ``public()`` leaves them out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from engine.compat.durations import DurationError, parse_duration
from engine.compat.strconv import NOT_UTF8, is_valid_utf8

TYPES = ("webhook", "slack", "email", "alertmanager", "websocket")
SECRETS = {"webhook": ("secret",), "slack": ("url",), "email": ("password",)}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
_LABEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_TLS_MODES = ("starttls", "tls", "none")
MAX_TEXT = 4096
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 120.0

# Which fields each type takes, with their kind: url, text, bool, port, seconds, template, list
_FIELDS: dict[str, dict[str, str]] = {
    "webhook": {"url": "url", "secret": "text", "send_resolved": "bool", "timeout": "seconds"},
    "slack": {"url": "url", "channel": "text", "username": "text", "send_resolved": "bool", "timeout": "seconds",
              "title": "template", "text": "template"},
    "email": {"to": "text", "from": "text", "host": "text", "port": "port", "username": "text", "password": "text",
              "tls": "tls", "ca_file": "text", "send_resolved": "bool", "timeout": "seconds",
              "subject": "template", "text": "template", "html": "template"},
    "alertmanager": {"url": "url", "timeout": "seconds"},
    "websocket": {},
}
_REQUIRED = {"webhook": ("url",), "slack": ("url",), "email": ("to", "from", "host"), "alertmanager": ("url",)}
ENV_FIELDS = {
    "webhook": {"url": "webhook_url", "secret": "webhook_secret"},
    "slack": {"url": "slack_webhook_url"},
    "email": {"host": "email_smtp_host", "port": "email_smtp_port", "username": "email_username",
              "password": "email_password", "from": "email_from", "to": "email_to"},
}
"""Settings (the seed's environment names) that fill a channel's missing fields, by type."""
ROUTE_DEFAULTS = {"group_wait": 30.0, "group_interval": 300.0, "repeat_interval": 14400.0}


class NotifyConfigError(ValueError):
    """A wrong channel, route or inhibition rule; ``field`` is the path of the wrong part."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Channel:
    """One delivery target. ``source``: config, env (built from the seed's variables) or api."""

    name: str
    type: str
    settings: Mapping[str, Any]
    source: str = "config"

    def get(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)

    @property
    def timeout(self) -> float:
        return float(self.settings.get("timeout", DEFAULT_TIMEOUT))

    @property
    def send_resolved(self) -> bool:
        return bool(self.settings.get("send_resolved", True))

    def public(self) -> dict[str, Any]:
        """The channel without its secrets: which secrets are set is all a reader learns."""
        secret_names = SECRETS.get(self.type, ())
        shown = {k: v for k, v in self.settings.items() if k not in secret_names}
        return {"name": self.name, "type": self.type, "source": self.source, "settings": shown,
                "secrets": {k: k in self.settings for k in secret_names}}

    def secrets(self) -> list[str]:
        """The secret values, so a message naming one can have it masked before it is shown or logged."""
        return [str(self.settings[k]) for k in SECRETS.get(self.type, ()) if self.settings.get(k)]


def _duration(raw: Any, where: str, *, allow_zero: bool = True) -> float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        seconds = float(raw)
    elif isinstance(raw, str):
        try:
            seconds = parse_duration(raw.strip()) / 1000
        except DurationError as exc:
            raise NotifyConfigError(where, str(exc)) from None
    else:
        raise NotifyConfigError(where, f"{raw!r} is not a duration such as 30s or 5m")
    if not seconds == seconds or seconds < 0 or (seconds == 0 and not allow_zero) or seconds > 10 * 365 * 86400:
        raise NotifyConfigError(where, f"{raw!r} is out of range")
    return seconds


def _check_url(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or len(raw) > 2048:
        raise NotifyConfigError(where, "must be an http(s) URL of at most 2048 characters")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifyConfigError(where, f"{redact_url(raw)!r} is not an http:// or https:// URL with a host")
    return raw


def redact_url(url: str) -> str:
    """A URL fit to show: scheme and host only (a Slack webhook URL is itself the secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/…" if parts.netloc else "…"


def _value(kind: str, raw: Any, where: str) -> Any:
    if isinstance(raw, str) and not is_valid_utf8(raw):
        raise NotifyConfigError(where, NOT_UTF8)
    if kind == "url":
        return _check_url(raw, where)
    if kind in ("text", "template"):
        if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_TEXT:
            raise NotifyConfigError(where, f"must be a non-empty string of at most {MAX_TEXT} characters")
        if kind == "template":
            from engine.notify.templates import check_template
            problem = check_template(raw)
            if problem is not None:
                raise NotifyConfigError(where, problem)
        return raw
    if kind == "bool":
        if not isinstance(raw, bool):
            raise NotifyConfigError(where, "must be true or false")
        return raw
    if kind == "port":
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw < 65536:
            raise NotifyConfigError(where, "must be a port number between 1 and 65535")
        return raw
    if kind == "seconds":
        seconds = _duration(raw, where, allow_zero=False)
        if seconds > MAX_TIMEOUT:
            raise NotifyConfigError(where, f"must be at most {int(MAX_TIMEOUT)}s")
        return seconds
    if raw not in _TLS_MODES:  # tls
        raise NotifyConfigError(where, f"must be one of {', '.join(_TLS_MODES)}")
    return raw


def parse_channel(raw: Any, where: str = "", source: str = "config",
                  defaults: Mapping[str, Any] | None = None, *, env_later: bool = False) -> Channel:
    """A channel from ``{name, type, <settings>}`` (YAML or an API body). ``defaults`` fill fields the
    body leaves out (the seed's environment variables, or a channel's stored secrets on an update);
    ``env_later``: fields the environment can give are not required yet (``with_defaults`` checks)."""
    prefix = f"{where}." if where else ""
    if not isinstance(raw, dict):
        raise NotifyConfigError(where or "body", "must be an object with name, type and settings")
    name, kind = raw.get("name"), raw.get("type")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise NotifyConfigError(f"{prefix}name", "must be 1 to 64 letters, digits, '_', '.' or '-'")
    if kind not in TYPES:
        raise NotifyConfigError(f"{prefix}type", f"{kind!r} is not one of {', '.join(TYPES)}")
    allowed = _FIELDS[kind]
    body = raw.get("settings", {k: v for k, v in raw.items() if k not in ("name", "type")})
    if not isinstance(body, dict):
        raise NotifyConfigError(f"{prefix}settings", "must be an object")
    settings: dict[str, Any] = {}
    for key, value in body.items():
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            raise NotifyConfigError(f"{prefix}{key}", f"unknown field for a {kind} channel (known: {known})")
        if value is not None:
            settings[key] = _value(allowed[key], value, f"{prefix}{key}")
    for key, value in (defaults or {}).items():
        if key in allowed and key not in settings and value is not None:
            settings[key] = _value(allowed[key], value, f"{prefix}{key}")
    for key in _REQUIRED.get(kind, ()):
        if key not in settings and not (env_later and key in ENV_FIELDS.get(kind, {})):
            raise NotifyConfigError(f"{prefix}{key}", f"is required for a {kind} channel")
    if kind == "email" and "tls" not in settings:
        settings["tls"] = "tls" if settings.get("port") == 465 else "starttls"
    return Channel(name, kind, settings, source)


def env_defaults(kind: str, env: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a channel of ``kind`` takes from the seed's variables (``env``: settings by field name)."""
    return {key: env.get(setting) for key, setting in ENV_FIELDS.get(kind, {}).items() if env.get(setting)}


# -- routes and inhibition ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteConfig:
    """A route as written; timers and group_by are inherited from the parent when None."""

    receiver: str | None = None
    matchers: tuple[Any, ...] = ()
    group_by: tuple[str, ...] | None = None
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    continue_: bool = False
    routes: tuple[RouteConfig, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"receiver": self.receiver, "matchers": [str(m) for m in self.matchers],
                "groupBy": None if self.group_by is None else list(self.group_by),
                "groupWait": self.group_wait, "groupInterval": self.group_interval,
                "repeatInterval": self.repeat_interval, "continue": self.continue_,
                "routes": [r.to_json() for r in self.routes]}


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Any, ...]
    target: tuple[Any, ...]
    equal: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"sourceMatchers": [str(m) for m in self.source], "targetMatchers": [str(m) for m in self.target],
                "equal": list(self.equal)}


@dataclass(frozen=True)
class NotificationsConfig:
    """The ``notifications`` section: channels, the route tree, inhibition rules and delivery limits."""

    channels: tuple[Channel, ...] = ()
    route: RouteConfig = field(default_factory=RouteConfig)
    inhibit_rules: tuple[InhibitRule, ...] = ()
    external_url: str = ""


def _matchers(raw: Any, where: str) -> tuple[Any, ...]:
    from engine.alerts.silences import SilenceError, parse_matchers
    from engine.tsdb.matchers import Matcher
    if raw is None or raw == []:
        return ()
    if not isinstance(raw, list) or len(raw) > 64:
        raise NotifyConfigError(where, "must be a list of at most 64 matchers")
    try:
        parsed = parse_matchers(raw, match_all=True)
    except SilenceError as exc:
        raise NotifyConfigError(f"{where}{exc.field.removeprefix('matchers')}", exc.message) from None
    return tuple(Matcher.make(m.name, m.op, m.value) for m in parsed)


def _label_names(raw: Any, where: str, *, allow_all: bool) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise NotifyConfigError(where, "must be a list of label names")
    for i, n in enumerate(raw):
        if not (_LABEL_RE.fullmatch(n) or (allow_all and n == "...")):
            raise NotifyConfigError(f"{where}[{i}]", f"{n!r} is not a label name")
    if "..." in raw and len(raw) > 1:
        raise NotifyConfigError(where, "'...' (every label) must be alone")
    return tuple(raw)


_ROUTE_KEYS = {"receiver", "matchers", "group_by", "group_wait", "group_interval", "repeat_interval", "continue",
               "routes"}


def parse_route(raw: Any, where: str, depth: int = 0) -> RouteConfig:
    if not isinstance(raw, dict):
        raise NotifyConfigError(where, "must be a mapping")
    if depth > 16:
        raise NotifyConfigError(where, "routes nest deeper than 16 levels")
    for key in raw:
        if key not in _ROUTE_KEYS:
            raise NotifyConfigError(f"{where}.{key}", f"unknown field (known: {', '.join(sorted(_ROUTE_KEYS))})")
    receiver = raw.get("receiver")
    if receiver is not None and not isinstance(receiver, str):
        raise NotifyConfigError(f"{where}.receiver", "must be a channel name")
    timers = {k: None if raw.get(k) is None else _duration(raw[k], f"{where}.{k}", allow_zero=k == "group_wait")
              for k in ("group_wait", "group_interval", "repeat_interval")}
    cont = raw.get("continue", False)
    if not isinstance(cont, bool):
        raise NotifyConfigError(f"{where}.continue", "must be true or false")
    children = raw.get("routes") or []
    if not isinstance(children, list) or len(children) > 256:
        raise NotifyConfigError(f"{where}.routes", "must be a list of at most 256 routes")
    group_by = raw.get("group_by")
    return RouteConfig(
        receiver=receiver, matchers=_matchers(raw.get("matchers"), f"{where}.matchers"),
        group_by=None if group_by is None else _label_names(group_by, f"{where}.group_by", allow_all=True),
        continue_=cont, routes=tuple(parse_route(c, f"{where}.routes[{i}]", depth + 1) for i, c in enumerate(children)),
        **timers)


def _inhibit(raw: Any, where: str) -> InhibitRule:
    if not isinstance(raw, dict):
        raise NotifyConfigError(where, "must be a mapping with source_matchers, target_matchers and equal")
    for key in raw:
        if key not in ("source_matchers", "target_matchers", "equal", "name"):
            raise NotifyConfigError(f"{where}.{key}", "unknown field (known: source_matchers, target_matchers, equal)")
    source = _matchers(raw.get("source_matchers"), f"{where}.source_matchers")
    target = _matchers(raw.get("target_matchers"), f"{where}.target_matchers")
    if not source or not target:
        raise NotifyConfigError(where, "source_matchers and target_matchers must both be given")
    return InhibitRule(source, target, _label_names(raw.get("equal", []), f"{where}.equal", allow_all=False))


def parse_notifications(raw: Any) -> NotificationsConfig:
    """The YAML ``notifications`` section (None: nothing configured). Receivers are checked by the
    notifier, which also knows the channels built from the environment and the API."""
    if raw is None or isinstance(raw, NotificationsConfig):
        return raw or NotificationsConfig()
    if not isinstance(raw, dict):
        raise NotifyConfigError("notifications", "must be a mapping with channels, route and inhibit_rules")
    for key in raw:
        if key not in ("channels", "route", "inhibit_rules", "external_url"):
            raise NotifyConfigError(f"notifications.{key}",
                                    "unknown field (known: channels, route, inhibit_rules, external_url)")
    items = raw.get("channels") or []
    if not isinstance(items, list) or len(items) > 256:
        raise NotifyConfigError("notifications.channels", "must be a list of at most 256 channels")
    channels = [parse_channel(c, f"notifications.channels[{i}]", env_later=True) for i, c in enumerate(items)]
    seen: set[str] = set()
    for i, c in enumerate(channels):
        if c.name in seen:
            raise NotifyConfigError(f"notifications.channels[{i}].name", f"{c.name!r} is defined twice")
        seen.add(c.name)
    rules = raw.get("inhibit_rules") or []
    if not isinstance(rules, list) or len(rules) > 256:
        raise NotifyConfigError("notifications.inhibit_rules", "must be a list of at most 256 rules")
    external = raw.get("external_url", "")
    if external:
        _check_url(external, "notifications.external_url")
    route = parse_route(raw.get("route") or {}, "notifications.route")
    return NotificationsConfig(tuple(channels), route,
                               tuple(_inhibit(r, f"notifications.inhibit_rules[{i}]") for i, r in enumerate(rules)),
                               external.rstrip("/") if external else "")


def with_defaults(channel: Channel, env: Mapping[str, Any]) -> Channel:
    """A configured channel with the fields it leaves out taken from the seed's variables, then checked
    for the fields it requires."""
    return parse_channel({"name": channel.name, "type": channel.type, "settings": dict(channel.settings)},
                         f"notifications.channels.{channel.name}", channel.source, env_defaults(channel.type, env))


def env_channels(env: Mapping[str, Any], taken: set[str]) -> list[Channel]:
    """Channels named after their type, built from the seed's variables (SLACK_WEBHOOK_URL...) when
    they are set and no configured channel already has that name."""
    out = []
    for kind, required in (("webhook", "webhook_url"), ("slack", "slack_webhook_url"), ("email", "email_smtp_host")):
        if env.get(required) and kind not in taken:
            out.append(parse_channel({"name": kind, "type": kind, "settings": {}}, kind.upper(), "env",
                                     env_defaults(kind, env)))
    return out


def merge_update(old: Channel, body: Any) -> Channel:
    """An API update: secrets the body leaves out keep their stored values (they are never shown)."""
    keep = {k: old.settings[k] for k in SECRETS.get(old.type, ()) if k in old.settings}
    if isinstance(body, dict) and body.get("type", old.type) != old.type:
        keep = {}
    new = parse_channel(body, "", "api", keep)
    return replace(new, source="api")
