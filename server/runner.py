"""Starting and stopping the server: headless (`serve`) or embedded in the console."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from dataclasses import dataclass

from aiohttp import web

from engine.clock import Clock
from engine.engine import Engine
from engine.settings import Settings
from server.app import create_app
from server.metrics_listener import metrics_app
from server.tls import server_context
from server.transport import JsonErrorAppRunner

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    engine: Engine
    runner: web.AppRunner
    url: str
    metrics_runner: web.AppRunner | None = None
    """PROMETHEUS_ENABLED's listener (/metrics only on PROMETHEUS_PORT)."""

    async def stop(self) -> None:
        """Stop accepting requests, then stop schedules and persist everything."""
        if self.metrics_runner is not None:
            await self.metrics_runner.cleanup()
        await self.runner.cleanup()
        await self.engine.stop()


def tune_runtime() -> None:
    """The interpreter settings a server wants. Fewer, cheaper garbage collections: queries and
    scrapes allocate many short-lived tuples, and the default gen-0 threshold (700) makes collections
    a large share of a big query's time."""
    gc.freeze()  # what is loaded at start (series, index) is long-lived: keep it out of every pass
    gc.set_threshold(50_000, 20, 20)
    # Query threads are CPU-bound and share the GIL with the event loop: a 1 ms switch interval (5 ms
    # by default) lets the loop answer /livez between their slices instead of after several of them.
    sys.setswitchinterval(0.001)


async def start_server(settings: Settings, clock: Clock | None = None, *, collect_system: bool = True,
                       start_schedules: bool = True, repair: bool = False) -> RunningServer:
    """Open the engine, start collecting and listen; port 0 picks a free port."""
    ssl_context = server_context(settings)
    engine = Engine(settings, clock, collect_system=collect_system, repair=repair)
    try:
        engine.open()
    except Exception:
        engine.close()
        raise
    tune_runtime()
    try:
        app = create_app(engine)  # SettingsError: authentication on with nothing to check credentials
    except Exception:
        engine.close()
        raise
    runner = JsonErrorAppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0,
                                read_timeout=settings.read_timeout)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        engine.close()
        raise OSError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
    metrics_runner = None
    if settings.prometheus_enabled:
        metrics_runner = web.AppRunner(metrics_app(app), access_log=None, handle_signals=False)
        await metrics_runner.setup()
        try:
            await web.TCPSite(metrics_runner, settings.host, settings.prometheus_port, ssl_context=ssl_context).start()
        except OSError as exc:
            await metrics_runner.cleanup()
            await runner.cleanup()
            engine.close()
            raise OSError(f"cannot listen on {settings.host}:{settings.prometheus_port} (PROMETHEUS_PORT): "
                          f"{exc.strerror}") from None
    host, port = runner.addresses[0][:2]
    scheme = "https" if ssl_context is not None else "http"
    url = f"{scheme}://{host if ':' not in host else f'[{host}]'}:{port}"
    engine.serving_at(url)
    if start_schedules:
        await engine.start()
    return RunningServer(engine, runner, url, metrics_runner)


async def serve(settings: Settings, *, repair: bool = False) -> None:
    """Run headless until SIGTERM or SIGINT, then shut down cleanly. The handlers are in place before
    the port opens: a SIGTERM while the engine still starts (``/livez`` already answers) stops it
    cleanly once started, rather than killing it before anything is flushed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await start_server(settings, repair=repair)
    log.info("listening", extra={"fields": {"url": server.url, "data_dir": str(settings.data_dir)}})
    loop.add_signal_handler(signal.SIGHUP, server.engine.reload_rules_soon)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await server.stop()
        log.info("stopped")
