"""Rule groups and rules as Prometheus defines them, plus the few fields our API adds.

The extensions (``notification_channels``, ``enabled``, ``id``) never reach a Prometheus rule file:
:func:`to_prometheus_yaml` writes only what Prometheus accepts, so the file runs unchanged elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.compat.durations import format_seconds

ALERTING = "alerting"
RECORDING = "recording"


@dataclass(frozen=True, slots=True)
class Rule:
    """One alerting or recording rule; ``name`` is the ``alert`` or the ``record`` value."""

    kind: str
    name: str
    expr: str
    id: str
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    notification_channels: list[dict[str, Any]] = field(default_factory=list)
    enabled: bool = True

    def to_prometheus(self) -> dict[str, Any]:
        """The rule as a Prometheus rule-file entry (defaults left out, as promtool prints them)."""
        out: dict[str, Any] = {"alert" if self.kind == ALERTING else "record": self.name, "expr": self.expr}
        if self.for_s:
            out["for"] = format_seconds(self.for_s)
        if self.keep_firing_for_s:
            out["keep_firing_for"] = format_seconds(self.keep_firing_for_s)
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True, slots=True)
class RuleGroup:
    """A group evaluates its rules in order at one timestamp; ``interval`` None means the global default."""

    name: str
    rules: list[Rule]
    source: str
    interval: float | None = None
    limit: int = 0
    query_offset: float | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_prometheus(self) -> dict[str, Any]:
        """The group as a rule-file entry. Disabled rules are left out: Prometheus cannot disable a rule.

        ``query_offset`` and ``labels`` are written only when set, since Prometheus before 2.53 and 3.0
        rejects them.
        """
        out: dict[str, Any] = {"name": self.name}
        if self.interval is not None:
            out["interval"] = format_seconds(self.interval)
        if self.limit:
            out["limit"] = self.limit
        if self.query_offset is not None:
            out["query_offset"] = format_seconds(self.query_offset)
        if self.labels:
            out["labels"] = dict(self.labels)
        out["rules"] = [r.to_prometheus() for r in self.rules if r.enabled]
        return out


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every group loaded from a set of rule files, in file order."""

    groups: list[RuleGroup]
    files: list[str]

    def rules(self) -> list[Rule]:
        return [r for g in self.groups for r in g.rules]


def to_prometheus_yaml(groups: list[RuleGroup]) -> str:
    """A Prometheus rule file holding these groups; groups left without an enabled rule are dropped."""
    entries = [g.to_prometheus() for g in groups]
    doc = {"groups": [e for e in entries if e["rules"]]}
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (long expressions, descriptions) as literal blocks, so the file stays readable."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)
