"""`metrics-service rules check|test FILE...`: Prometheus rule files and their unit tests, like promtool."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="check Prometheus rule files and run their unit tests",
                       description="Check Prometheus rule files and run their unit tests, as promtool does.")
    rules_sub = p.add_subparsers(dest="rules_command", metavar="SUBCOMMAND", required=True)
    c = rules_sub.add_parser("check", help="validate rule files like `promtool check rules`",
                             description="Validate rule files. Exit status 0 when all are valid, 1 otherwise.")
    c.add_argument("files", nargs="+", metavar="FILE", help="rule file (YAML)")
    c.set_defaults(func=check)
    t = rules_sub.add_parser(
        "test", help="run unit-test files in `promtool test rules` format",
        description="Run unit-test files in `promtool test rules` format (promql_expr_test and alert_rule_test) "
                    "against this server's PromQL and rules engines. "
                    "Exit status 0 when every file passes, 1 when any test fails or a file is invalid.")
    t.add_argument("files", nargs="+", metavar="FILE", help="test file (YAML)")
    t.add_argument("--from-disk", action="store_true",
                   help="flush the input series to the store's SQLite chunks before querying, so every "
                        "sample is read back from disk instead of the in-memory head")
    t.set_defaults(func=test)


def check(args: argparse.Namespace) -> int:
    from engine.rulefiles.check import check_files

    return check_files(args.files, sys.stdout, sys.stderr)


def test(args: argparse.Namespace) -> int:
    from engine.unittest import run_files

    return run_files(args.files, from_disk=args.from_disk)
