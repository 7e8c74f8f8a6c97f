"""An alert's value in its unit: ``24.4 GiB``, ``53.1%``, ``1.20s`` rather than ``2.62e+10``.

The unit comes from the rule: first from how its templates print ``$value`` (``humanizePercentage``,
``humanizeDuration``, ``humanize1024``, ``humanize }} %``), as the rule's author meant it, else from
the unit suffix of the one metric a plain expression reads (``node_filesystem_avail_bytes < 1e9``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from console import format as fmt

BYTES, RATIO, PERCENT, SECONDS = "bytes", "ratio", "percent", "seconds"
_TEMPLATE_UNITS = ((re.compile(r"\$value\s*\|\s*humanizePercentage"), RATIO),
                   (re.compile(r"\$value\s*\|\s*humanizeDuration"), SECONDS),
                   (re.compile(r"\$value\s*\|\s*humanize1024"), BYTES),
                   (re.compile(r"\$value\s*\|\s*humanize\s*}}\s*%"), PERCENT))
_SUFFIX_UNITS = (("_bytes", BYTES), ("_ratio", RATIO), ("_percent", PERCENT), ("_seconds", SECONDS))
_METRIC = re.compile(r"(?<![\w:.\"'])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
_NOT_METRICS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                "offset", "inf", "nan", "Inf", "NaN"}
_FORMAT = {BYTES: fmt.size, RATIO: fmt.ratio, PERCENT: fmt.percent, SECONDS: fmt.seconds}


def rule_unit(rule: dict[str, Any]) -> str:
    """The unit of a rule's alert values, or "" when the rule does not say (plain numbers)."""
    templates = " ".join(str(v) for v in (rule.get("annotations") or {}).values())
    for pattern, unit in _TEMPLATE_UNITS:
        if pattern.search(templates):
            return unit
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
                  " ", str(rule.get("expr") or ""))
    if re.search(r"[*/]|\b(rate|irate|increase|delta|deriv|count\w*)\s*\(", expr):
        return ""  # arithmetic or a rate: the metric's unit is not the value's
    names = {m for m in _METRIC.findall(expr) if m not in _NOT_METRICS}
    if len(names) != 1:
        return ""
    name = names.pop().removesuffix("_total")
    return next((unit for suffix, unit in _SUFFIX_UNITS if name.endswith(suffix)), "")


def humanise(value: Any, unit: str) -> str:
    """``value`` in ``unit`` (see ``rule_unit``); four significant digits when there is none."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return fmt.DASH if value is None else str(value)
    if unit in _FORMAT and value == value and abs(value) != float("inf"):
        return _FORMAT[unit](value)
    return f"{value:.4g}"


class RuleUnits:
    """The unit of each rule's alerts, by rule id, loaded from the rules list when an alert of an
    unknown rule shows up (once per rule: a rule the list lacks stays unitless)."""

    def __init__(self) -> None:
        self.units: dict[str, str] = {}

    def missing(self, alerts: Iterable[dict[str, Any]]) -> bool:
        return any(str(a.get("ruleId")) not in self.units for a in alerts)

    def load(self, rules: list[dict[str, Any]] | None, alerts: Iterable[dict[str, Any]] = ()) -> None:
        for rule in rules or []:
            if isinstance(rule, dict) and "id" in rule:
                self.units[str(rule["id"])] = rule_unit(rule)
        for alert in alerts:
            self.units.setdefault(str(alert.get("ruleId")), "")

    def of(self, alert: dict[str, Any]) -> str | None:
        """The unit of ``alert``'s value; None until its rule has been read (the value then waits,
        rather than showing as a raw number for a moment)."""
        return self.units.get(str(alert.get("ruleId")))
