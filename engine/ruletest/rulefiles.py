"""The rule files a test file names: found as promtool finds them, validated and counted, not evaluated yet.

Recording and alerting rules come with the rules engine; until then the runner only needs to
know whether any exist, so that tests depending on them are reported as not run, never as passed.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

from engine.rules.loader import RuleLoadError, load_rule_file
from engine.rules.model import RECORDING


@dataclass(slots=True)
class RuleCounts:
    recording: int = 0
    alerting: int = 0
    unmatched: list[str] = field(default_factory=list)  # patterns that matched no file

    @property
    def total(self) -> int:
        return self.recording + self.alerting


def resolve(patterns: list[str], base_dir: str) -> tuple[list[str], list[str]]:
    """Paths matching each glob (relative ones from ``base_dir``), and the patterns matching nothing."""
    paths: list[str] = []
    unmatched: list[str] = []
    for pattern in patterns:
        if pattern and not os.path.isabs(pattern):
            pattern = os.path.join(base_dir, pattern)
        found = sorted(glob.glob(pattern))
        if not found:
            unmatched.append(pattern)
        paths.extend(found)
    return paths, unmatched


def count_rules(patterns: list[str], base_dir: str) -> RuleCounts:
    """How many recording and alerting rules the files define; raises :class:`RuleLoadError` for bad files."""
    paths, unmatched = resolve(patterns, base_dir)
    counts = RuleCounts(unmatched=unmatched)
    errors: list[str] = []
    for path in paths:
        try:
            groups = load_rule_file(path)
        except RuleLoadError as exc:
            errors.extend(exc.errors)
            continue
        for rule in (rule for group in groups for rule in group.rules):
            if rule.kind == RECORDING:
                counts.recording += 1
            else:
                counts.alerting += 1
    if errors:
        raise RuleLoadError(errors)
    return counts
