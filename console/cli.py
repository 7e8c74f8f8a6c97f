"""`metrics-service` command line: the front door for every mode."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from console.commands import console, credentials, demo, rules, serve
from engine import __version__

COMMANDS = (console, demo, rules, serve, credentials)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metrics-service",
        description="Monitoring console and headless metrics server for the booking platform.",
    )
    parser.add_argument("--version", action="version", version=f"metrics-service {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "console")  # the product's face: no command (or only its options) opens the console
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
