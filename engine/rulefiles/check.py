"""`rules check`: promtool's ``check rules`` report and exit codes, with our stricter validation.

Like promtool, a file with only duplicate rules (a lint finding) prints FAILED but does not fail the run.
"""

from __future__ import annotations

from typing import TextIO

from engine.rulefiles.loader import RuleLoadError, duplicate_rules, load_rule_file

EXIT_OK = 0
EXIT_FAILED = 1


def check_files(paths: list[str], out: TextIO, err: TextIO) -> int:
    """Check each rule file: 0 when all are valid, 1 when any is not (its errors go to ``err``)."""
    failed = False
    for path in paths:
        print(f"Checking {path}", file=out)
        try:
            groups = load_rule_file(path)
        except RuleLoadError as exc:
            failed = True
            _report(exc.errors, err)
        else:
            lint = duplicate_rules(groups)
            if lint:
                _report(lint, err)
            else:
                print(f"  SUCCESS: {sum(len(g.rules) for g in groups)} rules found", file=out)
        print(file=out)
    return EXIT_FAILED if failed else EXIT_OK


def _report(lines: list[str], err: TextIO) -> None:
    print("  FAILED:", file=err)
    for line in lines:
        print(line, file=err)
