"""Reading Prometheus rule files with Prometheus's validation, every error pointing at ``file:line:col``.

The YAML is walked node by node (not loaded into dicts) so that each problem carries the position of
the field at fault, unknown and duplicate keys are caught like Prometheus's strict decoder catches
them, and all problems of a file are reported at once instead of the first only.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import re
from dataclasses import dataclass, field

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from engine.compat.durations import DurationError, parse_duration
from engine.promql.errors import QueryError
from engine.promql.parse import Parser, tools_parser
from engine.rulefiles.model import ALERTING, RECORDING, Rule, RuleGroup, RuleSet
from engine.templating import TemplateError, parse_template

LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*", re.ASCII)
METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.ASCII)

_FILE_FIELDS = ("groups",)
_GROUP_FIELDS = ("name", "interval", "limit", "query_offset", "labels", "rules")
_RULE_FIELDS = ("record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations")
_KINDS = {"tag:yaml.org,2002:map": "a mapping", "tag:yaml.org,2002:seq": "a list"}
_NULL = "tag:yaml.org,2002:null"

Problem = tuple[str, str]
"""(field, message); field is a rule-file key such as ``expr`` or ``labels.severity``."""


class RuleLoadError(ValueError):
    """Rule files that Prometheus would refuse; ``errors`` holds one ``file:line:col: field: problem`` each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_rule_files(globs: list[str] | tuple[str, ...], parser: Parser | None = None) -> RuleSet:
    """Every group of every file matched by the globs (sorted per glob, each file once).

    A pattern without wildcards that names no file is an error: a typo in RULES_FILES must not
    silently run no rules. Raises RuleLoadError with the problems of all files. ``parser``: the
    Engine's (its limits); command-line tools leave it to ``tools_parser``.
    """
    files: list[str] = []
    errors: list[str] = []
    for pattern in globs:
        matches = sorted(glob.glob(pattern))
        if not matches and not glob.has_magic(pattern):
            errors.append(f"{pattern}: no such file")
        files.extend(m for m in matches if m not in files)
    try:
        groups = load_files(files, parser)
    except RuleLoadError as exc:
        errors.extend(exc.errors)
    if errors:
        raise RuleLoadError(errors)
    return RuleSet(groups, files)


def load_files(paths: list[str], parser: Parser | None = None) -> list[RuleGroup]:
    """The groups of these files in order; RuleLoadError with the problems of all of them."""
    groups: list[RuleGroup] = []
    errors: list[str] = []
    for path in paths:
        try:
            groups.extend(load_rule_file(path, parser))
        except RuleLoadError as exc:
            errors.extend(exc.errors)
    if errors:
        raise RuleLoadError(errors)
    return groups


def load_rule_file(path: str, parser: Parser | None = None) -> list[RuleGroup]:
    """The groups of one rule file; raises RuleLoadError (also for an unreadable file)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleLoadError([f"{path}: {getattr(exc, 'strerror', None) or exc}"]) from None
    return parse_rule_file(text, path, parser)


def parse_rule_file(text: str, source: str, parser: Parser | None = None) -> list[RuleGroup]:
    """The groups of rule-file text; ``source`` names it in errors and rule ids."""
    reader = _Reader(source, parser or tools_parser())
    groups = reader.read(text)
    if reader.errors:
        raise RuleLoadError(reader.errors)
    return groups


def parse_prometheus_duration(text: str) -> float:
    """Seconds from a Prometheus duration: a unit is required ("5m", "90s"), except for a bare "0"."""
    try:
        return parse_duration(text) / 1000
    except DurationError as exc:
        hint = " (needs a unit: 30s, 5m, 1h)" if text[-1:].isdigit() else ""
        raise ValueError(f"{exc}{hint}") from None


def rule_problems(rule: Rule, parser: Parser | None = None) -> list[Problem]:
    """What Prometheus would reject in this rule, beyond the file's shape (names, PromQL, templates)."""
    problems: list[Problem] = []
    if rule.kind == RECORDING:
        if not METRIC_NAME_RE.fullmatch(rule.name):
            problems.append(("record", f"invalid recording rule name: {rule.name}"))
        for key, value in (("annotations", rule.annotations), ("for", rule.for_s),
                           ("keep_firing_for", rule.keep_firing_for_s)):
            if value:
                problems.append((key, f"invalid field '{key}' in recording rule"))
    elif not rule.name:
        problems.append(("alert", "must not be empty"))
    if not rule.expr.strip():
        problems.append(("expr", "field 'expr' must be set in rule"))
    else:
        try:
            (parser or tools_parser()).parse(rule.expr)
        except QueryError as exc:
            problems.append(("expr", f"could not parse expression: {exc.message}"))
    problems.extend(label_name_problems(rule.labels))
    for key in rule.annotations:
        if not LABEL_NAME_RE.fullmatch(key):
            problems.append((f"annotations.{key}", f"invalid annotation name: {key}"))
    if rule.kind == ALERTING:
        problems.extend(_template_problems(rule))
    return problems


def label_name_problems(labels: dict[str, str]) -> list[Problem]:
    """Label names a rule or group may set: valid names, never ``__name__``."""
    return [(f"labels.{key}", f"invalid label name: {key}") for key in labels
            if key == "__name__" or not LABEL_NAME_RE.fullmatch(key)]


def _template_problems(rule: Rule) -> list[Problem]:
    """Prometheus test-parses alerting rules' label and annotation templates at load time."""
    problems: list[Problem] = []
    for kind, values in (("labels", rule.labels), ("annotations", rule.annotations)):
        for key, text in values.items():
            try:
                parse_template(text, f"__alert_{rule.name}")
            except TemplateError as exc:
                problems.append((f"{kind}.{key}", str(exc)))
    return problems


def duplicate_rules(groups: list[RuleGroup]) -> list[str]:
    """promtool's lint: rules of one file with the same name and labels (a warning, not an error)."""
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for group in groups:
        for rule in group.rules:
            key = (rule.name, tuple(sorted(rule.labels.items())))
            seen[key] = seen.get(key, 0) + 1
    out = []
    for (name, labels), count in seen.items():
        if count > 1:
            shown = ", ".join(f'{k}="{v}"' for k, v in labels)
            out.append(f"{groups[0].source}: duplicate rule: {name}{{{shown}}} appears {count} times "
                       "(might cause inconsistency while recording expressions)")
    return out


def rule_id(source: str, group: str, rule: Rule, occurrence: int) -> str:
    """A stable id for a file rule: it survives edits to other rules, as Prometheus keeps alert state
    across reloads by group, name and labels."""
    labels = "\0".join(f"{k}={v}" for k, v in sorted(rule.labels.items()))
    key = "\0".join((source, group, rule.kind, rule.name, labels, str(occurrence)))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class _Reader:
    """One pass over a file's YAML nodes, collecting every problem with its position."""

    source: str
    parser: Parser
    found: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """In file order, whichever check found them."""
        return [f"{self.source}:{line}:{col}: {text}" for line, col, text in sorted(self.found)]

    def error(self, node: yaml.Node, path: str, message: str) -> None:
        mark = node.start_mark
        self.found.append((mark.line + 1, mark.column + 1, f"{path}: {message}"))

    def read(self, text: str) -> list[RuleGroup]:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or yaml.Mark("", 0, 0, 0, None, None)
            problem = getattr(exc, "problem", None) or str(exc)
            self.found.append((mark.line + 1, mark.column + 1, f"yaml: {problem}"))
            return []
        if root is None:
            return []
        top = self.mapping(root, "file", _FILE_FIELDS)
        if top is None or "groups" not in top:
            return []
        groups: list[RuleGroup] = []
        names: dict[str, int] = {}
        for i, node in enumerate(self.sequence(top["groups"][1], "groups")):
            path = f"groups[{i}]"
            group = self.group(node, path)
            if group is None:
                continue
            if not group.name:
                self.error(node, f"{path}.name", "group name must not be empty")
            elif group.name in names:
                self.error(node, f"{path}.name", f'group name "{group.name}" is repeated in the same file '
                                                 f"(first at line {names[group.name]})")
            else:
                names[group.name] = node.start_mark.line + 1
            groups.append(group)
        return groups

    def group(self, node: yaml.Node, path: str) -> RuleGroup | None:
        fields = self.mapping(node, path, _GROUP_FIELDS)
        if fields is None:
            return None
        name = self.string(fields, "name", path)
        rules: list[Rule] = []
        occurrences: dict[tuple[str, str, str], int] = {}
        for i, rule_node in enumerate(self.sequence(fields.get("rules", (None, None))[1], f"{path}.rules")):
            rule = self.rule(rule_node, f"{path}.rules[{i}]")
            if rule is None:
                continue
            key = (rule.kind, rule.name, repr(sorted(rule.labels.items())))
            occurrences[key] = occurrences.get(key, 0) + 1
            rules.append(dataclasses.replace(rule, id=rule_id(self.source, name, rule, occurrences[key])))
        labels = self.string_map(fields, "labels", path)
        for key, message in label_name_problems(labels):  # group labels: Prometheus 3
            self.error(_node_for(fields, key, node), f"{path}.{key}", message)
        return RuleGroup(
            name=name,
            rules=rules,
            source=self.source,
            interval=self.duration(fields, "interval", path),
            limit=self.integer(fields, "limit", path),
            query_offset=self.duration(fields, "query_offset", path),
            labels=labels,
        )

    def rule(self, node: yaml.Node, path: str) -> Rule | None:
        if node.tag == _NULL:  # promtool skips an empty list item
            return None
        fields = self.mapping(node, path, _RULE_FIELDS)
        if fields is None:
            return None
        alert, record = self.string(fields, "alert", path), self.string(fields, "record", path)
        if alert and record:
            self.error(fields["record"][0], path, "only one of 'record' and 'alert' must be set")
            return None
        if not alert and not record:
            self.error(node, path, "one of 'record' or 'alert' must be set")
            return None
        rule = Rule(
            kind=ALERTING if alert else RECORDING,
            name=alert or record,
            expr=self.string(fields, "expr", path),
            id="",
            for_s=self.duration(fields, "for", path) or 0.0,
            keep_firing_for_s=self.duration(fields, "keep_firing_for", path) or 0.0,
            labels=self.string_map(fields, "labels", path),
            annotations=self.string_map(fields, "annotations", path),
        )
        for key, message in rule_problems(rule, self.parser):
            self.error(_node_for(fields, key, node), f"{path}.{key}", message)
        return rule

    # -- typed readers; each reports its own problem and returns a harmless value --------------------

    def mapping(self, node: yaml.Node, path: str,
                allowed: tuple[str, ...]) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        if node.tag == _NULL:
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.error(node, path, f"expected a mapping, got {_kind(node)}")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
            if key in out:
                self.error(key_node, f"{path}.{key}",
                           f"mapping key already defined at line {out[key][0].start_mark.line + 1}")
            elif key not in allowed:
                self.error(key_node, f"{path}.{key}", f"unknown field (expected one of {', '.join(allowed)})")
            else:
                out[key] = (key_node, value_node)
        return out

    def sequence(self, node: yaml.Node | None, path: str) -> list[yaml.Node]:
        if node is None or node.tag == _NULL:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, path, f"expected a list, got {_kind(node)}")
            return []
        return list(node.value)

    def string(self, fields: dict[str, tuple[yaml.Node, yaml.Node]], key: str, path: str) -> str:
        if key not in fields:
            return ""
        return self.scalar(fields[key][1], f"{path}.{key}")

    def scalar(self, node: yaml.Node, path: str) -> str:
        """Any scalar reads as its text, as Go's decoder does for string fields; null is empty."""
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, f"expected a string, got {_kind(node)}")
            return ""
        return "" if node.tag == _NULL else node.value

    def duration(self, fields: dict[str, tuple[yaml.Node, yaml.Node]], key: str, path: str) -> float | None:
        if key not in fields or fields[key][1].tag == _NULL:
            return None
        text = self.scalar(fields[key][1], f"{path}.{key}")
        try:
            return parse_prometheus_duration(text)
        except ValueError as exc:
            self.error(fields[key][1], f"{path}.{key}", str(exc))
            return None

    def integer(self, fields: dict[str, tuple[yaml.Node, yaml.Node]], key: str, path: str) -> int:
        if key not in fields or fields[key][1].tag == _NULL:
            return 0
        node = fields[key][1]
        try:
            if node.tag != "tag:yaml.org,2002:int":
                raise ConstructorError
            return SafeConstructor().construct_yaml_int(node)
        except ConstructorError:
            self.error(node, f"{path}.{key}", f"expected an integer, got {_kind(node)}")
            return 0

    def string_map(self, fields: dict[str, tuple[yaml.Node, yaml.Node]], key: str, path: str) -> dict[str, str]:
        if key not in fields:
            return {}
        node = fields[key][1]
        if node.tag == _NULL:
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{path}.{key}", f"expected a mapping, got {_kind(node)}")
            return {}
        out: dict[str, str] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = self.scalar(key_node, f"{path}.{key}")
            if name in out:
                self.error(key_node, f"{path}.{key}.{name}",
                           f"mapping key already defined at line {lines[name]}")
                continue
            out[name] = self.scalar(value_node, f"{path}.{key}.{name}")
            lines[name] = key_node.start_mark.line + 1
        return out


def _node_for(fields: dict[str, tuple[yaml.Node, yaml.Node]], key: str, fallback: yaml.Node) -> yaml.Node:
    """The node a problem points at: the value of ``key``, the key of ``labels.x``, else the rule."""
    head, _, name = key.partition(".")
    if head not in fields:
        return fallback
    value = fields[head][1]
    if name and isinstance(value, yaml.MappingNode):
        for key_node, _value_node in value.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == name:
                return key_node
    return value


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return f"the {'string' if node.tag.endswith(':str') else 'value'} {node.value!r}"
    return _KINDS.get(node.tag, f"a {node.tag} node")
