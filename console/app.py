"""The console application: screens fed from one server connection.

Live messages are coalesced (the latest per topic) and applied once per refresh tick, to the
visible screen only; hidden screens catch up when they are shown.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
from typing import Any, ClassVar

from textual import constants, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.message import Message
from textual.screen import ModalScreen

from console import format as fmt
from console.client import Link, LinkState, ServerClient
from console.fleet import Fleet
from console.history import DEFAULT_RANGE, RANGE_BY_NAME, RANGES, HistoryBook
from console.palette import ConsoleCommands
from console.screens import FLEET, SCREEN_BY_ID, SCREENS
from console.screens.alert_dialogs import alert_title
from console.screens.alerts import AlertBook
from console.screens.base import LiveScreen
from console.screens.health import HealthBook
from console.screens.help import HelpScreen, help_sections
from console.screens.notifications import NotificationBook
from console.state import LiveData
from console.themes import THEMES, default_theme, next_theme, no_color
from console.widgets.topbar import TopBar
from engine.clock import Clock, SystemClock


class TerminalLost(Message):
    """Posted by the driver's output thread (post_message is thread-safe) when writes fail."""


VIEW_TOPICS = ("application", "business", "processes")
REFRESH_S = 1.0
"""One flush of coalesced updates (and one tick of the age display) per second."""
TERMINAL_CHECK_S = 5.0
CLUSTER_POLL_S = 15.0
"""How often the top bar's replica and leader are read again (the default leader lease)."""


class ConsoleApp(App[None]):
    TITLE = "metrics-service"
    COMMANDS: ClassVar = {ConsoleCommands}
    MODES: ClassVar = {spec.id: spec.screen for spec in (*SCREENS, FLEET)}
    DEFAULT_MODE: ClassVar[str] = SCREENS[0].id
    HORIZONTAL_BREAKPOINTS: ClassVar = [(0, "-narrow"), (120, "-wide")]
    CSS = """
    App:nocolor LiveTable > .datatable--cursor { text-style: reverse; }  /* NO_COLOR: the cursor by reverse video */
    /* At 80 columns not every tab title fits: TopBar shows some by their key only. */
    Screen.-narrow TopBar #age { min-width: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(spec.key, f"show('{spec.id}')", spec.title, show=False) for spec in SCREENS),
        Binding("exclamation_mark", "show('alerts')", "Alerts", show=False),
        Binding("F", "show('fleet')", "Fleet", show=False),
        Binding("b", "toggle_bell", "Bell on new alerts", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("f1", "help", "Help", show=False),
        Binding("ctrl+p", "command_palette", "Palette", show=False, priority=True),
        Binding("p", "pause", "Pause/resume"),
        Binding("r", "cycle_range", "Chart range"),
        Binding("t", "cycle_theme", "Theme", show=False),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "interrupt", "Close dialog / quit", show=False, priority=True),
    ]

    def __init__(self, client: ServerClient, *, clock: Clock | None = None, theme: str | None = None,
                 address: str | None = None, mode: str = "", notice: str = "", fleet: Fleet | None = None) -> None:
        """``clock`` drives the "age" display (inject a fixed one for stable snapshots); ``address``
        replaces the one shown in the top bar; ``mode`` (embedded, remote, attached) leads it there;
        ``notice`` is said once at start; ``fleet`` (several servers) adds the Fleet screen, shown first."""
        self.fleet = fleet
        if fleet is not None:
            self.DEFAULT_MODE = FLEET.id
        super().__init__(ansi_color=True if no_color() else None)
        self._fixed_address = address is not None
        self.client = client
        self.clock = clock or SystemClock()
        self.address = address or client.address
        self.mode, self.notice = mode, notice
        self.theme_name = theme or default_theme()
        self.animation_level = "none"
        self.live = LiveData()
        self.views: dict[str, dict[str, Any]] = {}
        """The latest payload of each view topic (application, business), followed by the screens showing them."""
        self.history = HistoryBook()
        self.range_name = DEFAULT_RANGE
        self.link = client.link
        self.loading: set[tuple[str, str]] = set()
        self._pending: dict[str, tuple[str, float, Any]] = {}
        self._retry_at: float | None = None
        self._was_live = False
        self.alerts = AlertBook()
        self.bell_on_alert = False
        if "alerts" not in client.topics:
            client.topics = (*client.topics, "alerts")
        self.health = HealthBook()
        self.demo = False
        self.who: str | None = None
        """"alice · operator" when the server checks credentials (the top bar shows it)."""
        self.replica: tuple[str, str | None] | None = None
        """(this replica, the leader) when the server is one of several replicas (the top bar shows it)."""
        if "health" not in client.topics:
            client.topics = (*client.topics, "health")
        self.notifications = NotificationBook()

    def on_load(self) -> None:
        """Theme before the first styling pass; connect while the screen is being built, so the
        first frame has data sooner."""
        self.theme = THEMES[self.theme_name]
        self.run_worker(self.client.stream(self.receive, self.link_changed), group="stream", exit_on_error=False)

    def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self.flush)
        self.set_interval(CLUSTER_POLL_S, self._poll_cluster)
        if self.fleet is not None and self.fleet.poll:
            for url in self.fleet.urls:
                self.run_worker(self.fleet.follow(url), group="fleet", exit_on_error=False)
        if self.notice:
            self.notify(self.notice, markup=False, timeout=15)
        if not self.is_headless:
            self._watch_terminal()

    async def on_unmount(self) -> None:
        await self.client.aclose()
        if self.fleet is not None:
            await self.fleet.aclose()

    def get_driver_class(self) -> type[Driver]:
        """On POSIX terminals, a driver that survives the terminal going away (console/driver.py)."""
        if os.name != "posix" or constants.DRIVER:
            return super().get_driver_class()
        from console.driver import ConsoleDriver

        return ConsoleDriver

    # -- terminal loss: an SSH drop must not leave a process spinning on a dead tty --------------

    def _watch_terminal(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            loop.add_signal_handler(sig, self.exit)
        self.set_interval(TERMINAL_CHECK_S, self._check_terminal)

    def on_terminal_lost(self, _: TerminalLost) -> None:
        self.exit()

    def _check_terminal(self) -> None:
        try:
            alive = os.isatty(sys.__stdin__.fileno())
        except (OSError, ValueError, AttributeError):
            alive = False
        if not alive:
            self.exit()

    # -- live data ------------------------------------------------------------------------------

    def receive(self, kind: str, topic: str, ts: float, data: Any) -> None:
        """From the stream: keep only the latest message per topic until the next flush; alert events
        each matter, so they go straight into the alert book (the redraw still waits for the flush)."""
        if topic == "alerts":
            self._alert_event(kind, data)
            return
        if topic == "health":  # every state change counts (the top bar's "down"); redrawn at the flush
            self.health.take(kind, data)
            if kind == "snapshot":
                self.call_later(self.flush)
            return
        if topic == "notifications":  # each delivery attempt counts; redrawn at the flush
            self.notifications.take(kind, data)
            if kind == "snapshot":
                self.call_later(self.flush)
            return
        self._pending[topic] = (kind, ts, data)
        if kind == "snapshot":
            self.call_later(self.flush)  # a (re)subscription: show it now rather than at the next tick

    def link_changed(self, link: Link) -> None:
        self.link = link
        if link.state == LinkState.RECONNECTING and link.retry_in is not None:
            self._retry_at = self.clock.now() + link.retry_in
        if link.state == LinkState.LIVE:
            self._fetch_demo_marker()
            self._fetch_identity()
            self._fetch_cluster()
            if self._was_live:
                self.history.invalidate()  # there is a gap to fill from the server
            self._was_live = True
        self._show_status()

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        kind, ts, data = pending.get("system", ("", 0.0, None))
        if isinstance(data, dict):
            self.live.update(kind, ts, data, self.clock.now())
            self.history.extend(ts, data)
        views = {topic: entry[2] for topic, entry in pending.items()
                 if topic in VIEW_TOPICS and isinstance(entry[2], dict)}
        self.views.update(views)
        fleet_dirty = self.fleet is not None and self.fleet.dirty
        if isinstance(data, dict) or views or self.alerts.dirty or self.health.dirty or self.notifications.dirty \
                or fleet_dirty:
            self.alerts.dirty = self.health.dirty = self.notifications.dirty = False
            if self.fleet is not None:
                self.fleet.dirty = False
            self._redraw()
        self._show_status()
        self._load_charts()  # after the figures are on screen: history may take a moment longer

    def _live_screen(self) -> LiveScreen | None:
        """The visible screen when it shows live data and its widgets exist; None before the first
        screen is pushed, while a pushed screen is still composing (it draws itself when it is
        shown: ``screen_shown``), while the app shuts down (it removes the screens' widgets first), or
        after the last screen is gone — a refresh tick can fire at any of these."""
        screen = self.screen_stack[-1] if self.is_running and self.screen_stack else None
        return screen if isinstance(screen, LiveScreen) and screen.is_mounted else None

    def _redraw(self) -> None:
        screen = self._live_screen()
        if screen is not None:
            with self.batch_update():
                screen.refresh_data()

    def _status_screen(self) -> LiveScreen | None:
        """The live screen whose top bar is on view: the visible one, or the one a dialog covers
        (the bar stays readable around a modal, so it keeps moving)."""
        stack = self.screen_stack if self.is_running else []
        screen = next((s for s in reversed(stack) if isinstance(s, LiveScreen)), None)
        return screen if screen is not None and screen.is_mounted else None

    def _show_status(self) -> None:
        screen = self._status_screen()
        if screen is None:
            return
        now = self.clock.now()
        down = self.link.state in (LinkState.CONNECTING, LinkState.RECONNECTING)
        age = self.live.age(now)
        banner = ""
        if self.link.state == LinkState.RECONNECTING:
            wait = math.ceil(max(0.0, (self._retry_at or now) - now))
            banner = (f"Cannot reach {self.address}: {self.link.reason}. "
                      f"{f'Retrying in {wait}s' if wait else 'Retrying now'}"
                      f"{'; the figures shown are stale.' if self.live.system else '.'}")
        late = down or self.link.state == LinkState.LIVE and self.live.is_late(now)
        screen.show_status(self.link, "no data" if age is None else f"{fmt.age(age)} ago", late, banner,
                           down and self.live.system is not None)
        firing, unacked, silenced = self.alerts.counts()
        bar = screen.query_one(TopBar)
        bar.show_counts(firing, unacked, self.health.counts()["down"], silenced)
        bar.show_demo(self.demo)
        bar.show_who(self.who)
        system = self.live.system or {}
        bar.show_host(system.get("hostname"), system.get("uptime_seconds"))
        bar.show_replica(*(self.replica or (None, None)))

    @work(group="identity", exclusive=True, exit_on_error=False)
    async def _fetch_identity(self) -> None:
        """Who the server takes this console for; nothing to show when it checks no credentials
        (embedded on 127.0.0.1) or predates /api/auth/me."""
        reply = await self.client.whoami()
        data = reply.data if reply.ok and isinstance(reply.data, dict) else {}
        self.who = f"{data.get('subject')} · {data.get('role')}" if data.get("authEnabled") else None
        self._show_status()

    def _poll_cluster(self) -> None:
        if self.link.state == LinkState.LIVE:
            self._fetch_cluster()

    @work(group="cluster", exclusive=True, exit_on_error=False)
    async def _fetch_cluster(self) -> None:
        """This replica and the leader when the server is one of several replicas (GET /api/cluster);
        nothing for a single server or one that predates the endpoint."""
        reply = await self.client.get("/api/cluster")
        data = reply.data if reply.ok and isinstance(reply.data, dict) else {}
        replicas, me, leader = data.get("replicas"), data.get("self"), data.get("leader")
        several = isinstance(replicas, list) and len(replicas) > 1 and isinstance(me, str)
        self.replica = (me, leader if isinstance(leader, str) else None) if several else None
        self._show_status()

    @work(group="summary", exclusive=True, exit_on_error=False)
    async def _fetch_demo_marker(self) -> None:
        """Whether the server holds demo data (its summary says so): the top bar labels it."""
        reply = await self.client.get("/api/metrics/summary")
        self.demo = reply.ok and isinstance(reply.data, dict) and reply.data.get("demo") is True
        self._show_status()

    def _alert_event(self, kind: str, data: Any) -> None:
        for alert in self.alerts.take(kind, data):
            self.notify(alert_title(alert).plain,
                        title=f"{alert.get('severity')} alert firing", markup=False,
                        severity="error" if alert.get("severity") == "critical" else "warning")
            if self.bell_on_alert:
                self.bell()
        if kind == "snapshot":
            self.call_later(self.flush)

    def action_toggle_bell(self) -> None:
        self.bell_on_alert = not self.bell_on_alert
        self.notify(f"Terminal bell on new alerts: {'on' if self.bell_on_alert else 'off'}", markup=False)

    def screen_shown(self, screen: LiveScreen) -> None:
        """A live screen became visible: bring it up to date and load the charts it needs."""
        specs = (*SCREENS, FLEET) if self.fleet is not None else SCREENS
        screen.show_header([(spec.key, spec.title) for spec in specs], f"{self.mode} {self.address}".lstrip())
        if screen.TOPICS != self.client.followed:
            self.run_worker(self.client.follow(screen.TOPICS), group="follow", exit_on_error=False)
        self._show_status()
        with self.batch_update():
            screen.refresh_data()
        self._load_charts()

    # -- fleet: several servers, the console showing one of them at a time --------------------

    @work(group="switch", exclusive=True, exit_on_error=False)
    async def switch_server(self, url: str, then: str | None = None) -> None:
        """Point the whole console at another server of the fleet: a new stream, empty books and fresh
        screens (they hold the old server's rules, checks, dashboards); the Fleet screen stays. Then
        show ``then`` (default: the first screen)."""
        if url != self.client.base_url:
            self.workers.cancel_group(self, "stream")
            old = self.client
            self.client = ServerClient(url, topics=old.topics, backoff=old.backoff, timeout=old.timeout,
                                       token=old.token, token_file=old.token_file)
            if not self._fixed_address:
                self.address = self.client.address
            self._forget_server()
            await old.aclose()
            for spec in SCREENS:
                if spec.id != self.current_mode:
                    await self.remove_mode(spec.id)
                    self.add_mode(spec.id, spec.screen)
            self.run_worker(self.client.stream(self.receive, self.link_changed), group="stream", exit_on_error=False)
        self.action_show(then or SCREENS[0].id)

    def _forget_server(self) -> None:
        """Everything learnt from the server shown until now."""
        self.link = self.client.link
        self.live, self.views, self.history = LiveData(), {}, HistoryBook()
        self.loading, self._pending = set(), {}
        self._retry_at, self._was_live = None, False
        self.alerts, self.health, self.notifications = AlertBook(), HealthBook(), NotificationBook()
        self.demo, self.who, self.replica = False, None, None

    # -- chart history --------------------------------------------------------------------------

    def _load_charts(self) -> None:
        """Fetch the history the visible screen lacks, once the stream is live (a request to a
        server that is down would only fail)."""
        screen = self._live_screen()
        if screen is None or self.link.state != LinkState.LIVE or self.live.system is None:
            return
        rng = self.range_name
        missing = [k for k in self.history.missing(screen.CHART_KINDS, rng) if (k, rng) not in self.loading]
        if missing:
            self.loading.update((k, rng) for k in missing)
            self._fetch_charts(missing, rng)

    @work(group="charts", exit_on_error=False)
    async def _fetch_charts(self, kinds: list[str], range_name: str) -> None:
        rng = RANGE_BY_NAME[range_name]
        try:
            replies = await asyncio.gather(*(self.client.chart(k, rng.seconds, rng.step) for k in kinds))
        finally:
            self.loading.difference_update((k, range_name) for k in kinds)
        errors = []
        for kind, reply in zip(kinds, replies, strict=True):
            chart = self.history.chart(kind, range_name)
            error = reply.error
            if reply.ok:
                try:
                    chart.load(reply.data)
                except (ValueError, TypeError, AttributeError):
                    error = "the server's answer is not chart data"
            if error:  # the chart goes on from live data; the next reconnect or resume asks again
                chart.loaded = True
                errors.append(f"{kind}: {error}")
        if errors and self.link.state == LinkState.LIVE:
            self.notify("; ".join(errors), title="Chart history unavailable", severity="warning", markup=False)
        self._redraw()

    # -- actions --------------------------------------------------------------------------------

    def _close_overlays(self) -> None:
        while not isinstance(self.screen, LiveScreen) and len(self.screen_stack) > 1:
            self.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The Fleet key exists only with several servers; the chart range key only on a screen
        whose charts follow it."""
        if action == "cycle_range":
            return not isinstance(self.screen, LiveScreen) or self.screen.follows_range
        return not (action == "show" and parameters == (FLEET.id,) and self.fleet is None)

    def action_show(self, screen_id: str) -> None:
        if screen_id in SCREEN_BY_ID or screen_id == FLEET.id and self.fleet is not None:
            self._close_overlays()
            self.switch_mode(screen_id)

    def action_interrupt(self) -> None:
        """ctrl+c closes the dialog on top with no answer, as esc does (what was typed is dropped,
        not sent); on a screen it quits."""
        if isinstance(self.screen, ModalScreen):
            self.screen.dismiss(None)
        else:
            self.exit()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(help_sections(self.screen, self)))

    async def action_pause(self) -> None:
        await self.client.set_paused(not self.client.paused)
        self._show_status()

    def set_range(self, name: str) -> None:
        self.range_name = name
        self._load_charts()
        self._redraw()

    def action_cycle_range(self) -> None:
        names = [r.name for r in RANGES]
        self.set_range(names[(names.index(self.range_name) + 1) % len(names)])

    def set_theme(self, name: str) -> None:
        self.theme_name = name
        self.theme = THEMES[name]

    def action_cycle_theme(self) -> None:
        self.set_theme(next_theme(self.theme_name))
