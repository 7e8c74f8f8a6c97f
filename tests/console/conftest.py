"""A real engine and server for the console, on a fixed clock and fed fixed node_* samples.

The server runs in its own thread and loop (the console's embedded mode), so the same fixture
serves async Pilot tests and the synchronous snapshot tests, whose app runs its own loop.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from console.app import ConsoleApp
from console.client import Backoff, LinkState, ServerClient
from console.embedded import EmbeddedServer
from engine.clock import FixedClock, to_ms
from engine.collectors.processes import ProcessRow
from engine.settings import load_settings
from engine.tsdb.types import Family

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a multiple of every chart step
STEP_S = 5
HISTORY_S = 3600
CORES = 4
GIB = 2**30


def _wave(t: float, period: float, low: float, high: float, phase: float = 0.0) -> float:
    return low + (high - low) * (0.5 + 0.5 * math.sin(2 * math.pi * t / period + phase))


class HostModel:
    """A made-up host whose counters advance by fixed, time-dependent rates: the same samples on
    every run, so charts and snapshots are stable."""

    def __init__(self, start: float) -> None:
        self.t = start
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def _count(self, name: str, labels: dict[str, str], rate: float, dt: float) -> float:
        key = (name, tuple(sorted(labels.items())))
        self.counters[key] = self.counters.get(key, 1000.0) + rate * dt
        return self.counters[key]

    def families(self, t: float) -> list[Family]:
        dt, self.t = t - self.t, t
        cpu = Family("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.")
        for core in range(CORES):
            busy = _wave(t, 900, 0.05, 0.85, core)
            shares = {"user": busy * 0.7, "system": busy * 0.2, "iowait": busy * 0.05, "steal": busy * 0.05}
            shares["idle"] = 1.0 - busy
            for mode, share in shares.items():
                labels = {"cpu": str(core), "mode": mode}
                cpu.add(self._count(cpu.name, labels, share, dt), labels)
        out = [cpu]

        def gauge(name: str, value: float, labels: dict[str, str] | None = None) -> None:
            fam = Family(name, "gauge", name)
            fam.add(value, labels)
            out.append(fam)

        gauge("node_memory_MemTotal_bytes", 16 * GIB)
        gauge("node_memory_MemAvailable_bytes", _wave(t, 1800, 4, 11) * GIB)
        gauge("node_memory_MemFree_bytes", 2 * GIB)
        gauge("node_memory_Buffers_bytes", 0.25 * GIB)
        gauge("node_memory_Cached_bytes", 3 * GIB)
        gauge("node_memory_SwapTotal_bytes", 2 * GIB)
        gauge("node_memory_SwapFree_bytes", 1.5 * GIB)
        for window, period, phase in (("1", 600, 0.0), ("5", 1500, 1.0), ("15", 3600, 2.0)):
            gauge(f"node_load{window}", _wave(t, period, 0.4, 3.2, phase))
        gauge("node_boot_time_seconds", T0 - 12 * 86400 - 3 * 3600)
        gauge("node_procs_running", 3)
        gauge("node_procs_blocked", 0)
        gauge("node_processes_pids", 412)
        gauge("node_processes_threads", 1290)
        mounts = (("/", "/dev/sda1", 100 * GIB, 0.62), ("/home", "/dev/sdb1", 500 * GIB, 0.93),
                  ("/srv/[data]", "/dev/nvme0n1p1", 2000 * GIB, 0.35))  # brackets: must not be read as markup
        for field in ("size", "free", "avail"):
            fam = Family(f"node_filesystem_{field}_bytes", "gauge", "filesystem")
            for mount, device, size, used in mounts:
                free = size * (1 - used)
                fam.add({"size": size, "free": free, "avail": free * 0.95}[field],
                        {"mountpoint": mount, "device": device, "fstype": "ext4"})
            out.append(fam)
        for name, rate in (("read_bytes", 2e6), ("written_bytes", 8e6), ("reads_completed", 120),
                           ("writes_completed", 340), ("io_time_seconds", 0.2)):
            fam = Family(f"node_disk_{name}_total", "counter", "disk")
            for i, device in enumerate(("nvme0n1", "sda")):
                labels = {"device": device}
                fam.add(self._count(fam.name, labels, rate * _wave(t, 700, 0.1, 1.0, i), dt), labels)
            out.append(fam)
        for direction in ("receive", "transmit"):
            for name, rate in (("bytes", 3e6), ("packets", 2500), ("errs", 0.0), ("drop", 0.2)):
                fam = Family(f"node_network_{direction}_{name}_total", "counter", "network")
                for i, device in enumerate(("eth0", "lo", "wlan0")):
                    labels = {"device": device}
                    scale = (1.0, 0.1, 0.02)[i] * (1.0 if direction == "receive" else 0.4)
                    fam.add(self._count(fam.name, labels, rate * scale * _wave(t, 1200, 0.2, 1.0, i), dt), labels)
                out.append(fam)
        for name, rate in (("node_context_switches_total", 5200), ("node_intr_total", 3100)):
            fam = Family(name, "counter", name)
            fam.add(self._count(name, {}, rate, dt))
            out.append(fam)
        return out


PROCESSES = (  # pid, user, CPU %, RSS, command, name: the made-up host's processes
    (1, "root", 0.0, 12_300_000, "/sbin/init splash", "systemd"),
    (412, "root", 0.3, 48_200_000, "/usr/lib/systemd/systemd-journald", "systemd-journal"),
    (815, "postgres", 12.4, 512_000_000, "postgres: 16/main: checkpointer", "postgres"),
    (816, "postgres", 31.7, 1_900_000_000, "postgres: 16/main: booking booking 10.0.0.7(51234) SELECT", "postgres"),
    (1022, "www-data", 54.2, 380_000_000, "gunicorn: worker [booking-api]", "gunicorn"),
    (1023, "www-data", 48.9, 366_000_000, "gunicorn: worker [booking-api]", "gunicorn"),
    (1377, "redis", 6.1, 2_400_000_000, "redis-server 127.0.0.1:6379", "redis-server"),
    (2048, "ops", 97.5, 96_000_000, "python -c print('[b]not markup[/b]')", "python [b]x[/b]"),
    (3301, "root", 0.0, 0, "[kworker/0:1-events]", "kworker/0:1-events"),
    (4096, "nginx", 2.2, 22_000_000, "nginx: worker process", "nginx"),
)


def fixed_processes(n: int) -> tuple[int, list[ProcessRow]]:
    """The made-up host's process source: the same rows on every run (412 processes in all)."""
    return 412, [ProcessRow(*p) for p in PROCESSES]


class FedServer:
    """An EmbeddedServer on a FixedClock, with the host model's history up to T0 already stored."""

    def __init__(self, data_dir: Path, port: int = 0, env: dict[str, str] | None = None) -> None:
        """``env``: more settings (e.g. a ``NOTIFICATIONS`` section)."""
        self.clock = FixedClock(T0 - HISTORY_S)
        self.host = HostModel(T0 - HISTORY_S - STEP_S)
        settings = load_settings(env={"DATA_DIR": str(data_dir), "PORT": str(port), "COLLECTION_INTERVAL": "5",
                                      "FLUSH_INTERVAL": "3600", **(env or {})}, dotenv_path=None)
        self.embedded = EmbeddedServer(settings, self.clock, collect_system=False, start_schedules=False)

    def start(self) -> FedServer:
        self.embedded.start()
        self.url = self.embedded.wait_ready()
        self.port = int(self.url.rsplit(":", 1)[1])
        self.embedded.running.engine.processes.source = fixed_processes
        self.call(self._feed_until, T0)
        return self

    def call(self, fn: Callable[..., object], *args: object) -> object:
        """Run ``fn`` on the server's loop: the store belongs to that thread."""
        async def run() -> object:
            return fn(*args)

        assert self.embedded.loop is not None
        return asyncio.run_coroutine_threadsafe(run(), self.embedded.loop).result(30)

    def _feed_until(self, end: float) -> None:
        t = self.host.t + STEP_S
        while t <= end:
            self.embedded.running.engine.store.ingest("system", self.host.families(t), to_ms(t))
            t += STEP_S
        self.clock.set(end)

    async def advance(self, seconds: float) -> None:
        """Move time on, store the samples in between and push one `system` update to clients."""
        async def step() -> None:
            self._feed_until(self.clock.now() + seconds)
            await self.embedded.running.engine.collect()

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(step(), self.embedded.loop))

    def stop(self) -> None:
        self.embedded.stop()


@pytest.fixture(scope="module")
def fed_server(tmp_path_factory):
    server = FedServer(tmp_path_factory.mktemp("console-data")).start()
    yield server
    server.stop()


@pytest.fixture
def own_server(tmp_path):
    """A server a test may stop, restart or advance without disturbing others."""
    servers: list[FedServer] = []

    def make(port: int = 0) -> FedServer:
        server = FedServer(tmp_path / "data", port).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def make_app(url: str, **kwargs) -> ConsoleApp:
    """The console as the snapshots see it: fixed clock, fixed address label, dark theme."""
    client = ServerClient(url, backoff=Backoff(0.05, 0.2))
    return ConsoleApp(client, clock=FixedClock(T0), address="metrics.example:3000",
                      theme=kwargs.pop("theme", "dark"), **kwargs)


def settled(app: ConsoleApp) -> bool:
    """Live, with data, and every chart the visible screen needs loaded."""
    if not app.screen_stack:  # the first screen is not pushed yet
        return False
    screen = app.screen
    kinds = getattr(screen, "CHART_KINDS", ())
    return (app.link.state == LinkState.LIVE and app.live.system is not None and not app.loading
            and not app.history.missing(kinds, app.range_name))



async def until_drawn(pilot, attempts: int = 50) -> None:
    """Let the app process events until two screenshots in a row are the same. Under load, work a
    change defers to a later frame (a layout pass after a text changes width, a table's column widths
    after its cells change) can trail the data a snapshot waited for; snapshots wait for the drawing
    to stop changing, and what it settles on is what they compare."""
    shot = None
    for _ in range(attempts):
        await pilot.pause()
        again = pilot.app.export_screenshot()
        if again == shot:
            return
        shot = again
        await pilot.pause(0.02)


@pytest.fixture
def snap_compare(snap_compare):
    """pytest-textual-snapshot's ``snap_compare``, run once the drawing is steady (``until_drawn``)."""
    def compare(app, *, run_before=None, **kwargs):
        async def before(pilot) -> None:
            if run_before is not None and inspect.isawaitable(done := run_before(pilot)):
                await done
            await until_drawn(pilot)

        return snap_compare(app, run_before=before, **kwargs)

    return compare


async def wait_for(pilot, predicate: Callable[[], bool], what: str, attempts: int = 500) -> None:
    """Let the app process events until ``predicate`` holds (bounded: fails, never hangs)."""
    for _ in range(attempts):
        if predicate():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (--dist loadgroup) the console's tests share one worker, one after another:
    snapshots and pty sessions are timing-sensitive, the rest of the suite spreads over the others."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.xdist_group("console"))
