"""Alerts with a silenced alert, and the Silences view, at 80x24 and 120x40 (issue 9, item 1)."""

from __future__ import annotations

import asyncio

import pytest

from console.screens.alerts import AlertsScreen
from console.screens.silences import SilencesScreen
from tests.console.conftest import make_app, wait_for
from tests.console.test_alerts_snapshots import alerts_shown
from tests.console.test_silences import home_silenced

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


@pytest.fixture
def silenced_server(own_server):
    """Three firing disk alerts, the /home one silenced by bob@ops."""
    server = own_server()
    asyncio.run(home_silenced(server))
    return server


async def alerts_in(pilot) -> None:
    await pilot.press("3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AlertsScreen) and alerts_shown(pilot.app.screen)
                   and "silenced" in str(pilot.app.screen.query_one("#counts").content), "the alerts")


@SIZES
def test_alerts_with_a_silenced_alert(snap_compare, silenced_server, size):
    assert snap_compare(make_app(silenced_server.url), terminal_size=size, run_before=alerts_in)


@SIZES
def test_silences_view(snap_compare, silenced_server, size):
    async def run_before(pilot) -> None:
        await alerts_in(pilot)
        await pilot.press("S")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SilencesScreen)
                       and pilot.app.screen.table.row_count == 1, "the silences view")

    assert snap_compare(make_app(silenced_server.url), terminal_size=size, run_before=run_before)
