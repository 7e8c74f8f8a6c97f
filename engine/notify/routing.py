"""Alertmanager's route tree and inhibition, over alert label sets.

A route matches when all its matchers match; its children are tried in order and the first match
wins unless that child has ``continue``; a route none of whose children matched is itself the
destination. ``group_by``, timers and the receiver are inherited. A route's key is its matchers and
its parents' (``{}/{severity=~"critical|warning"}``), as in Alertmanager's group keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.notify.config import ROUTE_DEFAULTS, InhibitRule, NotifyConfigError, RouteConfig


@dataclass
class Route:
    receiver: str
    matchers: tuple[Any, ...]
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool
    key: str
    routes: list[Route] = field(default_factory=list)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels.get(m.name, "")) for m in self.matchers)

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert goes to (Alertmanager's Route.Match)."""
        if not self.matches(labels):
            return []
        out: list[Route] = []
        for child in self.routes:
            found = child.match(labels)
            out.extend(found)
            if found and not child.continue_:
                break
        return out or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.group_by == ("...",):
            return dict(labels)
        return {n: labels[n] for n in self.group_by if labels.get(n)}

    def to_json(self) -> dict[str, Any]:
        return {"receiver": self.receiver, "matchers": [str(m) for m in self.matchers], "groupBy": list(self.group_by),
                "groupWait": self.group_wait, "groupInterval": self.group_interval,
                "repeatInterval": self.repeat_interval, "continue": self.continue_, "key": self.key,
                "routes": [r.to_json() for r in self.routes]}


def build_route(cfg: RouteConfig, receivers: Iterable[str], parent: Route | None = None,
                where: str = "notifications.route") -> Route:
    """The tree with inherited values; NotifyConfigError when a receiver names no channel."""
    known = set(receivers)
    receiver = cfg.receiver or (parent.receiver if parent else "")
    if cfg.receiver is not None and cfg.receiver not in known:
        raise NotifyConfigError(f"{where}.receiver", f"no channel named {cfg.receiver!r}")
    inner = ",".join(str(m) for m in cfg.matchers)
    key = "{" + inner + "}" if parent is None else f"{parent.key}/{{{inner}}}"

    def pick(name: str) -> Any:
        own = getattr(cfg, name)
        if own is not None:
            return own
        return getattr(parent, name) if parent is not None else ROUTE_DEFAULTS.get(name, ())

    route = Route(receiver, cfg.matchers, pick("group_by"), pick("group_wait"), pick("group_interval"),
                  pick("repeat_interval"), cfg.continue_, key)
    route.routes = [build_route(c, known, route, f"{where}.routes[{i}]") for i, c in enumerate(cfg.routes)]
    return route


class Inhibitor:
    """Mutes a target alert while a firing source alert has equal values for every ``equal`` label."""

    def __init__(self, rules: Iterable[InhibitRule]) -> None:
        self.rules = list(rules)

    def inhibited(self, labels: Mapping[str, str], fingerprint: str,
                  firing: Iterable[tuple[str, Mapping[str, str]]]) -> bool:
        """``firing``: (fingerprint, labels) of every firing alert. An alert matching both sides of a
        rule is never muted by alerts that also match both sides (Alertmanager's guard)."""
        sources = None
        for rule in self.rules:
            if not _all(rule.target, labels):
                continue
            both = _all(rule.source, labels)
            if sources is None:
                sources = list(firing)
            for fp, src in sources:
                if fp == fingerprint or not _all(rule.source, src):
                    continue
                if both and _all(rule.target, src):
                    continue
                if all(src.get(n, "") == labels.get(n, "") for n in rule.equal):
                    return True
        return False


def _all(matchers: tuple[Any, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in matchers)
