"""Settings: defaults < YAML config file < .env < environment < command-line overrides.

Every value goes through one validation path (``Settings.__post_init__``), so a wrong value stops
start-up with a one-line ``SettingsError`` naming the setting, whichever source it came from.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from engine.compat.durations import MAX_MS, DurationError, DurationRangeError, format_duration
from engine.compat.durations import parse_duration as prometheus_duration

CONFIG_ENV = "METRICS_SERVICE_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_DURATION = 100 * 365 * 86400.0  # keeps timedelta/scheduler arithmetic far from overflow

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_DURATION_HINT = "seconds such as 5 or 0.5, or 30s, 5m, 1h30m, 2d, 500ms"
# scheme://user:password@ -- the password runs to the last "@" before a "/" or whitespace, so an
# unencoded "@" inside it is still hidden (over-redacting beats leaking).
_URI_PASSWORD_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^\s/]*@")
_ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SINGLE_QUOTED_RE = re.compile(r"'([^']*)'\s*(?:#.*)?")
_DOUBLE_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(?:#.*)?')


class SettingsError(ValueError):
    """A wrong setting; the message is one line naming it, fit to print as the start-up error."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


def parse_duration(text: str) -> float:
    """Seconds from plain seconds ("5", "0.5") or a Prometheus duration ("30s", "1h30m", "500ms").

    Plain numbers may be zero or negative; callers check their own range. NaN and infinities are
    rejected because no caller can schedule or compare with them; a duration past Prometheus's
    range raises DurationRangeError (a ValueError).
    """
    s = text.strip()
    if _NUMBER_RE.fullmatch(s):
        seconds = float(s)
        if not math.isfinite(seconds):
            raise ValueError(f"{text!r} is too large to be a number of seconds")
        return seconds
    try:
        return prometheus_duration(s) / 1000
    except DurationRangeError:
        raise DurationRangeError(f"{text!r} is longer than the longest duration, {format_duration(MAX_MS)}") from None
    except DurationError:
        raise ValueError(f"{text!r} is not a duration ({_DURATION_HINT})") from None


def redact_uris(text: str) -> str:
    """Replace the password of every ``scheme://user:password@`` in text by ``***``."""
    return _URI_PASSWORD_RE.sub(r"\1:***@", text)


# -- one parser per field: raw value (str from env/.env, any YAML scalar, typed override) -> value ---


def _port(value: Any) -> int:
    """0 is valid: the OS picks a free port (embedded mode, tests)."""
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and re.fullmatch(r"\d{1,5}", value.strip(), re.ASCII):
        port = int(value)
    else:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError(f"{value!r} is not an integer between 0 and 65535")
    return port


def _seconds(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number of seconds")
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_duration(value)
    else:
        raise ValueError(f"{value!r} is not a duration ({_DURATION_HINT})")
    if seconds <= 0:
        raise ValueError(f"must be greater than zero, got {value!r}")
    if seconds > MAX_DURATION:
        raise ValueError(f"must be at most 100y, got {value!r}")
    return seconds


def _positive_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\d+", value.strip(), re.ASCII):
        number = int(value)
    else:
        number = 0
    if number <= 0:
        raise ValueError(f"{value!r} is not a positive integer")
    return number


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _log_level(value: Any) -> str:
    level = value.strip().lower() if isinstance(value, str) else None
    level = "warning" if level == "warn" else level
    if level not in LOG_LEVELS:
        raise ValueError(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
    return level


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value.expanduser()
    return Path(_text(value)).expanduser()


def _uri(*schemes: str) -> Callable[[Any], str | None]:
    def parse(value: Any) -> str | None:
        if value is None or value == "":
            return None  # MONGODB_URI= in a .env or compose file means "not used"
        if not isinstance(value, str) or not value.startswith(schemes):
            shown = redact_uris(value) if isinstance(value, str) else value
            raise ValueError(f"{shown!r} does not start with {' or '.join(schemes)}")
        return value

    return parse


def _optional_text(value: Any) -> str | None:
    """An optional setting (the seed's notification variables): unset or empty means not used."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value)


def _notifications(value: Any) -> Any:
    """The ``notifications`` section (channels, route, inhibit_rules) of the YAML config (a YAML/JSON
    text when set in the environment)."""
    from engine.notify.config import NotifyConfigError, parse_notifications
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError("is not a YAML or JSON mapping") from None
    try:
        return parse_notifications(value)
    except NotifyConfigError as exc:
        raise ValueError(str(exc).removeprefix("notifications.")) from None


def _health_checks(value: Any) -> tuple[Any, ...]:
    """The ``health_checks`` section of the YAML config (a YAML/JSON text when set in the environment)."""
    from engine.health.model import CheckError, CheckSpec, parse_check_list
    if isinstance(value, tuple) and all(isinstance(v, CheckSpec) for v in value):
        return value
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError("is not a YAML or JSON list of checks") from None
    try:
        return parse_check_list(value, "config", commands_allowed=True)
    except CheckError as exc:
        raise ValueError(str(exc)) from None


def _optional_path(value: Any) -> Path | None:
    return None if value is None or value == "" else _path(value)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _optional_flag(value: Any) -> bool | None:
    """Unset or empty: decided elsewhere (AUTH_ENABLED follows HOST)."""
    return None if value is None or value == "" else _flag(value)


def _jwt_secret(value: Any) -> str | None:
    """HS256 is only as strong as its key: at least 32 bytes, as RFC 7518 section 3.2 asks."""
    secret = _optional_text(value)
    if secret is not None and len(secret.encode("utf-8", "surrogatepass")) < 32:
        raise ValueError("must be at least 32 bytes (e.g. the output of 'openssl rand -hex 32')")
    return secret


def _secrets_key(value: Any) -> str | None:
    """Stretched into the encryption key (engine/secretbox.py): as much entropy as the key it makes."""
    key = _optional_text(value)
    if key is not None and len(key.encode("utf-8", "surrogatepass")) < 32:
        raise ValueError("must be at least 32 bytes (e.g. the output of 'openssl rand -hex 32')")
    return key


def _remote_write(value: Any) -> tuple[Any, ...]:
    """The ``remote_write`` section (Prometheus's format; a YAML/JSON text when set in the environment)."""
    from engine.remotewrite.config import parse_remote_write
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError("is not a YAML or JSON list") from None
    return parse_remote_write(value)


def _interval_ms(value: Any) -> float:
    """A duration (``5s``), or a bare number of milliseconds as the seed writes it (``5000``); 0 is off."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) or (
            isinstance(value, str) and re.fullmatch(r"\d+", value.strip(), re.ASCII)):
        ms = float(value)
        if not 0 <= ms <= 3_600_000:
            raise ValueError(f"{value!r} is not between 0 and 3600000 milliseconds")
        return ms / 1000
    return _seconds(value)


def _scrape_configs(value: Any) -> tuple[Any, ...]:
    """The ``scrape_configs`` section (Prometheus's format; a YAML/JSON text when set in the environment)."""
    from engine.scrape.config import parse_scrape_configs
    return parse_scrape_configs(value)


def _net_policy(value: Any) -> tuple[str, ...]:
    from engine.netpolicy import parse_entries
    return parse_entries(_list(value))


OTLP_PROTOCOLS = ("http/protobuf",)


def _otlp_protocol(value: Any) -> str:
    """Only OTLP over HTTP with protobuf bodies: the gRPC exporter would bring grpcio for the same spans."""
    protocol = value.strip().lower() if isinstance(value, str) else value
    if protocol == "grpc":
        raise ValueError("grpc is not supported; use http/protobuf (an OTLP collector's port 4318)")
    if protocol not in OTLP_PROTOCOLS:
        raise ValueError(f"{value!r} is not supported; use http/protobuf")
    return protocol


def _list(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{value!r} is not a comma-separated string or a list of strings")
    return tuple(i.strip() for i in items if i.strip())


_RATE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*(s|m|h)(?:\s+burst\s+(\d+))?", re.ASCII | re.IGNORECASE)
_RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``per_second`` refill, at most ``burst`` requests at once. Written ``100/s``,
    ``600/m burst 50``, ``5/h``; the burst defaults to the count before the slash."""

    per_second: float
    burst: int
    text: str = ""

    def __str__(self) -> str:
        return self.text or f"{self.per_second:g}/s burst {self.burst}"


def _rate(value: Any) -> RateLimit | None:
    """A rate limit, or None for ``off``."""
    if isinstance(value, RateLimit) or value is None:
        return value
    text = value.strip() if isinstance(value, str) else ""
    if text.lower() in ("off", "none", "0"):
        return None
    match = _RATE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{value!r} is not a rate such as 100/s, 600/m burst 50, or off")
    count, unit, burst = float(match[1]), match[2].lower(), match[3]
    if count <= 0 or (burst is not None and int(burst) <= 0):
        raise ValueError(f"{value!r}: the rate and the burst must be greater than zero")
    return RateLimit(count / _RATE_UNITS[unit], int(burst) if burst else max(1, math.ceil(count)), text)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "port": _port,
    "host": _text,
    "service_name": _text,
    "data_dir": _path,
    "metrics_ttl": _seconds,
    "alerts_ttl": _seconds,
    "health_checks_ttl": _seconds,
    "health_checks": _health_checks,
    "health_checks_file": _optional_path,
    "health_check_allow": _net_policy,
    "health_check_concurrency": _positive_int,
    "health_commands_enabled": _flag,
    "log_level": _log_level,
    "collection_interval": _seconds,
    "flush_interval": _seconds,
    "head_retention": _seconds,
    "lookback_delta": _seconds,
    "evaluation_interval": _seconds,
    "query_max_samples": _positive_int,
    "query_timeout": _seconds,
    "query_max_concurrency": _positive_int,
    "query_max_length": _positive_int,
    "query_max_depth": _positive_int,
    "ws_max_messages_per_second": _positive_int,
    "max_series": _positive_int,
    "max_series_per_metric": _positive_int,
    "cors_origins": _list,
    "cors_credentials": _flag,
    "allowed_hosts": _list,
    "mongodb_uri": _uri("mongodb://", "mongodb+srv://"),
    "redis_url": _uri("redis://", "rediss://", "unix://"),
    "leader_lease": _seconds,
    "rules_files": _list,
    "servers": _list,
    "dashboards_dir": _optional_path,
    "otel_enabled": _flag,
    "otel_service_name": _optional_text,
    "otel_exporter_otlp_endpoint": _uri("http://", "https://"),
    "otel_exporter_otlp_protocol": _otlp_protocol,
    "jaeger_endpoint": _uri("http://", "https://"),
    "scrape_interval": _seconds,
    "scrape_timeout": _seconds,
    "scrape_configs": _scrape_configs,
    "remote_write": _remote_write,
    "remote_write_max_age": _seconds,
    "prometheus_enabled": _flag,
    "prometheus_port": _port,
    "websocket_enabled": _flag,
    "websocket_broadcast_interval": _interval_ms,
    "node_env": _text,
    "demo": _flag,
    "notifications": _notifications,
    "notify_max_age": _seconds,
    "slack_webhook_url": _optional_text,
    "email_smtp_host": _optional_text,
    "email_smtp_port": _optional_text,
    "email_username": _optional_text,
    "email_password": _optional_text,
    "email_from": _optional_text,
    "email_to": _optional_text,
    "webhook_url": _optional_text,
    "webhook_secret": _optional_text,
    "rate_limit": _rate,
    "rate_limit_ingest": _rate,
    "auth_failure_limit": _rate,
    "read_timeout": _seconds,
    "tls_cert_file": _optional_path,
    "tls_key_file": _optional_path,
    "tls_client_ca_file": _optional_path,
    "secrets_key": _secrets_key,
    "auth_enabled": _optional_flag,
    "jwt_secret": _jwt_secret,
    "jwt_public_key": _optional_text,
    "jwt_jwks_url": _uri("https://", "http://"),
    "jwt_issuer": _optional_text,
    "jwt_audience": _optional_text,
    "jwt_leeway": _seconds,
    "api_keys_file": _optional_path,
    "metrics_auth": _flag,
}
SECRET_FIELDS = frozenset({"slack_webhook_url", "email_password", "webhook_secret", "jwt_secret",
                           "secrets_key"})
"""Never shown: ``redacted()`` replaces them (a Slack webhook URL is itself the secret)."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Validated settings. Environment names are the field names in upper case (PORT, DATA_DIR, ...).

    Direct construction and ``dataclasses.replace`` are validated and normalised like ``load_settings``.
    """

    port: int = 3000
    host: str = "127.0.0.1"
    service_name: str = "metrics-service"
    data_dir: Path
    metrics_ttl: float = 2_592_000.0
    alerts_ttl: float = 7_776_000.0
    health_checks_ttl: float = 2_592_000.0
    health_checks: tuple[Any, ...] = ()
    health_checks_file: Path | None = None
    health_check_allow: tuple[str, ...] = ()
    health_check_concurrency: int = 200
    health_commands_enabled: bool = False
    log_level: str = "info"
    collection_interval: float = 5.0
    flush_interval: float = 10.0
    head_retention: float = 7200.0
    lookback_delta: float = 300.0
    evaluation_interval: float = 10.0
    query_max_samples: int = 50_000_000
    query_timeout: float = 120.0
    query_max_concurrency: int = 2
    query_max_length: int = 65_536
    query_max_depth: int = 200
    ws_max_messages_per_second: int = 50
    max_series: int = 500_000
    max_series_per_metric: int = 50_000
    cors_origins: tuple[str, ...] = ()
    cors_credentials: bool = False
    """Access-Control-Allow-Credentials for CORS_ORIGINS (cookies, client certificates, HTTP auth)."""
    allowed_hosts: tuple[str, ...] = ()
    mongodb_uri: str | None = None
    redis_url: str | None = None
    leader_lease: float = 15.0
    """With REDIS_URL: how long the leader's lease lasts in Redis without a renewal (the failover time)."""
    rules_files: tuple[str, ...] = ()
    servers: tuple[str, ...] = ()
    """The console's fleet: the servers it watches (several: the Fleet screen); not read by ``serve``."""
    dashboards_dir: Path | None = None
    """Grafana dashboard files served next to the shipped ones (``GET /api/dashboards``)."""
    otel_enabled: bool = False
    """OpenTelemetry traces (engine/tracing.py); off, the SDK is not even imported."""
    otel_service_name: str | None = None
    """``service.name`` of the spans; unset: SERVICE_NAME."""
    otel_exporter_otlp_endpoint: str | None = None
    """OTLP/HTTP base URL (``/v1/traces`` is appended); unset: JAEGER_ENDPOINT's, else http://localhost:4318."""
    otel_exporter_otlp_protocol: str = "http/protobuf"
    jaeger_endpoint: str | None = None
    """The seed's Jaeger collector URL, sent to on Jaeger's OTLP/HTTP port (4318)."""
    scrape_interval: float = 60.0
    """Prometheus's global ``scrape_interval``: for jobs that set none."""
    scrape_timeout: float = 10.0
    scrape_configs: tuple[Any, ...] = ()
    remote_write: tuple[Any, ...] = ()
    """Prometheus's ``remote_write`` section: every appended sample is sent there (engine/remotewrite/)."""
    remote_write_max_age: float = 7200.0
    """How long samples wait in the remote write queue on disk for a receiver that is down."""
    prometheus_enabled: bool = False
    """Serve /metrics on PROMETHEUS_PORT as well, for scrapers kept off the API port."""
    prometheus_port: int = 9090
    websocket_enabled: bool = True
    """Off: /ws and /socket.io/ answer 404."""
    websocket_broadcast_interval: float = 0.0
    """Seconds a stream client waits between updates of one topic (the newest wins); 0 sends each at once."""
    node_env: str = "development"
    """The environment's name; ``production`` turns on JSON logs and authentication off loopback."""
    demo: bool = False
    """Set when the demo starts this server: its data is the simulated platform's (shown on screen)."""
    notifications: Any = None
    notify_max_age: float = 86400.0
    slack_webhook_url: str | None = None
    email_smtp_host: str | None = None
    email_smtp_port: str | None = None
    email_username: str | None = None
    email_password: str | None = None
    email_from: str | None = None
    email_to: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    rate_limit: Any = "100/s burst 200"
    """Per client IP, or per token's subject when authenticated (``RateLimit``; None when off)."""
    rate_limit_ingest: Any = "1000/s burst 2000"
    """The same for the ingestion routes (push, Pushgateway, remote write)."""
    auth_failure_limit: Any = "10/m burst 10"
    """Failed authentications (401) one client IP may make before its requests get 429."""
    read_timeout: float = 30.0
    """How long a client may take to send a request's headers, and then its body."""
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    secrets_key: str | None = None
    """Key for channel secrets and check credentials at rest; unset: DATA_DIR/secrets.key."""
    auth_enabled: bool | None = None
    """None: on unless HOST is a loopback address (server/auth/authenticator.py decides)."""
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    """A PEM public key (RS256 or ES256), or the path of a file holding one."""
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway: float = 30.0
    """Clock skew allowed on exp/nbf/iat."""
    api_keys_file: Path | None = None
    metrics_auth: bool = False
    """/metrics, /livez and /readyz need a viewer too."""

    def __post_init__(self) -> None:
        for f in fields(self):
            try:
                value = _PARSERS[f.name](getattr(self, f.name))
            except ValueError as exc:
                raise SettingsError(f"{f.name.upper()}: {exc}", f.name.upper()) from None
            object.__setattr__(self, f.name, value)
        if not self.health_commands_enabled and any(c.type == "command" for c in self.health_checks):
            raise SettingsError("HEALTH_CHECKS: command checks are disabled (set HEALTH_COMMANDS_ENABLED to allow "
                                "them)", "HEALTH_CHECKS")
        from engine.scrape.config import resolve
        try:
            object.__setattr__(self, "scrape_configs", resolve(self.scrape_configs, self.scrape_interval,
                                                               self.scrape_timeout))
        except ValueError as exc:
            raise SettingsError(f"SCRAPE_CONFIGS: {exc}", "SCRAPE_CONFIGS") from None
        if self.leader_lease < 1:
            raise SettingsError("LEADER_LEASE: must be at least 1s", "LEADER_LEASE")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise SettingsError("TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither", "TLS_CERT_FILE")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise SettingsError("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE", "TLS_CLIENT_CA_FILE")

    def redacted(self) -> dict[str, object]:
        """All settings as JSON-safe values with URI passwords hidden, fit for logs and status pages."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value is not None:
                value = "***"
            elif f.name == "health_checks":
                value = [c.public() for c in value]
            elif f.name in ("scrape_configs", "remote_write"):
                value = [c.redacted() for c in value]
            elif f.name == "notifications":
                value = {"channels": [c.public() for c in value.channels]}
            elif isinstance(value, (Path, RateLimit)):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, str):
                value = redact_uris(value)
            out[f.name] = value
        return out


FIELD_NAMES = tuple(f.name for f in fields(Settings))


def load_settings(env: Mapping[str, str] | None = None, config_file: str | None = None,
                  overrides: Mapping[str, object] | None = None,
                  dotenv_path: str | None = ".env") -> Settings:
    """Settings from every source, highest precedence last: defaults, YAML file, .env, env, overrides.

    ``env`` defaults to ``os.environ``; ``config_file`` to ``$METRICS_SERVICE_CONFIG``; a missing .env
    is fine, a missing config file is not. ``overrides`` holds command-line flags by field name; None
    means "flag not given". Raises SettingsError.
    """
    environ = os.environ if env is None else env
    dotenv = _read_dotenv(dotenv_path) if dotenv_path else {}
    merged = {**dotenv, **environ}
    config_file = config_file or merged.get(CONFIG_ENV) or None

    raw: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if config_file:
        for name, value in _read_config(config_file).items():
            raw[name], origin[name] = value, f"in config file {config_file}"
    for source, where in ((dotenv, f"in {dotenv_path}"), (environ, "")):
        for name in FIELD_NAMES:
            if name.upper() in source:
                raw[name], origin[name] = source[name.upper()], where
    for name, value in (overrides or {}).items():
        if name not in FIELD_NAMES:
            raise SettingsError(f"unknown setting {name!r} in overrides", name)
        if value is not None:
            raw[name], origin[name] = value, f"from option --{name.replace('_', '-')}"
    raw.setdefault("data_dir", _default_data_dir(merged))

    try:
        return Settings(**raw)
    except SettingsError as exc:
        where = origin.get((exc.setting or "").lower())
        if where:
            raise SettingsError(f"{exc} ({where})", exc.setting) from None
        raise


def _default_data_dir(env: Mapping[str, str], name: str = "metrics-service") -> Path:
    xdg = env.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"  # XDG: ignore relative
    return base / name


def demo_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The demo's own data dir beside the default one, so demo data never mixes with real data."""
    return _default_data_dir(os.environ if env is None else env, "metrics-service-demo")


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{what} {path}: no such file") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{what} {path}: not UTF-8 text") from None
    except OSError as exc:
        raise SettingsError(f"{what} {path}: {exc.strerror or exc}") from None


def _read_config(path: str) -> dict[str, Any]:
    """The YAML config file as {field name: raw value}; keys may be lower or upper case."""
    text = _read_text(path, "config file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "unreadable"
        raise SettingsError(f"config file {path}: invalid YAML{at}: {problem}") from None
    if data is None:
        return {}  # an empty or all-comments file sets nothing
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise SettingsError(f"config file {path}: expected a mapping of settings, got a YAML {kind}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.lower() if isinstance(key, str) else None
        if name not in FIELD_NAMES:
            close = difflib.get_close_matches(str(key).lower(), FIELD_NAMES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise SettingsError(f"config file {path}: unknown setting {key!r}{hint}", str(key))
        if name in values:
            raise SettingsError(f"config file {path}: {name.upper()} is given twice", name.upper())
        values[name] = value
    return values


def _read_dotenv(path: str) -> dict[str, str]:
    """KEY=VALUE lines with # comments, optional quotes and ``export``; a missing file is no error.

    Malformed lines are reported by number only: echoing them could print a secret.
    """
    if not os.path.exists(path):
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(_read_text(path, "env file").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_KEY_RE.fullmatch(key):
            raise SettingsError(f"env file {path}, line {number}: expected KEY=VALUE")
        try:
            values[key] = _dotenv_value(value.strip())
        except ValueError as exc:
            raise SettingsError(f"env file {path}, line {number}: {key}: {exc}", key) from None
    return values


def _dotenv_value(value: str) -> str:
    if value.startswith("'"):
        match = _SINGLE_QUOTED_RE.fullmatch(value)
        if match is None:
            raise ValueError("unterminated or malformed quoted value")
        return match[1]
    if value.startswith('"'):
        match = _DOUBLE_QUOTED_RE.fullmatch(value)
        if match is None:
            raise ValueError("unterminated or malformed quoted value")
        return re.sub(r'\\([\\"nt])', lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), match[1])
    return re.split(r"\s#", value, maxsplit=1)[0].strip()  # "a#b" keeps its "#", "a #b" does not
