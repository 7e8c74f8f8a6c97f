"""Reading a ``promtool test rules`` file the way promtool 2.42 does (Go's yaml.v2, strict mode).

Strict means what promtool rejects we reject: unknown fields (``fuzzy_compare`` and
``start_timestamp`` came after 2.42), duplicate keys, quoted numbers, YAML 1.1 numbers that Go
reads differently. Every error names the field path and line, so a bad file is fixed in one look.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.compat.durations import DurationError, parse_duration
from engine.compat.strconv import NumError, parse_float

DEFAULT_EVALUATION_INTERVAL_MS = 60_000

_NULL = "tag:yaml.org,2002:null"
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_OCTAL = re.compile(r"[-+]?0[0-7]+")
_SPECIAL_FLOATS = {
    **{s: math.inf for s in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{s: -math.inf for s in ("-.inf", "-.Inf", "-.INF")},
    **{s: math.nan for s in (".nan", ".NaN", ".NAN")},
}


class UnitTestFileError(ValueError):
    """A test file promtool would refuse; the message names the field and line."""


@dataclass(slots=True)
class InputSeries:
    series: str = ""
    values: str = ""
    line: int = 0


@dataclass(slots=True)
class ExpSample:
    labels: str = ""
    value: float = 0.0
    line: int = 0


@dataclass(slots=True)
class PromQLCase:
    expr: str = ""
    eval_time: int = 0  # milliseconds after the start of the test
    exp_samples: list[ExpSample] = field(default_factory=list)
    line: int = 0


@dataclass(slots=True)
class ExpAlert:
    exp_labels: dict[str, str] = field(default_factory=dict)
    exp_annotations: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(slots=True)
class AlertCase:
    eval_time: int = 0
    alertname: str = ""
    exp_alerts: list[ExpAlert] = field(default_factory=list)
    line: int = 0


@dataclass(slots=True)
class UnitTestGroup:
    interval: int = 0  # promtool 2.42 does not default it: 0 loads every sample at time 0
    input_series: list[InputSeries] = field(default_factory=list)
    alert_rule_test: list[AlertCase] = field(default_factory=list)
    promql_expr_test: list[PromQLCase] = field(default_factory=list)
    external_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    name: str = ""
    line: int = 0


@dataclass(slots=True)
class UnitTestFile:
    rule_files: list[str] = field(default_factory=list)
    evaluation_interval: int = 0
    group_eval_order: list[str] = field(default_factory=list)
    tests: list[UnitTestGroup] = field(default_factory=list)
    line: int = 0


# Per struct: YAML key -> kind; a kind is "str", "float", "duration", "map", a struct, or ("list", kind).
_FIELDS: dict[type, dict[str, Any]] = {
    UnitTestFile: {"rule_files": ("list", "str"), "evaluation_interval": "duration",
                   "group_eval_order": ("list", "str"), "tests": ("list", UnitTestGroup)},
    UnitTestGroup: {"interval": "duration", "input_series": ("list", InputSeries),
                    "alert_rule_test": ("list", AlertCase), "promql_expr_test": ("list", PromQLCase),
                    "external_labels": "map", "external_url": "str", "name": "str"},
    InputSeries: {"series": "str", "values": "str"},
    PromQLCase: {"expr": "str", "eval_time": "duration", "exp_samples": ("list", ExpSample)},
    ExpSample: {"labels": "str", "value": "float"},
    AlertCase: {"eval_time": "duration", "alertname": "str", "exp_alerts": ("list", ExpAlert)},
    ExpAlert: {"exp_labels": "map", "exp_annotations": "map"},
}


def load_test_file(text: str) -> UnitTestFile:
    """Decode a test file; raises :class:`UnitTestFileError` listing every problem found."""
    try:
        root = next(yaml.compose_all(text, Loader=yaml.SafeLoader), None)
    except yaml.YAMLError as exc:
        raise UnitTestFileError(_yaml_error(exc)) from None
    decoder = _Decoder()
    result = UnitTestFile() if root is None or _is_null(root) else decoder.decode(root, UnitTestFile, "")
    if decoder.errors:
        raise UnitTestFileError("\n".join(decoder.errors))
    return result


def _yaml_error(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: where, what, and while doing what."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"YAML error: {exc}"
    mark = exc.problem_mark
    context = f" ({exc.context})" if exc.context else ""
    return f"YAML error at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}{context}"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


def _kind_name(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.value!r}"


class _Decoder:
    """Walks composed YAML nodes, collecting errors (as yaml.v2 does) instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, node: yaml.Node, path: str, message: str) -> None:
        self.errors.append(f"{path or 'file'} (line {node.start_mark.line + 1}): {message}")

    def decode(self, node: yaml.Node, kind: Any, path: str) -> Any:
        if isinstance(kind, tuple):
            return self._list(node, kind[1], path)
        if isinstance(kind, type):
            return self._struct(node, kind, path)
        return getattr(self, "_" + kind)(node, path)

    def _struct(self, node: yaml.Node, cls: type, path: str) -> Any:
        obj = cls(line=node.start_mark.line + 1)
        if _is_null(node):
            return obj
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path, f"expected a mapping with fields {', '.join(_FIELDS[cls])}, got {_kind_name(node)}")
            return obj
        fields = _FIELDS[cls]
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            where = f"{path}.{key}" if path else key
            if key in seen:
                self.fail(key_node, where, "key already set in this mapping")
            elif key not in fields:
                self.fail(key_node, where, f"unknown field (promtool 2.42 knows {', '.join(fields)})")
            else:
                setattr(obj, key, self.decode(value_node, fields[key], where))
            seen.add(key)
        return obj

    def _list(self, node: yaml.Node, kind: Any, path: str) -> list:
        if _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, path, f"expected a list, got {_kind_name(node)}")
            return []
        return [self.decode(item, kind, f"{path}[{i}]") for i, item in enumerate(node.value)]

    def _str(self, node: yaml.Node, path: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, path, f"expected a string, got {_kind_name(node)}")
            return ""
        return "" if node.tag == _NULL else node.value

    def _map(self, node: yaml.Node, path: str) -> dict[str, str]:
        if _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path, f"expected a mapping of strings, got {_kind_name(node)}")
            return {}
        out: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self._str(key_node, path)
            if key in out:
                self.fail(key_node, f"{path}.{key}", "key already set in this mapping")
            out[key] = self._str(value_node, f"{path}.{key}")
        return out

    def _duration(self, node: yaml.Node, path: str) -> int:
        text = self._str(node, path)
        try:
            return parse_duration(text)
        except DurationError as exc:
            self.fail(node, path, f"{exc} (a Prometheus duration such as 30s, 5m or 1h30m)")
            return 0

    def _float(self, node: yaml.Node, path: str) -> float:
        if _is_null(node):
            return 0.0
        value = go_yaml_float(node) if isinstance(node, yaml.ScalarNode) else None
        if value is None:
            quoted = "the quoted string " if getattr(node, "style", None) else ""
            self.fail(node, path, f"{quoted}{_kind_name(node)} is not a number (numbers are unquoted; NaN "
                                  "and infinities are written .nan, .inf and -.inf)")
            return 0.0
        return value


def go_yaml_float(node: yaml.ScalarNode) -> float | None:
    """The number yaml.v2 reads from a scalar, or None when it would refuse to put it in a float64.

    Plain scalars only; ``1e3`` is a number (PyYAML thinks it a string) and ``1:30`` is not."""
    if node.style is not None:
        return None
    text = node.value
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    plain = text.replace("_", "")
    try:
        if _GO_OCTAL.fullmatch(plain):
            return float(int(plain, 8))
        return float(int(plain, 0))
    except ValueError:
        pass
    if _GO_FLOAT.fullmatch(plain):
        try:
            return parse_float(plain)
        except NumError:  # 1e400: yaml.v2 keeps it a string, which a float64 field refuses
            return None
    return None
