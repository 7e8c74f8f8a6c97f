"""The screen registry: one entry per screen, in key order. The number-key bindings, the top bar's
tabs and the palette's "Go to" commands are all generated from it, so a new screen (3 Alerts,
4 Rules, 5 Explore) is one entry here and one module."""

from __future__ import annotations

from dataclasses import dataclass

from console.screens.alerts import AlertsScreen
from console.screens.base import LiveScreen
from console.screens.business import BusinessScreen
from console.screens.dashboards import DashboardsScreen
from console.screens.explore import ExploreScreen
from console.screens.fleet import FleetScreen
from console.screens.health import HealthScreen
from console.screens.notifications import NotificationsScreen
from console.screens.overview import OverviewScreen
from console.screens.rules import RulesScreen
from console.screens.services import ServicesScreen
from console.screens.system import SystemScreen


@dataclass(frozen=True)
class ScreenSpec:
    key: str
    id: str
    screen: type[LiveScreen]
    about: str

    @property
    def title(self) -> str:
        return self.screen.TITLE


SCREENS = (
    ScreenSpec("1", "overview", OverviewScreen, "the host at a glance: CPU, memory, load, disks, network"),
    ScreenSpec("2", "system", SystemScreen, "per-core bars, mounts, interfaces and disk devices"),
    ScreenSpec("3", "alerts", AlertsScreen, "firing, pending and resolved alerts: acknowledge, resolve, silence"),
    ScreenSpec("4", "rules", RulesScreen, "alerting rules: state, errors; create, edit, enable, delete"),
    ScreenSpec("5", "explore", ExploreScreen, "PromQL: instant results as a table, ranges as a chart, history"),
    ScreenSpec("6", "services", ServicesScreen, "per service: up, requests, errors, latency; details; scrape targets"),
    ScreenSpec("7", "business", BusinessScreen, "bookings, revenue, active users, conversion funnels, satisfaction"),
    ScreenSpec("8", "health", HealthScreen, "health checks: state, latency, uptime, certificates; add, check now"),
    ScreenSpec("9", "notifications", NotificationsScreen,
               "channels and their health, the delivery log; test a channel, see what was sent"),
    ScreenSpec("0", "dashboards", DashboardsScreen,
               "the server's Grafana dashboards drawn in the terminal: variables, range, refresh"),
)
SCREEN_BY_ID = {spec.id: spec for spec in SCREENS}
FLEET = ScreenSpec("F", "fleet", FleetScreen,
                   "every server of --server a,b,c: state, host figures, alerts; enter switches to one")
"""Only with several servers: not among SCREENS, so a single-server console has no trace of it."""
