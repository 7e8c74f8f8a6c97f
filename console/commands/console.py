"""`metrics-service console` (and `metrics-service` alone): the terminal console.

Without ``--server`` it starts the engine and server in-process (embedded mode) and connects to
them over 127.0.0.1 like to any other server. Logs (the embedded server's and the console's own)
go to a file in the data dir, never to the terminal the console draws on.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import logging
import sys
import threading
from pathlib import Path
from typing import IO

from console.commands.common import add_settings_options, fail, settings_from
from console.commands.demo import add_demo_options, demo_settings, options_from
from console.themes import THEMES
from demo.options import DemoOptions

LOG_FILE = "console.log"
log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("console", help="the terminal console (the default command)",
                       description="Open the monitoring console. Without --server, start the engine and "
                                   "server in-process (data in DATA_DIR) and connect to them.")
    p.add_argument("--server", metavar="URL[,URL...]", type=_server_urls,
                   help="connect to a running server, e.g. http://host:3000; several, comma-separated, "
                        "for the Fleet screen (default: SERVERS from the config)")
    p.add_argument("--token", metavar="TOKEN",
                   help="bearer token or API key for a server with authentication on "
                        "(default: $METRICS_SERVICE_TOKEN, else the file ~/.config/metrics-service/token)")
    p.add_argument("--theme", choices=list(THEMES), help="colour theme (default: dark; ansi if NO_COLOR is set)")
    p.add_argument("--demo", action="store_true",
                   help="run the demo booking platform and show its data (its own data dir, labelled DEMO DATA)")
    add_demo_options(p, DemoOptions())
    add_settings_options(p)
    p.set_defaults(func=run)


def _server_urls(text: str) -> list[str]:
    try:
        return server_urls(text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def server_urls(items: list[str] | tuple[str, ...]) -> list[str]:
    """Base URLs, each once, in the order given; ValueError names the first that is not one."""
    from console.client import normalise_url

    urls = [normalise_url(item) for item in items if item.strip()]
    if not urls:
        raise ValueError("no server given")
    return list(dict.fromkeys(urls))


def _has_terminal() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _log_to_file(data_dir: Path, level: str, service: str) -> IO[str]:
    """Every log line, warning and thread crash goes to a file: stderr is where Textual draws."""
    from engine.logs import setup_logging

    data_dir.mkdir(parents=True, exist_ok=True)
    stream = open(data_dir / LOG_FILE, "a", encoding="utf-8")  # noqa: SIM115 -- closed by run()
    setup_logging(level, service, stream=stream)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per chart request is noise
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_death
    return stream


def _log_thread_death(args: threading.ExceptHookArgs) -> None:
    name = args.thread.name if args.thread else "?"
    if isinstance(args.exc_value, OSError) and args.exc_value.errno == errno.EIO:
        log.info("the terminal went away (thread %s: %s)", name, args.exc_value.strerror)
        return
    log.error("thread %s died", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def run(args: argparse.Namespace) -> int:
    from console.token_source import find_token, token_file_in_use
    from engine.datadir import DataDirBusy
    from engine.settings import SettingsError
    from engine.tsdb.backend import StoreError

    if not _has_terminal():
        return fail("the console needs a terminal (stdin and stdout must be a TTY); "
                    "for a headless server run 'metrics-service serve'")
    urls: list[str] = args.server or []
    url = urls[0] if urls else ""
    try:
        token = find_token(args.token)
    except ValueError as exc:
        return fail(str(exc))
    try:
        settings = demo_settings(args.config, args.data_dir) if args.demo and not url else settings_from(args)
        if not url and settings.servers and not args.demo:
            urls = server_urls(settings.servers)
            url = urls[0]
        stream = _log_to_file(settings.data_dir, settings.log_level, settings.service_name)
    except SettingsError as exc:
        return fail(str(exc))
    except ValueError as exc:
        return fail(f"SERVERS: {exc}")
    except OSError as exc:
        return fail(f"cannot write the log file in {exc.filename or 'the data dir'}: {exc.strerror}")
    server = demo = None
    mode, notice = "remote", ""
    if not url:
        from console.embedded import EmbeddedServer

        server = EmbeddedServer(dataclasses.replace(settings, host="127.0.0.1", port=0))
        server.start()  # opens the store while the UI is imported
    try:
        from console.app import ConsoleApp
        from console.client import ServerClient

        if server is not None:
            try:
                url = server.wait_ready()
            except DataDirBusy as exc:  # a server already owns the data dir: be its console instead
                if not exc.holder.get("url"):
                    return fail(str(exc))
                url, server, mode = exc.holder["url"], None, "attached"
                notice = (f"{settings.data_dir} is in use by the server of pid {exc.holder.get('pid')}: "
                          f"this console is attached to it ({url}) instead of starting a second engine.")
                log.info("data dir in use by a running server, connecting to it", extra={"fields": {
                    "url": url, "pid": exc.holder.get("pid")}})
            except (StoreError, OSError, TimeoutError) as exc:
                return fail(str(exc))
        if server is not None:
            mode = "embedded"
        if args.demo and (server is not None or args.server):  # a busy demo dir: its own demo is running
            import httpx

            from demo.runner import DemoThread

            demo = DemoThread(url, options_from(args), token)
            demo.start()
            try:
                demo.wait_ready()
            except (httpx.HTTPError, OSError, TimeoutError) as exc:
                return fail(f"the demo could not start: {exc}")
        from console.fleet import Fleet

        token_file = token_file_in_use(args.token)
        fleet = Fleet(urls, token, token_file=token_file) if len(urls) > 1 else None
        client = ServerClient(url, token=token, token_file=token_file)
        app = ConsoleApp(client, theme=args.theme, mode=mode, notice=notice, fleet=fleet)
        app.run()
        return app.return_code or 0
    finally:
        if demo is not None:
            demo.stop()
        if server is not None:
            server.stop()
        stream.close()
