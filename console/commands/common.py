"""What several subcommands share: settings options and the one way to report a start-up error."""

from __future__ import annotations

import argparse
import sys

from engine.settings import Settings, load_settings

EXIT_USAGE = 2


def add_settings_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML config file (default: $METRICS_SERVICE_CONFIG)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where history is kept (default: $DATA_DIR or the XDG data dir)")


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from env, .env and config file, with the command's flags on top (SettingsError on bad input)."""
    overrides = {k: getattr(args, k, None) for k in ("host", "port", "data_dir")}
    return load_settings(config_file=getattr(args, "config", None), overrides=overrides)


def fail(message: str) -> int:
    print(f"metrics-service: error: {message}", file=sys.stderr)
    return EXIT_USAGE
