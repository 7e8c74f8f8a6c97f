"""Rules created through the API, kept in DATA_DIR as an ordinary Prometheus rule file.

``rules/managed.rules.yaml`` is the source of truth: each rule carries its id in a ``# id:`` comment
(which Prometheus ignores), so the file passes ``promtool check rules`` and runs unchanged on
Prometheus. ``rules/managed.json`` only extends it (``notificationChannels``, disabled rules): a
missing or unreadable side file means default extensions, never a rewrite from a partial view.

With several replicas (REDIS_URL) the rules live in Redis instead (engine/cluster/shared.py), one
document per rule, and neither file is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import yaml

from engine.cluster.shared import Docs, SharedDocs, SharedStateUnavailable
from engine.compat.durations import MAX_MS, DurationRangeError, format_duration, seconds_to_ms
from engine.compat.strconv import NOT_UTF8, invalid_utf8_path
from engine.datadir import move_aside, write_atomic
from engine.promql import nodes
from engine.promql.errors import QueryError
from engine.promql.parse import Parser, tools_parser
from engine.rulefiles.loader import RuleLoadError, parse_rule_file, rule_id, rule_problems
from engine.rulefiles.model import ALERTING, Rule, RuleGroup, to_prometheus_yaml
from engine.settings import parse_duration

DEFAULT_GROUP = "managed"
CONDITIONS = (">", "<", ">=", "<=", "==", "!=")
_COMMON = {"name", "labels", "annotations", "notificationChannels", "enabled", "group"}
_SIMPLE = _COMMON | {"metricName", "condition", "threshold", "duration", "severity"}
_FULL = _COMMON | {"expr", "for", "keepFiringFor"}
_STORE_VERSION = 1
MANAGED_FILE = "managed.rules.yaml"
_ID_COMMENT = re.compile(r"\s*# id: (\S+)\s*")
log = logging.getLogger(__name__)


class RuleValidationError(ValueError):
    """A rule body the API must refuse with 400; ``field`` is the body's key at fault, ``details``
    what else the API's error details carry (ids a person need not read in the message)."""

    def __init__(self, field: str, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.details = details or {}


class RuleNotFoundError(LookupError):
    """No managed rule has this id (the rule may come from a read-only rule file)."""


class ReadOnlyRuleError(ValueError):
    """The rule comes from a rule file, which the API does not edit; ``file`` is where to edit it."""

    def __init__(self, name: str, file: str, reason: str) -> None:
        super().__init__(f"rule {name!r} is read-only: {reason}")
        self.file = file


class ManagedRules:
    """Create, update, delete and list the API's rules; every change is on disk before it returns.
    Built without touching the disk; ``load`` reads it (once the data dir is the caller's)."""

    def __init__(self, data_dir: Path | str, *, repair: bool = False, parser: Parser | None = None,
                 shared: SharedDocs | None = None) -> None:
        """``repair``: a missing or invalid rule file is moved aside and rebuilt from the side file.
        ``parser``: the Engine's, whose limits rules are checked against. ``shared``: the rules in
        Redis, the source of truth in place of the files."""
        self.repair = repair
        self.shared = shared
        self._order: dict[str, int] = {}
        """A shared rule's place in the list (creation order, kept by updates)."""
        self.parser = parser or tools_parser()
        self.dir = Path(data_dir) / "rules"
        self.store_path = self.dir / "managed.json"
        self.path = self.dir / "managed.rules.yaml"
        self._lock = threading.Lock()
        self._rules: list[tuple[str, Rule]] = []

    def load(self) -> None:
        """Read the rules from disk (RuleLoadError when the rule file is missing or invalid), or from
        Redis; a replica whose Redis does not answer starts without them and reads them later."""
        if self.shared is None:
            self._rules = self._load()
            return
        try:
            self._refresh()
        except SharedStateUnavailable as exc:
            log.warning("API rules not read: Redis does not answer", extra={"fields": {"error": str(exc)}})

    def apply_shared(self, docs: Docs) -> None:
        """Take the rules another replica changed in Redis (the caller reloads the ruler)."""
        with self._lock:
            self._take(docs)

    def _refresh(self) -> None:
        """The shared rules as Redis has them now, before a change is checked against them."""
        if self.shared is not None:
            self._take(self.shared.load())

    def _take(self, docs: Docs) -> None:
        rules = []
        for rid, doc in docs.items():
            try:
                rule = Rule(**{**doc["rule"], "id": rid})
                rules.append((int(doc["order"]), rid, str(doc["group"]), rule))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("unreadable shared rule skipped", extra={"fields": {"id": rid, "error": str(exc)}})
        rules.sort(key=lambda r: r[:2])
        self._order = {rid: order for order, rid, _, _ in rules}
        self._rules = [(group, rule) for _, _, group, rule in rules]

    def list(self) -> list[Rule]:
        return [rule for _, rule in self._rules]

    def get(self, rule_id: str) -> Rule:
        return self._rules[self._index(rule_id)][1]

    def groups(self) -> list[RuleGroup]:
        """The rules as groups in file order, disabled ones included (the evaluator skips them)."""
        return _groups(self._rules, str(self.path))

    def create(self, body: Any) -> Rule:
        """A new rule from the simple or the full form; raises RuleValidationError."""
        with self._lock:
            self._refresh()
            group, rule = rule_from_body(body, str(uuid.uuid4()), parser=self.parser)
            self._check_unique(group, rule)
            self._save([*self._rules, (group, rule)], rule.id)
            return rule

    def update(self, rule_id: str, body: Any) -> Rule:
        """Replace a rule's definition; its id stays, and so do ``enabled`` and ``group`` if not given."""
        with self._lock:
            self._refresh()
            i = self._index(rule_id)
            old_group, old = self._rules[i]
            group, rule = rule_from_body(body, rule_id, group=old_group, enabled=old.enabled, parser=self.parser)
            self._check_unique(group, rule, ignore=rule_id)
            self._save([*self._rules[:i], (group, rule), *self._rules[i + 1:]], rule_id)
            return rule

    def delete(self, rule_id: str) -> None:
        with self._lock:
            self._refresh()
            i = self._index(rule_id)
            self._save([*self._rules[:i], *self._rules[i + 1:]], rule_id)

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
                raise RuleValidationError("name", f'a rule named "{rule.name}" with the same labels exists',
                                          {"existingRuleId": other.id})

    def _load(self) -> list[tuple[str, Rule]]:
        side = self._read_side()
        try:
            text = self.path.read_text(encoding="utf-8")
            groups = parse_rule_file(text, str(self.path), self.parser)
        except FileNotFoundError:
            if not side:
                return []
            problem = [f"{self.path}: missing, but {self.store_path} lists {len(side)} rule(s)"]
        except (OSError, UnicodeDecodeError) as exc:
            problem = [f"{self.path}: {getattr(exc, 'strerror', None) or exc}"]
        except RuleLoadError as exc:
            problem = exc.errors
        else:
            return _merge(_with_ids(text, groups), side)
        if not self.repair:
            raise RuleLoadError([*problem, f"{self.path}: restore it from a backup, or start with "
                                 f"'metrics-service serve --repair' to rebuild it from {self.store_path.name}"])
        if self.path.exists():
            aside = move_aside(self.path)
            log.warning("managed rule file moved aside", extra={"fields": {"file": str(self.path),
                                                                           "moved_to": str(aside)}})
        rules = [(group, dataclasses.replace(rule, enabled=True)) for group, rule in side]
        self._write_yaml(rules)
        log.warning("managed rule file rebuilt from the side file", extra={"fields": {
            "file": str(self.path), "rules": len(rules)}})
        return rules

    def _read_side(self) -> list[tuple[str, Rule]]:
        """The side file's rules; a missing or unreadable one gives none (it only extends the rule file)."""
        try:
            text = self.store_path.read_text(encoding="utf-8")
            doc = json.loads(text)
            return [(r.pop("group"), Rule(**r)) for r in doc["rules"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = move_aside(self.store_path)  # kept for a human; the next change writes a new one
            log.warning("managed rules side file unreadable, moved aside: default extensions for every rule",
                        extra={"fields": {"file": str(self.store_path), "moved_to": str(aside),
                                          "error": str(exc)}})
            return []

    def _save(self, rules: list[tuple[str, Rule]], changed: str) -> None:
        """The side file first, then the rule file; if the second write fails the side file is put back.
        Shared: only the ``changed`` rule's document is written (or deleted) in Redis."""
        if self.shared is not None:
            self._save_shared(rules, changed)
            return
        doc = {"version": _STORE_VERSION,
               "rules": [{"group": group, **dataclasses.asdict(rule)} for group, rule in rules]}
        self.dir.mkdir(parents=True, exist_ok=True)
        before = self.store_path.read_text(encoding="utf-8") if self.store_path.exists() else None
        write_atomic(self.store_path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n", 0o644)
        try:
            self._write_yaml(rules)
        except BaseException:
            with contextlib.suppress(OSError):
                if before is None:
                    self.store_path.unlink()
                else:
                    write_atomic(self.store_path, before, 0o644)
            raise
        self._rules = rules

    def _save_shared(self, rules: list[tuple[str, Rule]], changed: str) -> None:
        assert self.shared is not None
        found = next(((group, rule) for group, rule in rules if rule.id == changed), None)
        if found is None:
            self.shared.delete(changed)
            self._order.pop(changed, None)
        else:
            order = self._order.get(changed, max(self._order.values(), default=0) + 1)
            rule = dataclasses.asdict(found[1])
            del rule["id"]
            if not self.shared.put(changed, {"group": found[0], "order": order, "rule": rule},
                                   "existing" if changed in self._order else "new"):
                raise RuleNotFoundError(changed)  # deleted on another replica meanwhile
            self._order[changed] = order
        self._rules = rules

    def _write_yaml(self, rules: list[tuple[str, Rule]]) -> None:
        text = rule_file_text(_groups(rules, str(self.path)))
        if self.path.exists() and self.path.read_text(encoding="utf-8", errors="replace") == text:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, text, 0o644)


def _groups(rules: list[tuple[str, Rule]], source: str) -> list[RuleGroup]:
    by_name: dict[str, list[Rule]] = {}
    for group, rule in rules:
        by_name.setdefault(group, []).append(rule)
    return [RuleGroup(name, group_rules, source) for name, group_rules in by_name.items()]


def rule_file_text(groups: list[RuleGroup]) -> str:
    """The Prometheus rule file of these groups with ``# id: ...`` above each rule."""
    text = to_prometheus_yaml(groups)
    ids = [r.id for g in groups for r in g.rules if r.enabled]
    lines = text.splitlines(keepends=True)
    for node, rid in reversed(list(zip(_rule_nodes(text), ids, strict=True))):
        mark = node.start_mark
        lines.insert(mark.line, " " * max(0, mark.column - 2) + f"# id: {rid}\n")
    return "".join(lines)


def _rule_nodes(text: str) -> list[yaml.Node]:
    """The mapping node of each rule in file order (what the loader reads; null items left out)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    out: list[yaml.Node] = []
    for group in _items(_value(root, "groups")):
        out.extend(node for node in _items(_value(group, "rules")) if isinstance(node, yaml.MappingNode))
    return out


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def _items(node: yaml.Node | None) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _with_ids(text: str, groups: list[RuleGroup]) -> list[tuple[str, Rule]]:
    """The rule file's rules with the ids of their ``# id:`` comments (empty where there is none)."""
    lines = text.splitlines()
    nodes = iter(_rule_nodes(text))
    out = []
    for group in groups:
        for rule in group.rules:
            line = next(nodes).start_mark.line
            found = _ID_COMMENT.fullmatch(lines[line - 1]) if line > 0 else None
            out.append((group.name, dataclasses.replace(rule, id=found.group(1) if found else "")))
    return out


def _merge(in_file: list[tuple[str, Rule]], side: list[tuple[str, Rule]]) -> list[tuple[str, Rule]]:
    """The rule file's rules (enabled) with their side-file extensions, then the side file's other
    rules (disabled), each placed after the rule that precedes it in the side file."""
    by_id = {rule.id: rule for _, rule in side}
    used: set[str] = set()
    merged: list[tuple[str, Rule]] = []
    for group, rule in in_file:
        rid = rule.id if rule.id in by_id and rule.id not in used else _same_rule(group, rule, side, used)
        channels = by_id[rid].notification_channels if rid is not None else []
        if rid is None:  # no side-file entry: the comment's id, else the stable id any rule file gets
            rid = rule.id if rule.id and rule.id not in used else _file_rule_id(group, rule, merged)
        used.add(rid)
        merged.append((group, dataclasses.replace(rule, id=rid, enabled=True, notification_channels=channels)))
    for i, (group, rule) in enumerate(side):
        if rule.id in used:
            continue
        if rule.enabled:
            log.warning("managed rule missing from the rule file, kept disabled", extra={"fields": {
                "rule": rule.name, "id": rule.id}})
        earlier = {r.id for _, r in side[:i]}
        after = next((j for j in range(len(merged) - 1, -1, -1) if merged[j][1].id in earlier), len(merged) - 1)
        merged.insert(after + 1, (group, dataclasses.replace(rule, enabled=False)))
        used.add(rule.id)
    return merged


def _same_rule(group: str, rule: Rule, side: list[tuple[str, Rule]], used: set[str]) -> str | None:
    """The id of the side file's first unused rule with this group, kind, name and labels (a rule file
    written before ids were kept in comments, or a comment removed by hand)."""
    for other_group, other in side:
        if other.id not in used and (other_group, other.kind, other.name, other.labels) == \
                (group, rule.kind, rule.name, rule.labels):
            return other.id
    return None


def _file_rule_id(group: str, rule: Rule, before: list[tuple[str, Rule]]) -> str:
    same = sum(1 for g, r in before if (g, r.kind, r.name, r.labels) == (group, rule.kind, rule.name, rule.labels))
    return rule_id(MANAGED_FILE, group, rule, same + 1)


# -- request bodies ----------------------------------------------------------------------------------


def rule_from_body(body: Any, rule_id: str, *, group: str = DEFAULT_GROUP, enabled: bool = True,
                   parser: Parser | None = None) -> tuple[str, Rule]:
    """(group, rule) from the seed's simple form or the full PromQL form; raises RuleValidationError.

    ``group`` and ``enabled`` are the values used when the body does not give them.
    """
    parser = parser or tools_parser()
    if not isinstance(body, dict):
        raise RuleValidationError("body", "must be a JSON object")
    bad_text = invalid_utf8_path(body, "body")
    if bad_text is not None:
        raise RuleValidationError(bad_text.removeprefix("body."), NOT_UTF8)
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
        expr = f"{_selector(body, parser)} {_condition(body)} {_threshold(body)}"
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
    for key, message in rule_problems(rule, parser):
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
    """A Prometheus duration ("5m") or seconds (300, "300"), kept to the millisecond a rule file holds
    and within the range Prometheus reads back (promtool refuses ``for: 293y``)."""
    value = body.get(key)
    if value is None:
        return 0.0
    too_long = RuleValidationError(key, f"must be at most {format_duration(MAX_MS)}, the longest duration "
                                        "Prometheus can read")
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        seconds = parse_duration(value) if isinstance(value, str) else float(value)
    except DurationRangeError:
        raise too_long from None
    except ValueError:
        raise RuleValidationError(key, f"{value!r} is not a duration such as 5m, 90s or 300") from None
    if seconds < 0:  # before the range, so that -1e308 is refused for its sign
        raise RuleValidationError(key, "must be zero or more")
    try:
        return seconds_to_ms(seconds) / 1000
    except DurationRangeError:  # NaN too
        raise too_long from None


def _selector(body: dict[str, Any], parser: Parser) -> str:
    text = _string(body, "metricName", required=True)
    try:
        node = parser.parse(text)
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
