"""Item 7 and 8 of issue 9 in the console: the Processes view (``P`` on System), the top processes an
alert keeps, the host header, and a console attached to the server that owns its data dir.

The server is real (tests/console/conftest.py); its process source is the made-up host's fixed list,
injected where psutil would be read, so the rows are the same on every machine."""

from __future__ import annotations

import asyncio

import pytest

from console.screens.alert_dialogs import AlertDetails
from console.screens.alerts import AlertsScreen
from console.screens.processes import ProcessesScreen
from console.screens.system import SystemScreen
from console.widgets.field import Field
from console.widgets.table import LiveTable
from engine.clock import to_ms
from engine.collectors.processes import ProcessRow
from engine.tsdb.types import Family
from tests.console.conftest import T0, make_app, settled, wait_for
from tests.console.test_alerts_screens import api, firing_disk_alerts

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


def name_the_host(server, name: str = "web-01") -> None:
    """node_uname_info as the system collector writes it (the fed samples have no host name)."""
    def ingest() -> None:
        fam = Family("node_uname_info", "gauge", "uname")
        fam.add(1.0, {"nodename": name, "sysname": "Linux", "release": "6.8.0", "machine": "x86_64",
                      "version": "#1"})
        engine = server.embedded.running.engine
        engine.store.ingest("uname", [fam], to_ms(T0))
    server.call(ingest)


def subscribed(server) -> bool:
    return bool(server.call(lambda: server.embedded.running.engine.bus.wants("processes")))


def table(pilot) -> LiveTable:
    return pilot.app.screen.query_one("#processes", LiveTable)


async def open_processes(pilot) -> ProcessesScreen:
    await wait_for(pilot, lambda: settled(pilot.app), "the first data")
    await pilot.press("2")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SystemScreen), "the System screen")
    await pilot.press("P")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ProcessesScreen) and table(pilot).row_count == 10,
                   "the process rows")
    return pilot.app.screen


@pytest.fixture
def host_server(own_server):
    server = own_server()
    name_the_host(server)
    return server


async def test_processes_follow_the_topic_only_while_shown_sort_and_filter(own_server):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        assert not subscribed(server)
        await open_processes(pilot)
        assert subscribed(server)
        assert table(pilot).visible_keys[:3] == ["2048", "1022", "1023"]  # CPU, largest first
        await pilot.press("M")
        await wait_for(pilot, lambda: table(pilot).visible_keys[0] == "1377", "memory order")
        assert table(pilot).visible_keys[:2] == ["1377", "816"] and "memory ↓" in str(table(pilot).border_title)
        await pilot.press("M")  # again: reversed
        await wait_for(pilot, lambda: table(pilot).visible_keys[0] == "3301", "reversed memory order")
        await pilot.press("slash", *"postgres", "enter")
        await wait_for(pilot, lambda: table(pilot).visible_keys == ["815", "816"], "the filtered rows")
        assert table(pilot).get_row_at(0)[4].plain == "postgres"  # the program's name, as top shows it
        await pilot.press("a")  # command lines
        await wait_for(pilot, lambda: table(pilot).get_row_at(0)[4].plain == "postgres: 16/main: checkpointer",
                       "command lines")
        await pilot.press("slash", *" checkpointer", "enter")
        await wait_for(pilot, lambda: table(pilot).visible_keys == ["815"], "the filter on command lines")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, SystemScreen), "System again")
        await wait_for(pilot, lambda: not subscribed(server), "the unsubscribe")


async def test_processes_are_refreshed_with_each_collection(own_server):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_processes(pilot)
        engine = server.embedded.running.engine
        before = engine.processes.source
        server.call(setattr, engine.processes, "source", lambda n: (2, [r for r in before(n)[1] if r.pid in (1, 4096)]))
        await server.advance(5)
        await wait_for(pilot, lambda: table(pilot).visible_keys == ["4096", "1"], "the next collection's rows")
        assert "2 processes on the host" in str(pilot.app.screen.query_one("#summary", Field).content)


def busy_host(n: int) -> tuple[int, list[ProcessRow]]:
    """120 processes (of 300): CPU grows with the pid, memory with it up to pid 99, so the top 50 by
    CPU (70…119) and by memory (50…99) make 70 rows; every tenth is python."""
    return 300, [ProcessRow(i, "ops", float(i), (i if i < 100 else 0) * 1_000_000, f"app{i}",
                            "python" if i % 10 == 0 else f"app{i}") for i in range(120)]


async def test_the_count_says_top_n_filtered_the_matches_of_the_rows_received_and_enter_gives_the_keys(own_server):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_processes(pilot)
        server.call(setattr, server.embedded.running.engine.processes, "source", busy_host)
        await server.advance(5)
        await wait_for(pilot, lambda: table(pilot).row_count == 50, "the busy host's rows")
        assert table(pilot).border_subtitle == "top 50"  # by CPU, of the 70 listed (that figure changes: no repaint)
        await pilot.press("slash", *"python", "enter")
        await wait_for(pilot, lambda: table(pilot).row_count == 7, "the filtered rows")
        assert table(pilot).border_subtitle == "7 of 70"
        assert app.screen.focused is table(pilot)
        await pilot.press("down")  # the table has the keys
        assert table(pilot).cursor_coordinate.row == 1


async def test_the_chart_range_key_shows_and_acts_only_where_charts_follow_it(own_server):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_processes(pilot)
        assert "r" not in screen.active_bindings
        await pilot.press("r")
        assert app.range_name == "1h"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, SystemScreen), "System again")
        assert "r" in app.screen.active_bindings
        await pilot.press("r")
        assert app.range_name == "6h"


async def test_an_alert_keeps_the_top_processes_when_it_fires_and_its_details_show_them(own_server):
    server = own_server()
    await firing_disk_alerts(server)

    async def kept() -> list:
        for _ in range(500):
            alerts = (await api(server, "GET", "/api/alerts"))["alerts"]
            if alerts and all(a["processes"] for a in alerts):
                return alerts
            await asyncio.sleep(0.02)
        raise AssertionError("the alerts never kept their processes")

    alerts = await kept()
    assert [p["pid"] for p in alerts[0]["processes"]][:2] == [2048, 1022]
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.table.row_count == 3,
                       "the alerts")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertDetails)
                       and "Top processes" in str(app.screen.query_one("#processes", Field).content), "the details")
        shown = str(app.screen.query_one("#processes", Field).content)
        assert "python -c print('[b]not markup[/b]')" in shown and "redis-server" in shown
        await pilot.pause()
        field = app.screen.query_one("#processes", Field)
        assert field.size.height == len(shown.split("\n"))  # a long command is cut, not wrapped


async def test_the_top_bar_names_the_watched_host_and_its_uptime(host_server):
    app = make_app(host_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: settled(app), "the first data")
        host = app.screen.query_one("#host", Field)
        assert host.display and str(host.content) == "web-01 up 12d03h"


@SIZES
def test_processes_snapshot(snap_compare, host_server, size):
    async def run_before(pilot) -> None:
        await open_processes(pilot)

    assert snap_compare(make_app(host_server.url), terminal_size=size, run_before=run_before)

