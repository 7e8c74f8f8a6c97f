"""The Alerts and Rules screens at 80x24 and 120x40, on a real server with rules evaluated at a fixed time."""

from __future__ import annotations

import asyncio

import pytest

from console.screens.alerts import AlertsScreen
from console.screens.rules import RulesScreen
from tests.console.conftest import make_app, wait_for
from tests.console.test_alerts_screens import firing_disk_alerts

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


def on(key: str, screen_type, ready):
    async def run_before(pilot) -> None:
        await pilot.press(key)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type) and ready(pilot.app.screen),
                       f"screen {key}")

    return run_before


def alerts_shown(screen: AlertsScreen) -> bool:
    """The three alerts are listed with their values (in their rule's unit, once the rules are read)."""
    return screen.table.row_count == 3 and not screen.units.missing(screen.shown())


@pytest.fixture
def alerting_server(own_server):
    """Three firing disk alerts, one per mount of the fed data."""
    server = own_server()
    asyncio.run(firing_disk_alerts(server))
    return server


@SIZES
def test_alerts_screen(snap_compare, alerting_server, size):
    assert snap_compare(make_app(alerting_server.url), terminal_size=size,
                        run_before=on("3", AlertsScreen, alerts_shown))


@SIZES
def test_rules_screen(snap_compare, alerting_server, size):
    async def run_before(pilot) -> None:
        await on("3", AlertsScreen, alerts_shown)(pilot)  # the top bar's counts are in
        await on("4", RulesScreen, lambda s: s.table.row_count == 8)(pilot)  # seven default rules + DiskSeen

    assert snap_compare(make_app(alerting_server.url), terminal_size=size, run_before=run_before)
