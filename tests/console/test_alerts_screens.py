"""Alerts and Rules screens from the keyboard, against a real server whose rules are evaluated at
chosen times (no background schedules), so every alert and state change is deterministic."""

from __future__ import annotations

import asyncio
import re

import httpx

from console.screens.alert_dialogs import AlertDetails, ResolveDialog
from console.screens.alerts import AlertsScreen
from console.screens.base import ERROR_MESSAGE_S, MESSAGE_S
from console.screens.rules import RulesScreen
from console.screens.silences import SilencesScreen
from console.widgets.topbar import TopBar
from tests.console.conftest import T0, make_app, wait_for

DISK_RULE = {"name": "DiskSeen", "expr": "node_filesystem_size_bytes > 0", "for": "0s",
             "labels": {"severity": "warning"}}


async def evaluate(server) -> None:
    """One evaluation of every rule group at the server's current time, on the server's loop."""
    engine = server.embedded.running.engine
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(engine.ruler.evaluate_all(T0),
                                                               server.embedded.loop))


async def api(server, method: str, path: str, **kwargs):
    async with httpx.AsyncClient(base_url=server.url, headers={"X-User": "bob@ops"}) as client:
        response = await client.request(method, path, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


async def firing_disk_alerts(server) -> None:
    await api(server, "POST", "/api/alerts/rules", json=DISK_RULE)
    await evaluate(server)


def alerts_table(pilot):
    return pilot.app.screen.table


async def open_alerts(pilot, rows: int = 3) -> AlertsScreen:
    await pilot.press("3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AlertsScreen)
                   and pilot.app.screen.table.row_count == rows, f"{rows} alerts")
    return pilot.app.screen


async def alert_by_mount(server, mount: str) -> dict:
    alerts = (await api(server, "GET", "/api/alerts"))["alerts"]
    return next(a for a in alerts if a["labels"].get("mountpoint") == mount)


async def test_acknowledge_with_a_comment_from_the_keyboard(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        key = screen.table.highlighted_key
        await pilot.press("a", *"on it", "enter", "enter", "enter")  # to the next field, to OK, OK
        await wait_for(pilot, lambda: (app.alerts.alerts[key].get("acknowledgement") or {}).get("comment") == "on it",
                       "the acknowledgement")
    alerts = (await api(server, "GET", "/api/alerts"))["alerts"]
    acked = next(a for a in alerts if a["id"] == key)
    assert acked["acknowledgement"]["by"] == app.client.user


async def test_resolve_defaults_to_cancel_and_resolves_when_confirmed(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        key = screen.table.highlighted_key
        await pilot.press("r", *"fixed", "enter")  # enter in the comment moves to the default: Cancel
        assert isinstance(app.screen, ResolveDialog) and app.screen.focused.id == "cancel"
        assert "Default: Cancel" in str(app.screen.query_one(".hint").content)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        assert key in app.alerts.alerts and screen.table.row_count == 3
        await pilot.press("r", *"disk replaced", "tab", "enter")  # as the hint says: tab to Resolve, enter
        await wait_for(pilot, lambda: key not in app.alerts.alerts, "the alert to go")
    assert key not in {a["id"] for a in (await api(server, "GET", "/api/alerts"))["alerts"]}
    timeline = (await api(server, "GET", f"/api/alerts/{key}"))["alert"]["timeline"]
    assert [e["detail"] for e in timeline if e["event"] == "resolved"] == ["disk replaced"]


async def test_one_tab_from_the_resolve_comment_reaches_resolve_as_the_hint_says(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_alerts(pilot)
        await pilot.press("r", *"fixed")
        assert "tab to Resolve, then enter" in str(app.screen.query_one(".hint").content)
        await pilot.press("tab")
        assert app.screen.focused.id == "ok"


async def test_silence_prefills_the_alerts_labels(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        key = screen.table.highlighted_key
        await pilot.press("s")
        await wait_for(pilot, lambda: app.screen is not screen, "the silence form")
        app.screen.query_one("#comment").focus()
        await pilot.press(*"disk swap", "ctrl+s")
        await wait_for(pilot, lambda: "Silenced" in str(screen.query_one("#message").content), "the silence")
    silences = (await api(server, "GET", "/api/alerts/silences"))["silences"]
    (silence,) = silences
    labels = app.alerts.alerts[key]["labels"]
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == set(labels.items())


async def test_the_cursor_stays_on_the_same_alert_while_the_table_updates(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        await pilot.press("o", "down")  # age order; then the second row
        target = screen.table.highlighted_key
        await api(server, "POST", "/api/alerts/rules", json={**DISK_RULE, "name": "DiskCritical",
                                                             "labels": {"severity": "critical"}})
        await evaluate(server)  # three more alerts arrive live; severity order puts them first
        await pilot.press("o")  # back to severity order
        await wait_for(pilot, lambda: screen.table.row_count == 6, "the new alerts")
        assert screen.table.highlighted_key == target
        await pilot.press("a", "ctrl+s")
        await wait_for(pilot, lambda: app.alerts.alerts[target].get("acknowledgement") is not None, "the ack")
    acked = [a["id"] for a in (await api(server, "GET", "/api/alerts"))["alerts"] if a["acknowledgement"]]
    assert acked == [target]


async def test_create_a_rule_in_the_simple_form_and_edit_it(own_server):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen), "the rules screen")
        rules = app.screen
        await pilot.press("n", *"LoadHigh", "tab", *"node_load1", "tab", "tab", *"0.1", "ctrl+s")
        await wait_for(pilot, lambda: any(r["name"] == "LoadHigh" for r in rules.rules.values()), "the new rule")
        rule_id = next(k for k, r in rules.rules.items() if r["name"] == "LoadHigh")
        rules.table.move_cursor(row=rules.table.get_row_index(rule_id))
        await pilot.press("e")
        await pilot.press("tab", "end", *" * 2", "ctrl+s")
        await wait_for(pilot, lambda: rules.rules[rule_id]["expr"].endswith("* 2"), "the edited rule")
    rule = (await api(server, "GET", f"/api/alerts/rules/{rule_id}"))["rule"]
    assert rule["expr"] == "node_load1 > 0.1 * 2"


async def test_a_resolve_cancelled_after_a_comment_says_the_comment_was_not_sent(own_server):
    server = own_server()
    await api(server, "POST", "/api/alerts/rules", json={**DISK_RULE, "name": "DiskTotal",
                                                         "expr": "sum(node_filesystem_size_bytes) > 0"})
    await evaluate(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot, rows=1)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ResolveDialog), "the resolve dialog")
        assert str(app.screen.query_one(".title").content) == "Resolve DiskTotal?"
        await pilot.press("escape")  # nothing typed: nothing to say
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        assert str(screen.query_one("#message").content) == ""
        await pilot.press("r", *"fixed", "enter", "enter")  # enter, enter: through the default, Cancel
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close again")
        message = screen.query_one("#message")
        assert "Not resolved" in str(message.content) and "comment was not sent" in str(message.content)
        assert message.has_class("-error") and screen.table.row_count == 1


async def test_alert_details_show_the_chart_top_in_the_value_unit_and_how_long_it_is_active(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_alerts(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertDetails)
                       and "top" in str(app.screen.query_one("#chart").content), "the chart")
        caption = str(app.screen.query_one("#chart").content).splitlines()[0]
        assert re.search(r"\(last \d+m, top [\d.]+ [KMGT]iB\)$", caption), caption
        facts = app.screen.query_one("#facts")
        assert "active for 0s" in str(facts.content) and "T08:00:00" not in str(facts.content)
        app.clock.advance(2 * 3600 + 10 * 60)
        await wait_for(pilot, lambda: "active for 2h10m" in str(facts.content), "the age to follow the clock")


async def test_the_footer_hides_slash_while_the_filter_box_types_it(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        assert "slash" in screen.active_bindings
        await pilot.press("slash")
        await wait_for(pilot, lambda: screen.focused is not None and screen.focused.check_consume_key("/", "/"),
                       "the filter box")
        assert "slash" not in screen.active_bindings


def message(screen) -> str:
    return str(screen.query_one("#message").content)


async def acknowledge_highlighted(pilot, screen) -> None:
    await pilot.press("a", "enter", "enter", "enter")
    await wait_for(pilot, lambda: message(screen).startswith("Acknowledged DiskSeen"), "the outcome")


async def test_an_outcome_goes_after_ten_seconds_and_an_error_after_thirty(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        await acknowledge_highlighted(pilot, screen)
        app.clock.advance(MESSAGE_S)
        await wait_for(pilot, lambda: message(screen) == "", "the outcome to go on the next status tick")

        await pilot.press("r", *"fixed", "enter", "enter")  # enter, enter: Cancel
        await wait_for(pilot, lambda: message(screen).startswith("Not resolved"), "the error")
        age = screen.query_one(TopBar).query_one("#age")
        shown = str(age.content)
        app.clock.advance(MESSAGE_S)
        await wait_for(pilot, lambda: str(age.content) != shown, "a status tick")
        assert message(screen).startswith("Not resolved") and screen.query_one("#message").has_class("-error")
        app.clock.advance(ERROR_MESSAGE_S - MESSAGE_S)
        await wait_for(pilot, lambda: message(screen) == "", "the error to go")
        assert not screen.query_one("#message").has_class("-error")


async def test_the_message_goes_when_another_screen_replaces_the_alerts_but_not_under_a_dialog(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        await acknowledge_highlighted(pilot, screen)
        await pilot.press("enter")  # the alert's details over the screen: the message stays
        await wait_for(pilot, lambda: isinstance(app.screen, AlertDetails), "the details")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "the details to close")
        assert message(screen).startswith("Acknowledged")
        await pilot.press("S")  # the Silences view: old news from the Alerts screen goes
        await wait_for(pilot, lambda: isinstance(app.screen, SilencesScreen), "the silences view")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "back on the alerts")
        assert message(screen) == ""
        await pilot.press("r", *"fixed", "enter", "enter")  # an error goes too
        await wait_for(pilot, lambda: message(screen).startswith("Not resolved"), "the error")
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen), "the rules screen")
        await pilot.press("3")
        await wait_for(pilot, lambda: app.screen is screen, "back on the alerts")
        assert message(screen) == ""
