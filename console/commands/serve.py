"""`metrics-service serve`: the headless server."""

from __future__ import annotations

import argparse
import asyncio

from console.commands.common import add_settings_options, fail, settings_from
from engine.rulefiles.loader import RuleLoadError
from engine.settings import SettingsError
from engine.tsdb.backend import StoreError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the headless server (REST API, /metrics, WebSocket)",
                       description="Run the headless server until SIGTERM or SIGINT.")
    p.add_argument("--host", help="address to listen on (default: $HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: $PORT or 3000)")
    p.add_argument("--repair", action="store_true",
                   help="move a damaged metrics.db, alerts.db or managed rule file aside "
                        "(NAME.damaged-TIME) and start with a new one, instead of refusing to start")
    add_settings_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.logs import setup_logging
    from server.runner import serve

    try:
        settings = settings_from(args)
    except SettingsError as exc:
        return fail(str(exc))
    setup_logging(settings.log_level, settings.service_name, json_lines=settings.node_env == "production")
    try:
        asyncio.run(serve(settings, repair=args.repair))
    except (StoreError, OSError, SettingsError) as exc:  # SettingsError: a route naming no channel
        return fail(str(exc))
    except RuleLoadError as exc:
        return fail("rules cannot be loaded:\n  " + "\n  ".join(exc.errors))
    return 0
