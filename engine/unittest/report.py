"""``rules test`` over several files, printed the way ``promtool test rules`` prints.

Per file: ``Unit Testing:  FILE`` on stdout, then ``  SUCCESS`` or ``  FAILED:`` with each failure
on stderr; exit status 0 when every file passed, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

from engine.rulefiles.loader import RuleLoadError
from engine.unittest.rulefiles import load_groups
from engine.unittest.runner import GroupOutcome, run_group
from engine.unittest.testfile import UnitTestFileError, load_test_file

EXIT_OK = 0
EXIT_FAILED = 1


def run_file(path: str, *, from_disk: bool = False) -> GroupOutcome:
    """Every test group of one file, merged; a file that cannot be read or decoded is one error."""
    try:
        with open(path, encoding="utf-8") as fh:
            test_file = load_test_file(fh.read())
    except (OSError, UnicodeDecodeError) as exc:
        return GroupOutcome(errors=[f"{path}: cannot read the test file: {exc}"])
    except UnitTestFileError as exc:
        return GroupOutcome(errors=[f"{path}: {line}" for line in str(exc).splitlines()])
    order = test_file.group_eval_order
    repeated = next((name for i, name in enumerate(order) if name in order[:i]), None)
    if repeated is not None:
        return GroupOutcome(errors=[f"{path}: group name repeated in evaluation order: {repeated}"])
    try:
        rules = load_groups(test_file.rule_files, os.path.dirname(path), order)
    except RuleLoadError as exc:
        return GroupOutcome(errors=[f"{path}: rule_files: {error}" for error in exc.errors])
    total = GroupOutcome(warnings=[f"no file match pattern {pattern}" for pattern in rules.unmatched])
    for group in test_file.tests:
        outcome = run_group(group, path, test_file.evaluation_interval, rules.groups, from_disk=from_disk)
        total.errors += outcome.errors
        total.warnings += outcome.warnings
    return total


def run_files(paths: Sequence[str], out: TextIO | None = None, err: TextIO | None = None, *,
              from_disk: bool = False) -> int:
    """Run and print each file in turn; the exit status promtool would give.

    ``from_disk`` moves samples to the store's SQLite chunks as soon as they are older than the tick
    being evaluated, and all of them before the PromQL cases, so queries read them back from disk."""
    out = out or sys.stdout
    err = err or sys.stderr
    failed = False
    for path in paths:
        print("Unit Testing: ", path, file=out)
        outcome = run_file(path, from_disk=from_disk)
        for warning in outcome.warnings:
            print("  WARNING:", warning, file=err)
        if outcome.errors:
            failed = True
            print("  FAILED:", file=err)
            for error in outcome.errors:
                print(error, file=err)
                print(file=out)
        else:
            print("  SUCCESS", file=out)
        print(file=out)
    return EXIT_FAILED if failed else EXIT_OK

