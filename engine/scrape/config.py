"""The ``scrape_configs`` section, in Prometheus's format, read and validated once at start-up.

Every error names its place in the config (``scrape_configs[0].relabel_configs[1].modulus``) and,
where Prometheus 2.42's ``promtool check config`` has a wording for the problem, uses it, so a
config that fails here fails there too. Unknown keys are refused as Prometheus's strict YAML does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from engine.compat.durations import DurationError
from engine.compat.durations import parse_duration as prometheus_duration
from engine.compat.regex import RegexError, Regexp, compile_anchored

DEFAULT_SCRAPE_INTERVAL = 60.0
DEFAULT_SCRAPE_TIMEOUT = 10.0
DEFAULT_FILE_SD_REFRESH = 300.0
DEFAULT_BODY_SIZE_LIMIT = 64 << 20
"""Prometheus has no default limit; ours keeps one target from taking the server's memory."""
MAX_BODY_SIZE_LIMIT = 1 << 30
ACTIONS = ("replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
           "lowercase", "uppercase", "keepequal", "dropequal")
"""Prometheus 2.42's relabel actions (the issue's seven, and the four 2.42 added)."""
SCHEMES = ("http", "https")

LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*", re.ASCII)
_RELABEL_TARGET_RE = re.compile(r"(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+", re.ASCII)
_HOST_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::[0-9]{1,5})?", re.ASCII)


class ConfigError(ValueError):
    """A wrong scrape config: ``path`` names the field, the message says what is wrong with it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class RelabelConfig:
    """One relabelling step, defaults as Prometheus's (``replace``, ``;``, ``(.*)``, ``$1``)."""

    action: str = "replace"
    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    regex_text: str = "(.*)"
    modulus: int = 0
    target_label: str = ""
    replacement: str = "$1"
    regex: Regexp = field(default=None, compare=False, repr=False)  # type: ignore[assignment]


@dataclass(frozen=True)
class TargetGroup:
    """A list of addresses sharing labels: a ``static_configs`` entry or one group of an SD file."""

    targets: tuple[str, ...]
    labels: tuple[tuple[str, str], ...] = ()
    source: str = ""


@dataclass(frozen=True)
class FileSDConfig:
    files: tuple[str, ...]
    refresh_interval: float = DEFAULT_FILE_SD_REFRESH


@dataclass(frozen=True)
class ScrapeConfig:
    """One job. ``scrape_interval``/``scrape_timeout`` are None until resolved against the globals."""

    job_name: str
    scrape_interval: float | None = None
    scrape_timeout: float | None = None
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    honor_labels: bool = False
    honor_timestamps: bool = True
    static_configs: tuple[TargetGroup, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    relabel_configs: tuple[RelabelConfig, ...] = ()
    metric_relabel_configs: tuple[RelabelConfig, ...] = ()
    sample_limit: int = 0
    label_limit: int = 0
    body_size_limit: int = DEFAULT_BODY_SIZE_LIMIT
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)

    @property
    def interval(self) -> float:
        return self.scrape_interval or DEFAULT_SCRAPE_INTERVAL

    @property
    def timeout(self) -> float:
        return self.scrape_timeout or min(DEFAULT_SCRAPE_TIMEOUT, self.interval)

    def redacted(self) -> dict[str, Any]:
        """The job as JSON, secrets hidden (Prometheus shows ``<secret>``), for logs and status pages."""
        out: dict[str, Any] = {"job_name": self.job_name, "scrape_interval": self.scrape_interval,
                               "scrape_timeout": self.scrape_timeout, "metrics_path": self.metrics_path,
                               "scheme": self.scheme, "honor_labels": self.honor_labels,
                               "sample_limit": self.sample_limit, "label_limit": self.label_limit,
                               "static_configs": [{"targets": list(g.targets), "labels": dict(g.labels)}
                                                  for g in self.static_configs],
                               "file_sd_configs": [{"files": list(f.files)} for f in self.file_sd_configs]}
        if self.basic_auth is not None:
            out["basic_auth"] = {"username": self.basic_auth[0], "password": "<secret>"}
        if self.bearer_token is not None:
            out["bearer_token"] = "<secret>"
        return out


# -- reading ---------------------------------------------------------------------------------------


def parse_scrape_configs(value: Any) -> tuple[ScrapeConfig, ...]:
    """The ``scrape_configs`` list (a YAML/JSON string from the environment, or the parsed YAML)."""
    if isinstance(value, tuple) and all(isinstance(c, ScrapeConfig) for c in value):
        return value
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value) if value.strip() else []
        except yaml.YAMLError:
            raise ConfigError("scrape_configs", "not valid YAML") from None
    if value is None:
        return ()
    items = _list(value, "scrape_configs")
    configs = tuple(_scrape_config(item, f"scrape_configs[{i}]") for i, item in enumerate(items))
    seen: set[str] = set()
    for i, c in enumerate(configs):
        if c.job_name in seen:
            raise ConfigError(f"scrape_configs[{i}].job_name",
                              f"found multiple scrape configs with job name {c.job_name!r}")
        seen.add(c.job_name)
    return configs


def resolve(configs: tuple[ScrapeConfig, ...], interval: float, timeout: float) -> tuple[ScrapeConfig, ...]:
    """Fill each job's interval and timeout from the globals as Prometheus does: a job without a
    timeout takes the global one, or its own interval when that is shorter."""
    out = []
    for i, c in enumerate(configs):
        every = c.scrape_interval or interval
        limit = c.scrape_timeout or min(timeout, every)
        if limit > every:
            raise ConfigError(f"scrape_configs[{i}].scrape_timeout", "scrape timeout greater than scrape interval "
                              f"for scrape config with job name {c.job_name!r}")
        out.append(replace(c, scrape_interval=every, scrape_timeout=limit))
    return tuple(out)


_SCRAPE_KEYS = ("job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "params",
                "honor_labels", "honor_timestamps", "static_configs", "file_sd_configs", "relabel_configs",
                "metric_relabel_configs", "sample_limit", "label_limit", "body_size_limit", "basic_auth",
                "bearer_token")


def _scrape_config(raw: Any, path: str) -> ScrapeConfig:
    d = _mapping(raw, path, _SCRAPE_KEYS)
    job = d.get("job_name")
    if not isinstance(job, str) or not job:
        raise ConfigError(f"{path}.job_name", "job_name is empty" if job in (None, "") else f"{job!r} is not a string")
    interval = duration_field(d["scrape_interval"], f"{path}.scrape_interval") if "scrape_interval" in d else None
    timeout = duration_field(d["scrape_timeout"], f"{path}.scrape_timeout") if "scrape_timeout" in d else None
    if interval is not None and timeout is not None and timeout > interval:
        raise ConfigError(f"{path}.scrape_timeout",
                          f"scrape timeout greater than scrape interval for scrape config with job name {job!r}")
    metrics_path = d.get("metrics_path", "/metrics")
    if not isinstance(metrics_path, str) or not metrics_path.startswith("/"):
        raise ConfigError(f"{path}.metrics_path", f"{metrics_path!r} is not a path starting with /")
    scheme = d.get("scheme", "http")
    if scheme not in SCHEMES:
        raise ConfigError(f"{path}.scheme", f"{scheme!r} is not http or https")
    if "basic_auth" in d and "bearer_token" in d:
        raise ConfigError(f"{path}.bearer_token", "at most one of basic_auth, oauth2, bearer_token & "
                          "bearer_token_file must be configured")
    return ScrapeConfig(
        job_name=job,
        scrape_interval=interval,
        scrape_timeout=timeout,
        metrics_path=metrics_path,
        scheme=scheme,
        params=_params(d.get("params"), f"{path}.params"),
        honor_labels=_bool(d.get("honor_labels", False), f"{path}.honor_labels"),
        honor_timestamps=_bool(d.get("honor_timestamps", True), f"{path}.honor_timestamps"),
        static_configs=tuple(target_group(g, f"{path}.static_configs[{i}]")
                             for i, g in enumerate(_list(d.get("static_configs"), f"{path}.static_configs"))),
        file_sd_configs=tuple(_file_sd(f, f"{path}.file_sd_configs[{i}]")
                              for i, f in enumerate(_list(d.get("file_sd_configs"), f"{path}.file_sd_configs"))),
        relabel_configs=relabel_configs(d.get("relabel_configs"), f"{path}.relabel_configs"),
        metric_relabel_configs=relabel_configs(d.get("metric_relabel_configs"), f"{path}.metric_relabel_configs"),
        sample_limit=count_field(d.get("sample_limit", 0), f"{path}.sample_limit"),
        label_limit=count_field(d.get("label_limit", 0), f"{path}.label_limit"),
        body_size_limit=body_limit_field(d.get("body_size_limit"), f"{path}.body_size_limit"),
        basic_auth=_basic_auth(d["basic_auth"], f"{path}.basic_auth") if "basic_auth" in d else None,
        bearer_token=_string(d["bearer_token"], f"{path}.bearer_token") if "bearer_token" in d else None,
    )


def target_group(raw: Any, path: str, source: str = "") -> TargetGroup:
    """A ``{targets: [host:port, ...], labels: {...}}`` group (static_configs and SD files)."""
    d = _mapping(raw, path, ("targets", "labels"))
    targets = _list(d.get("targets"), f"{path}.targets")
    for i, t in enumerate(targets):
        if not isinstance(t, str) or not _HOST_RE.fullmatch(t):
            raise ConfigError(f"{path}.targets[{i}]", f"{t!r} is not a valid hostname")
    return TargetGroup(tuple(targets), labels_of(d.get("labels"), f"{path}.labels"), source)


def labels_of(raw: Any, path: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    d = _mapping(raw, path)
    for name, value in d.items():
        if not isinstance(name, str) or not LABEL_NAME_RE.fullmatch(name):
            raise ConfigError(f"{path}.{name}", f"{name!r} is not a valid label name")
        if not isinstance(value, str):
            raise ConfigError(f"{path}.{name}", f"{value!r} is not a string")
    return tuple(sorted(d.items()))


def relabel_configs(raw: Any, path: str) -> tuple[RelabelConfig, ...]:
    return tuple(relabel_config(r, f"{path}[{i}]") for i, r in enumerate(_list(raw, path)))


_RELABEL_KEYS = ("action", "source_labels", "separator", "regex", "modulus", "target_label", "replacement")


def relabel_config(raw: Any, path: str) -> RelabelConfig:
    """One relabel step, validated as Prometheus 2.42's ``RelabelConfig.UnmarshalYAML``."""
    d = _mapping(raw, path, _RELABEL_KEYS)
    action = d.get("action", "replace")
    if not isinstance(action, str) or action.lower() not in ACTIONS:
        raise ConfigError(f"{path}.action", f"unknown relabel action {action!r}")
    action = action.lower()
    sources = _list(d.get("source_labels"), f"{path}.source_labels")
    for i, s in enumerate(sources):
        if not isinstance(s, str) or not LABEL_NAME_RE.fullmatch(s):
            raise ConfigError(f"{path}.source_labels[{i}]", f"{s!r} is not a valid label name")
    separator = _string(d.get("separator", ";"), f"{path}.separator")
    regex_text = _string(d.get("regex", "(.*)"), f"{path}.regex")
    try:
        regex = compile_anchored(regex_text)
    except RegexError as exc:
        raise ConfigError(f"{path}.regex", str(exc)) from None
    modulus = count_field(d.get("modulus", 0), f"{path}.modulus")
    target = _string(d.get("target_label", ""), f"{path}.target_label")
    replacement = _string(d.get("replacement", "$1"), f"{path}.replacement")
    if action in ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal") and not target:
        raise ConfigError(f"{path}.target_label", f"relabel configuration for {action} action requires "
                          "'target_label' value")
    if action in ("replace", "lowercase", "uppercase") and not _RELABEL_TARGET_RE.fullmatch(target):
        raise ConfigError(f"{path}.target_label", f"{target!r} is invalid 'target_label' for {action} action")
    if action in ("hashmod", "keepequal", "dropequal") and not LABEL_NAME_RE.fullmatch(target):
        raise ConfigError(f"{path}.target_label", f"{target!r} is invalid 'target_label' for {action} action")
    if action in ("lowercase", "uppercase", "keepequal", "dropequal") and "replacement" in d \
            and replacement != "$1":
        raise ConfigError(f"{path}.replacement", f"'replacement' can not be set for {action} action")
    if action == "hashmod" and modulus == 0:
        raise ConfigError(f"{path}.modulus", "relabel configuration for hashmod requires non-zero modulus")
    if action == "labelmap" and not _RELABEL_TARGET_RE.fullmatch(replacement):
        raise ConfigError(f"{path}.replacement", f"{replacement!r} is invalid 'replacement' for labelmap action")
    if action in ("labeldrop", "labelkeep"):
        extra = [k for k in ("source_labels", "target_label", "modulus", "separator", "replacement") if k in d
                 and d[k] != RelabelConfig.__dataclass_fields__[k].default and d[k] != []]
        if extra:
            raise ConfigError(f"{path}.{extra[0]}", f"{action} action requires only 'regex', and no other fields")
    return RelabelConfig(action, tuple(sources), separator, regex_text, modulus, target, replacement, regex)


def _file_sd(raw: Any, path: str) -> FileSDConfig:
    d = _mapping(raw, path, ("files", "refresh_interval"))
    files = _list(d.get("files"), f"{path}.files")
    if not files:
        raise ConfigError(f"{path}.files", "file service discovery config must contain at least one path name")
    for i, f in enumerate(files):
        if not isinstance(f, str) or not f:
            raise ConfigError(f"{path}.files[{i}]", f"{f!r} is not a file path")
        if not f.endswith((".json", ".yml", ".yaml")) or "*" in f.rsplit("/", 1)[0]:
            raise ConfigError(f"{path}.files[{i}]", f"path name {f!r} is not valid for file discovery")
    refresh = duration_field(d.get("refresh_interval", "5m"), f"{path}.refresh_interval")
    return FileSDConfig(tuple(files), refresh)


# -- scalar helpers --------------------------------------------------------------------------------


def _mapping(raw: Any, path: str, keys: tuple[str, ...] | None = None) -> dict[Any, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(path, f"expected a mapping, got {type(raw).__name__}")
    if keys is not None:
        for k in raw:
            if k not in keys:
                raise ConfigError(f"{path}.{k}", f"field {k} not found (known: {', '.join(keys)})")
    return raw


def _list(raw: Any, path: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(path, f"expected a list, got {type(raw).__name__}")
    return raw


def _string(raw: Any, path: str) -> str:
    if not isinstance(raw, str):
        raise ConfigError(path, f"{raw!r} is not a string")
    return raw


def _bool(raw: Any, path: str) -> bool:
    if not isinstance(raw, bool):
        raise ConfigError(path, f"{raw!r} is not true or false")
    return raw


def count_field(raw: Any, path: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ConfigError(path, f"{raw!r} is not a non-negative integer")
    return raw


def duration_field(raw: Any, path: str) -> float:
    """Prometheus durations only (``15s``, ``1m``), as in its config; zero is refused."""
    if not isinstance(raw, str):
        raise ConfigError(path, f"{raw!r} is not a duration such as 15s or 1m")
    try:
        ms = prometheus_duration(raw)
    except DurationError as exc:
        raise ConfigError(path, f"{raw!r}: {exc}") from None
    if ms <= 0:
        raise ConfigError(path, "must be greater than zero")
    return ms / 1000


def body_limit_field(raw: Any, path: str) -> int:
    """Bytes, or a size such as ``10MB`` (Prometheus's units: B, KB, MB, GB, powers of 1024)."""
    if raw is None:
        return DEFAULT_BODY_SIZE_LIMIT
    if isinstance(raw, int) and not isinstance(raw, bool):
        size = raw
    elif isinstance(raw, str) and (m := re.fullmatch(r"([0-9]+)(B|KB|MB|GB)?", raw.strip(), re.ASCII)):
        size = int(m[1]) * {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, None: 1}[m[2]]
    else:
        raise ConfigError(path, f"{raw!r} is not a size such as 10MB")
    if not 0 < size <= MAX_BODY_SIZE_LIMIT:
        raise ConfigError(path, f"must be between 1 and {MAX_BODY_SIZE_LIMIT} bytes")
    return size


def _basic_auth(raw: Any, path: str) -> tuple[str, str]:
    d = _mapping(raw, path, ("username", "password"))
    return _string(d.get("username", ""), f"{path}.username"), _string(d.get("password", ""), f"{path}.password")


def _params(raw: Any, path: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if raw is None:
        return ()
    d = _mapping(raw, path)
    out = []
    for name, values in d.items():
        vs = _list(values, f"{path}.{name}")
        out.append((str(name), tuple(_string(v, f"{path}.{name}") for v in vs)))
    return tuple(out)
