"""Live data everywhere and correct labels (issue 9, items 2 and 6): the Rules screen follows the
stream, alert values follow each evaluation in their unit, the top bar keeps moving under a dialog,
and the labels say what they show."""

from __future__ import annotations

import asyncio

from console.screens.alerts import LiveAlertDetails
from console.screens.help import help_sections
from console.screens.overview import OverviewScreen
from console.screens.rules import RulesScreen
from console.screens.system import SystemScreen
from console.widgets.panels import CoresPanel, FilesystemsPanel
from console.widgets.topbar import TopBar
from tests.console.conftest import make_app, settled, wait_for
from tests.console.test_alerts_screens import DISK_RULE, api, evaluate, firing_disk_alerts, open_alerts

MEMORY_RULE = {"name": "MemorySeen", "expr": "node_memory_MemAvailable_bytes > 0", "for": "0s",
               "labels": {"severity": "warning"}}


def text(widget) -> str:
    return str(widget.content)


def drawn(panel) -> list[str]:
    return [line.plain for line in panel.draw(panel.content_size.width, panel.content_size.height)]


async def evaluate_now(server) -> None:
    """One evaluation at the server's current (advanced) time."""
    engine = server.embedded.running.engine
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(engine.ruler.evaluate_all(server.clock.now()),
                                                               server.embedded.loop))


async def test_the_rules_screen_follows_the_stream(own_server):
    server = own_server()
    rule = (await api(server, "POST", "/api/alerts/rules", json=DISK_RULE))["rule"]
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen) and rule["id"] in app.screen.rules,
                       "the rules")
        table = app.screen.table
        assert [str(c) for c in table.get_row(rule["id"])][1::3] == ["inactive", "0"]
        await evaluate(server)  # no key pressed: the alerts' events bring the new state
        await wait_for(pilot, lambda: [str(c) for c in table.get_row(rule["id"])][1::3] == ["firing", "3"],
                       "the firing rule")


async def test_alert_values_are_in_their_unit_and_follow_each_evaluation(own_server):
    server = own_server()
    await api(server, "POST", "/api/alerts/rules", json=MEMORY_RULE)
    await evaluate(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot, rows=1)
        (key,) = app.alerts.alerts

        def value() -> str:
            return str(screen.table.get_cell(key, "value"))

        await wait_for(pilot, lambda: value().endswith(" GiB"), "the value in GiB")
        before = value()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveAlertDetails), "the details")
        details = app.screen
        assert f"value {before}" in text(details.query_one("#facts"))
        await server.advance(300)
        await evaluate_now(server)
        await wait_for(pilot, lambda: f"value {before}" not in text(details.query_one("#facts")),
                       "the details to follow")
        assert " GiB" in text(details.query_one("#facts"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen and value() != before, "the table to follow")
        assert value().endswith(" GiB")


async def test_the_top_bar_keeps_moving_under_a_dialog(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        bar = screen.query_one(TopBar)
        await pilot.press("a")  # the acknowledge dialog stays open from here on
        await wait_for(pilot, lambda: app.screen is not screen, "the dialog")
        await api(server, "POST", "/api/alerts/rules", json={**DISK_RULE, "name": "DiskToo"})
        await evaluate(server)
        await wait_for(pilot, lambda: text(bar.query_one("#counts")).startswith("6 firing"), "the new counts")
        await asyncio.to_thread(server.stop)
        await wait_for(pilot, lambda: "reconnecting" in text(bar.query_one("#link")), "the link state", 1500)
        await wait_for(pilot, lambda: "Cannot reach" in text(screen.query_one("#banner")), "the stale banner")
        assert app.screen is not screen


async def test_the_resolved_view_says_resolved_by(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        assert screen.table.columns["ack"].label.plain == "Ack by"
        await pilot.press("h")
        await wait_for(pilot, lambda: screen.table.columns["ack"].label.plain == "Resolved by", "the label")
        await pilot.press("h")
        await wait_for(pilot, lambda: screen.table.columns["ack"].label.plain == "Ack by", "the label back")


async def test_overview_disk_rows_show_used_of_total(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen) and settled(app), "the overview")
        disks = drawn(app.screen.query_one(FilesystemsPanel))
    ends = ("93.3%      465/500 GiB", "63.2%     62.0/100 GiB", "36.2% 700 GiB/1.95 TiB")  # fullest first
    assert all(line.endswith(end) for line, end in zip(disks, ends, strict=True)), disks


async def test_the_cpu_line_keeps_the_process_counts_at_120_columns(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, SystemScreen) and settled(app), "the system screen")
        panel = app.screen.query_one(CoresPanel)
        head, width = drawn(panel)[0], panel.content_size.width
    assert head.startswith("total ") and head.endswith("procs 3 run 0 blk"), head
    assert len(head) <= width  # nothing cut off at the panel's edge


async def test_help_lists_only_this_products_keys(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_alerts(pilot, rows=0)
        described = [d for _, entries in help_sections(app.screen, app) for _, d in entries]
    assert "Silences" in described and "Copy selected text" not in described
