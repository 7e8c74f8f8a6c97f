"""Rules created through the API, kept in DATA_DIR as an ordinary Prometheus rule file.

``rules/managed.json`` is the one source of truth: every rule with its id and our extensions
(``notificationChannels``, ``enabled``). ``rules/managed.rules.yaml`` is generated from it after each
change and checked on start, so a SIGKILL between the two atomic writes is repaired on the next start
instead of leaving the two files disagreeing. The YAML holds only what Prometheus accepts (disabled
rules left out), so it passes ``promtool check rules`` and runs unchanged on Prometheus.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from engine.promql import nodes
from engine.promql.errors import QueryError
from engine.promql.parse import parse as parse_promql
from engine.rules.loader import RuleLoadError, rule_problems
from engine.rules.model import ALERTING, Rule, RuleGroup, to_prometheus_yaml
from engine.settings import parse_duration

DEFAULT_GROUP = "managed"
CONDITIONS = (">", "<", ">=", "<=", "==", "!=")
_COMMON = {"name", "labels", "annotations", "notificationChannels", "enabled", "group"}
_SIMPLE = _COMMON | {"metricName", "condition", "threshold", "duration", "severity"}
_FULL = _COMMON | {"expr", "for", "keepFiringFor"}
_STORE_VERSION = 1


class RuleValidationError(ValueError):
    """A rule body the API must refuse with 400; ``field`` is the body's key at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RuleNotFoundError(LookupError):
    """No managed rule has this id (the rule may come from a read-only rule file)."""


class ManagedRules:
    """Create, update, delete and list the API's rules; every change is on disk before it returns."""

    def __init__(self, data_dir: Path | str) -> None:
        self.dir = Path(data_dir) / "rules"
        self.store_path = self.dir / "managed.json"
        self.path = self.dir / "managed.rules.yaml"
        self._lock = threading.Lock()
        self._rules: list[tuple[str, Rule]] = self._read()
        if not self.path.exists() or self.path.read_text(encoding="utf-8") != self._yaml():
            self._write_yaml()

    def list(self) -> list[Rule]:
        return [rule for _, rule in self._rules]

    def get(self, rule_id: str) -> Rule:
        return self._rules[self._index(rule_id)][1]

    def group_of(self, rule_id: str) -> str:
        return self._rules[self._index(rule_id)][0]

    def groups(self) -> list[RuleGroup]:
        """The rules as groups in file order, disabled ones included (the evaluator skips them)."""
        by_name: dict[str, list[Rule]] = {}
        for group, rule in self._rules:
            by_name.setdefault(group, []).append(rule)
        return [RuleGroup(name, rules, str(self.path)) for name, rules in by_name.items()]

    def create(self, body: Any) -> Rule:
        """A new rule from the simple or the full form; raises RuleValidationError."""
        with self._lock:
            group, rule = rule_from_body(body, str(uuid.uuid4()))
            self._check_unique(group, rule)
            self._save([*self._rules, (group, rule)])
            return rule

    def update(self, rule_id: str, body: Any) -> Rule:
        """Replace a rule's definition; its id stays, and so do ``enabled`` and ``group`` if not given."""
        with self._lock:
            i = self._index(rule_id)
            old_group, old = self._rules[i]
            group, rule = rule_from_body(body, rule_id, group=old_group, enabled=old.enabled)
            self._check_unique(group, rule, ignore=rule_id)
            self._save([*self._rules[:i], (group, rule), *self._rules[i + 1:]])
            return rule

    def delete(self, rule_id: str) -> None:
        with self._lock:
            i = self._index(rule_id)
            self._save([*self._rules[:i], *self._rules[i + 1:]])

    # -- storage -----------------------------------------------------------------------------------

    def _index(self, rule_id: str) -> int:
        for i, (_, rule) in enumerate(self._rules):
            if rule.id == rule_id:
                return i
        raise RuleNotFoundError(rule_id)

    def _check_unique(self, group: str, rule: Rule, ignore: str = "") -> None:
        """Same name and labels twice in one file is what promtool's lint reports as a duplicate rule."""
        for _, other in self._rules:
            if other.id != ignore and other.name == rule.name and other.labels == rule.labels:
                raise RuleValidationError("name", f'a rule named "{rule.name}" with the same labels exists '
                                                  f"(id {other.id})")

    def _read(self) -> list[tuple[str, Rule]]:
        try:
            text = self.store_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            doc = json.loads(text)
            return [(r.pop("group"), Rule(**r)) for r in doc["rules"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RuleLoadError([f"{self.store_path}: unreadable managed rules ({exc})"]) from None

    def _save(self, rules: list[tuple[str, Rule]]) -> None:
        doc = {"version": _STORE_VERSION,
               "rules": [{"group": group, **dataclasses.asdict(rule)} for group, rule in rules]}
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.store_path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        self._rules = rules
        self._write_yaml()

    def _yaml(self) -> str:
        return to_prometheus_yaml(self.groups())

    def _write_yaml(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.path, self._yaml())


def _write_atomic(path: Path, text: str) -> None:
    """Write a temporary file, fsync it, rename it over ``path`` and fsync the directory."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- request bodies ----------------------------------------------------------------------------------


def rule_from_body(body: Any, rule_id: str, *, group: str = DEFAULT_GROUP,
                   enabled: bool = True) -> tuple[str, Rule]:
    """(group, rule) from the seed's simple form or the full PromQL form; raises RuleValidationError.

    ``group`` and ``enabled`` are the values used when the body does not give them.
    """
    if not isinstance(body, dict):
        raise RuleValidationError("body", "must be a JSON object")
    simple = "metricName" in body
    if simple and "expr" in body:
        raise RuleValidationError("expr", "give either expr (full form) or metricName (simple form), not both")
    if not simple and "expr" not in body:
        raise RuleValidationError("expr", "required (or metricName, condition and threshold)")
    allowed = _SIMPLE if simple else _FULL
    for key in body.keys() - allowed:
        if key in _SIMPLE:
            raise RuleValidationError(key, "only allowed in the simple form (with metricName)")
        if key in _FULL:
            raise RuleValidationError(key, "only allowed in the full form (with expr)")
        raise RuleValidationError(key, "unknown field")

    name = _string(body, "name", required=True)
    labels = _string_map(body, "labels")
    if simple:
        expr = f"{_selector(body)} {_condition(body)} {_threshold(body)}"
        for_s, keep_s = _seconds(body, "duration"), 0.0
        severity = _string(body, "severity")
        if severity:
            if labels.get("severity", severity) != severity:
                raise RuleValidationError("severity", "differs from labels.severity")
            labels["severity"] = severity
    else:
        expr = _string(body, "expr", required=True)
        for_s, keep_s = _seconds(body, "for"), _seconds(body, "keepFiringFor")
    rule = Rule(
        kind=ALERTING, name=name, expr=expr, id=rule_id, for_s=for_s, keep_firing_for_s=keep_s, labels=labels,
        annotations=_string_map(body, "annotations"), notification_channels=_channels(body),
        enabled=_bool(body, "enabled", enabled),
    )
    for key, message in rule_problems(rule):
        raise RuleValidationError(_body_field(key, simple, body), message)
    return _string(body, "group") or group, rule


def _body_field(key: str, simple: bool, body: dict[str, Any]) -> str:
    """The body's name for a rule-file field that failed validation."""
    if key == "labels.severity" and "severity" in body:
        return "severity"
    head = key.partition(".")[0]
    renames = {"alert": "name", "expr": "metricName" if simple else "expr",
               "for": "duration" if simple else "for", "keep_firing_for": "keepFiringFor"}
    return renames.get(head, key)


def _string(body: dict[str, Any], key: str, required: bool = False) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise RuleValidationError(key, "required, a non-empty string" if required else "must be a string")
    return value


def _string_map(body: dict[str, Any], key: str) -> dict[str, str]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RuleValidationError(key, "must be an object of strings")
    for k, v in value.items():
        if not isinstance(v, str):
            raise RuleValidationError(f"{key}.{k}", "must be a string")
    return dict(value)


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise RuleValidationError(key, "must be true or false")
    return value


def _channels(body: dict[str, Any]) -> list[dict[str, Any]]:
    value = body.get("notificationChannels")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise RuleValidationError("notificationChannels", "must be a list of objects")
    return value


def _seconds(body: dict[str, Any], key: str) -> float:
    """A Prometheus duration ("5m") or seconds (300, "300"), kept to the millisecond a rule file holds."""
    value = body.get(key)
    if value is None:
        return 0.0
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        seconds = parse_duration(value) if isinstance(value, str) else float(value)
    except ValueError:
        raise RuleValidationError(key, f"{value!r} is not a duration such as 5m, 90s or 300") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise RuleValidationError(key, "must be zero or more")
    return round(seconds, 3)


def _selector(body: dict[str, Any]) -> str:
    text = _string(body, "metricName", required=True)
    try:
        node = parse_promql(text)
    except QueryError:
        node = None
    if not isinstance(node, nodes.VectorSelector):
        raise RuleValidationError("metricName", 'must be a metric name or a selector such as '
                                                'http_requests_total{status=~"5.."}')
    return text.strip()


def _condition(body: dict[str, Any]) -> str:
    value = body.get("condition")
    if value not in CONDITIONS:
        raise RuleValidationError("condition", f"must be one of {' '.join(CONDITIONS)}")
    return value


def _threshold(body: dict[str, Any]) -> str:
    """The threshold as PromQL number text: 80 rather than 80.0, full precision otherwise."""
    value = body.get("threshold")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RuleValidationError("threshold", "must be a number")
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
