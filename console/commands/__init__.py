"""Subcommands of `metrics-service`. Each module has ``add_parser(subparsers)``, which registers the
command and sets ``func`` to a ``run(args) -> int`` returning the exit code."""
