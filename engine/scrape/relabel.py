"""Relabelling, as Prometheus 2.42's ``model/relabel`` applies it to targets and to scraped series.

Labels are a plain dict (name -> value); a label set to the empty string is removed, as
Prometheus's label builder does. ``process`` returns None when a step drops the whole set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from engine.scrape.config import LABEL_NAME_RE, RelabelConfig


def process(labels: dict[str, str], configs: Iterable[RelabelConfig]) -> dict[str, str] | None:
    """Apply each step in order to ``labels`` (changed in place); None when one drops them."""
    for cfg in configs:
        if not _apply(labels, cfg):
            return None
    return labels


def hashmod(value: str, modulus: int) -> int:
    """The low 64 bits of the value's MD5, big-endian, modulo ``modulus`` (Prometheus's ``sum64``)."""
    return int.from_bytes(hashlib.md5(value.encode("utf-8", "surrogatepass")).digest()[8:], "big") % modulus


def _set(labels: dict[str, str], name: str, value: str) -> None:
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)


def _apply(lb: dict[str, str], cfg: RelabelConfig) -> bool:
    """One step; False when it drops the label set."""
    action = cfg.action
    if action in ("labelmap", "labeldrop", "labelkeep"):
        regex = cfg.regex
        if action == "labelmap":
            for name, value in list(lb.items()):
                if regex.matches(name):
                    _set(lb, regex.replace_all(name, cfg.replacement), value)
        elif action == "labeldrop":
            for name in [n for n in lb if regex.matches(n)]:
                del lb[name]
        else:
            for name in [n for n in lb if not regex.matches(n)]:
                del lb[name]
        return True
    value = cfg.separator.join(lb.get(n, "") for n in cfg.source_labels)
    if action == "drop":
        return not cfg.regex.matches(value)
    if action == "keep":
        return cfg.regex.matches(value)
    if action == "dropequal":
        return lb.get(cfg.target_label, "") != value
    if action == "keepequal":
        return lb.get(cfg.target_label, "") == value
    if action == "replace":
        target = cfg.regex.expand(cfg.target_label, value)
        if target is None:  # no match: nothing is replaced
            return True
        if not LABEL_NAME_RE.fullmatch(target):
            lb.pop(cfg.target_label, None)
            return True
        _set(lb, target, cfg.regex.expand(cfg.replacement, value) or "")
    elif action == "lowercase":
        _set(lb, cfg.target_label, value.lower())
    elif action == "uppercase":
        _set(lb, cfg.target_label, value.upper())
    elif action == "hashmod":
        _set(lb, cfg.target_label, str(hashmod(value, cfg.modulus)))
    return True
