"""Each screen at 80x24 and 120x40, on a real server fed fixed samples at fixed times."""

from __future__ import annotations

import asyncio

import pytest

from console.client import LinkState
from console.screens.help import HelpScreen
from tests.console.conftest import make_app, settled, wait_for

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


def on_screen(key: str):
    """run_before: wait for the data, switch to screen ``key``, wait for its charts."""
    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: settled(pilot.app), "the first data")
        await pilot.press(key)
        await wait_for(pilot, lambda: settled(pilot.app), f"screen {key}'s charts")

    return run_before


@SIZES
def test_overview(snap_compare, fed_server, size):
    assert snap_compare(make_app(fed_server.url), terminal_size=size, run_before=on_screen("1"))


@SIZES
def test_system(snap_compare, fed_server, size):
    assert snap_compare(make_app(fed_server.url), terminal_size=size, run_before=on_screen("2"))


@pytest.mark.parametrize("theme", ["light", "ansi"])
def test_overview_themes(snap_compare, fed_server, theme):
    assert snap_compare(make_app(fed_server.url, theme=theme), terminal_size=(80, 24), run_before=on_screen("1"))


def test_system_filtered_with_a_device_chart(snap_compare, fed_server):
    """The filter reminder, filtered tables, and charts following the focused table's cursor."""
    async def run_before(pilot) -> None:
        await on_screen("2")(pilot)
        await pilot.press("slash", "e", "t", "h", "escape")
        pilot.app.screen.query_one("#interfaces").focus()
        await pilot.pause()

    assert snap_compare(make_app(fed_server.url), terminal_size=(120, 40), run_before=run_before)


def test_help(snap_compare, fed_server):
    async def run_before(pilot) -> None:
        await on_screen("1")(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help screen")

    assert snap_compare(make_app(fed_server.url), terminal_size=(80, 24), run_before=run_before)


def test_server_gone_marks_data_stale(snap_compare, own_server):
    server = own_server()

    async def run_before(pilot) -> None:
        await on_screen("1")(pilot)
        await asyncio.to_thread(server.stop)
        await wait_for(pilot, lambda: pilot.app.link.state == LinkState.RECONNECTING, "the link to drop")

    assert snap_compare(make_app(server.url), terminal_size=(80, 24), run_before=run_before)
