"""The rule files a test file names, found, loaded and ordered as promtool 2.42 does it."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

from engine.rulefiles.loader import load_files
from engine.rulefiles.model import RuleGroup


@dataclass(slots=True)
class RuleFiles:
    groups: list[RuleGroup] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # patterns that matched no file (a warning in promtool)


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
        paths.extend(path for path in found if path not in paths)  # promtool keys groups by file and name
    return paths, unmatched


def load_groups(patterns: list[str], base_dir: str, order: list[str]) -> RuleFiles:
    """Every group of the matched files in evaluation order; raises :class:`RuleLoadError` for bad files.

    promtool sorts groups by their index in ``group_eval_order``, where an unlisted group counts as
    index 0, and breaks ties by Go map order, i.e. at random. We break ties by file order instead,
    so a file that only passes for one order of unlisted groups passes here and fails there now and then.
    """
    paths, unmatched = resolve(patterns, base_dir)
    groups = load_files(paths)
    rank = {name: i for i, name in enumerate(order)}
    return RuleFiles(sorted(groups, key=lambda g: rank.get(g.name, 0)), unmatched)
