"""``rules test`` over several files, printed the way ``promtool test rules`` prints.

Per file: ``Unit Testing:  FILE`` on stdout, then ``  SUCCESS`` or ``  FAILED:`` with each failure
on stderr; exit status 0 when every file passed, 1 otherwise. Cases that cannot run yet (alerting
rules, tests over rule files) are listed as NOT RUN YET and a file with such cases never prints
SUCCESS, only what passed, so a partial run cannot be mistaken for a full one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

from engine.rules.loader import RuleLoadError
from engine.ruletest.rulefiles import count_rules
from engine.ruletest.runner import GroupOutcome, run_group
from engine.ruletest.testfile import UnitTestFileError, load_test_file

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
        rules = count_rules(test_file.rule_files, os.path.dirname(path))
    except RuleLoadError as exc:
        return GroupOutcome(errors=[f"{path}: rule_files: {error}" for error in exc.errors])
    total = GroupOutcome(warnings=[f"no file match pattern {pattern}" for pattern in rules.unmatched])
    for group in test_file.tests:
        outcome = run_group(group, path, test_file.evaluation_interval, rules, from_disk=from_disk)
        total.errors += outcome.errors
        total.warnings += outcome.warnings
        total.not_run += outcome.not_run
        total.passed += outcome.passed
    return total


def run_files(paths: Sequence[str], out: TextIO | None = None, err: TextIO | None = None, *,
              from_disk: bool = False) -> int:
    """Run and print each file in turn; the exit status promtool would give.

    ``from_disk`` reads every sample from the store's SQLite chunks instead of its in-memory head."""
    out = out or sys.stdout
    err = err or sys.stderr
    failed = False
    for path in paths:
        print("Unit Testing: ", path, file=out)
        outcome = run_file(path, from_disk=from_disk)
        for warning in outcome.warnings:
            print("  WARNING:", warning, file=err)
        for note in outcome.not_run:
            print("  NOT RUN YET:", note, file=out)
        if outcome.errors:
            failed = True
            print("  FAILED:", file=err)
            for error in outcome.errors:
                print(error, file=err)
                print(file=out)
        elif outcome.not_run:
            print(f"  PASSED {_cases(outcome.passed)}; NOT RUN YET {_cases(len(outcome.not_run))}", file=out)
        else:
            print("  SUCCESS", file=out)
        print(file=out)
    return EXIT_FAILED if failed else EXIT_OK


def _cases(count: int) -> str:
    return f"{count} case" if count == 1 else f"{count} cases"
