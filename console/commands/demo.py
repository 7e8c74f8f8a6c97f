"""`metrics-service demo`: the simulated booking platform, reporting to a server.

Without ``--server`` it starts the server in-process, on its own data dir (metrics-service-demo
beside the usual one, never $DATA_DIR), marked as holding demo data.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

from console.commands.common import fail
from demo.options import DemoOptions


def add_parser(sub: argparse._SubParsersAction) -> None:
    defaults = DemoOptions()
    p = sub.add_parser("demo", help="run the demo booking platform (services, traffic, failure episodes)",
                       description="Start small booking, payment, inventory and notification services on "
                                   "127.0.0.1 with customer traffic and a failure episode every few minutes; "
                                   "register them with a server (scrape targets, health checks) and push "
                                   "business metrics to it. Without --server, start one in-process on its own "
                                   "demo data dir. Ctrl-C stops everything.")
    p.add_argument("--server", metavar="URL", type=server_url, help="report to a running server instead")
    p.add_argument("--token", metavar="TOKEN",
                   help="admin token or API key for a --server with authentication on (default: "
                        "$METRICS_SERVICE_TOKEN, else the file ~/.config/metrics-service/token)")
    add_demo_options(p, defaults)
    p.add_argument("--duration", metavar="DURATION", type=duration,
                   help="stop after this long, e.g. 10m (default: run until Ctrl-C)")
    p.add_argument("--port", type=int, default=0,
                   help="port of the in-process server (default: a free one)")
    p.add_argument("--config", metavar="FILE", help="YAML config file of the in-process server")
    p.add_argument("--data-dir", metavar="DIR", type=Path,
                   help="data dir of the in-process server (default: the XDG data dir's metrics-service-demo)")
    p.set_defaults(func=run)


def add_demo_options(p: argparse.ArgumentParser, defaults: DemoOptions) -> None:
    """What shapes the simulation; shared with the console's --demo."""
    p.add_argument("--seed", type=int, default=defaults.seed,
                   help=f"random seed: the same seed makes the same run (default: {defaults.seed})")
    p.add_argument("--rate", type=positive_number, default=defaults.rate,
                   help=f"bookings per second on average (default: {defaults.rate:g})")
    p.add_argument("--episode-every", metavar="DURATION", type=duration, default=defaults.episode_every,
                   help=f"time between failure episodes, 0 for none (default: {defaults.episode_every:g}s)")
    p.add_argument("--redis-url", metavar="URL", default=defaults.redis_url,
                   help=f"the Redis the platform's health checks watch (default: {defaults.redis_url})")
    p.add_argument("--postgres-url", metavar="URL", default=defaults.postgres_url,
                   help=f"the PostgreSQL they watch (default: {defaults.postgres_url})")


def server_url(text: str) -> str:
    from console.client import normalise_url

    try:
        return normalise_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def duration(text: str) -> float:
    from engine.settings import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return seconds


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1000")
    return value


def options_from(args: argparse.Namespace) -> DemoOptions:
    return dataclasses.replace(DemoOptions(), seed=args.seed, rate=args.rate, episode_every=args.episode_every,
                               redis_url=args.redis_url, postgres_url=args.postgres_url)


def demo_settings(config: str | None, data_dir: Path | None, port: int = 0) -> Any:
    """The in-process server's settings: loopback, the demo's data dir, marked as demo (SettingsError)."""
    from engine.settings import demo_data_dir, load_settings

    return load_settings(config_file=config, overrides={
        "host": "127.0.0.1", "port": port, "data_dir": data_dir or demo_data_dir(), "demo": True})


def run(args: argparse.Namespace) -> int:
    import asyncio

    import httpx

    from console.token_source import find_token
    from demo.runner import run_until_stopped
    from engine.datadir import DataDirBusy
    from engine.logs import setup_logging
    from engine.settings import SettingsError
    from engine.tsdb.backend import StoreError

    server = settings = None
    url: str = args.server or ""
    try:
        token = find_token(args.token) if url else None
    except ValueError as exc:
        return fail(str(exc))
    if not url:
        try:
            settings = demo_settings(args.config, args.data_dir, args.port)
        except SettingsError as exc:
            return fail(str(exc))
    setup_logging(settings.log_level if settings else "info", "metrics-service-demo")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per push is noise
    if settings is not None:
        from console.embedded import EmbeddedServer

        server = EmbeddedServer(settings)
        server.start()
        try:
            url = server.wait_ready()
        except DataDirBusy as exc:
            return fail(f"{exc} (another demo is running: stop it, or give --data-dir or --server)")
        except (StoreError, OSError, TimeoutError) as exc:
            return fail(str(exc))
    from demo.platform import DemoPlatform

    platform = DemoPlatform(url, options_from(args), token)

    def started() -> None:
        print("metrics-service demo: the booking platform is running (demo data)", flush=True)
        for line in platform.describe():
            print(f"  {line}", flush=True)
        if server is not None:
            print(f"  data dir      {server.settings.data_dir}", flush=True)
        print(f"  console       metrics-service --server {url}", flush=True)
        print("Ctrl-C stops the traffic, the services" + (" and the server." if server else "."), flush=True)

    try:
        asyncio.run(run_until_stopped(platform, args.duration, started))
    except httpx.HTTPError as exc:
        return fail(f"cannot reach the server at {url}: {exc}")
    except OSError as exc:
        return fail(f"the demo could not start: {exc}")
    finally:
        if server is not None:
            server.stop()
    print("metrics-service demo: stopped", file=sys.stderr, flush=True)
    return 0
