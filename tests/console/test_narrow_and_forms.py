"""At 80x24 every screen keeps its tab key, Help and Quit; the System screen scrolls from the keyboard;
the dialogs keep what was typed (enter moves on, every error at once, the server's 400 under its field,
labels as k=v, f2 carries the rule over) and ctrl+c closes a dialog, not the app. Against a real server."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from console.screens import SCREENS
from console.screens.alert_dialogs import AcknowledgeDialog
from console.screens.rule_editor import RuleEditor
from console.screens.rules import RulesScreen
from console.screens.system import SystemScreen
from tests.console.conftest import make_app, settled, wait_for
from tests.console.test_alerts_screens import api, firing_disk_alerts, open_alerts


def screen_lines(app) -> list[str]:
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


async def open_rule_editor(pilot) -> RuleEditor:
    await wait_for(pilot, lambda: settled(pilot.app), "the first data")
    await pilot.press("4")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RulesScreen), "the Rules screen")
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RuleEditor), "the rule editor")
    return pilot.app.screen


def error_under(dialog, field_id: str) -> str:
    line = dialog.query_one(f"#{field_id}-error")
    return str(line.render()) if line.has_class("-shown") else ""


async def test_every_screen_keeps_its_tab_key_help_and_quit_at_80_columns(own_server):
    server = own_server()
    await firing_disk_alerts(server)  # the top bar's counts take room too
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alerts(pilot)
        for spec in SCREENS:
            await app.run_action(f"show('{spec.id}')")
            await wait_for(pilot, lambda spec=spec: app.screen.TITLE == spec.title, spec.title)
            await pilot.pause(0.1)
            top, *_, bottom = screen_lines(app)
            words = top.split()
            assert all(s.key in words for s in SCREENS), f"{spec.title}: {top!r}"
            assert spec.title in top and "firing" in top, f"{spec.title}: {top!r}"
            assert "Help" in bottom and "Quit" in bottom, f"{spec.title}: {bottom!r}"


async def test_the_system_screen_scrolls_from_the_keyboard(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: settled(app), "the first data")
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, SystemScreen), "the System screen")
        scroller = app.screen.query_one("#system")
        assert scroller.max_scroll_y > 0
        await pilot.press("G")
        assert scroller.scroll_y == scroller.max_scroll_y
        await pilot.press("g")
        assert scroller.scroll_y == 0
        await pilot.press("space")
        assert scroller.scroll_y > 0
        await pilot.press("pageup")
        assert scroller.scroll_y == 0


async def test_the_rule_editor_shows_every_field_at_80x24_and_enter_moves_on(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_rule_editor(pilot)
        scroll = editor.query_one("VerticalScroll")
        for field in editor.inputs():
            assert field.virtual_region.bottom <= scroll.scrollable_content_region.height, field.id
        await pilot.press(*"HighLoad", "enter", *"node_load1", "enter", "enter", *"2", "enter")
        assert editor.focused.id == "for"
        await pilot.press("ctrl+c")  # closes the dialog, not the app
        await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen), "the dialog to close")
        assert app.is_running


async def test_the_rule_editor_shows_every_problem_at_once(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_rule_editor(pilot)
        editor.query_one("#condition", Input).value = "=>"
        editor.query_one("#for", Input).value = "soon"
        editor.query_one("#labels", Input).value = "team=ops tier"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: error_under(editor, "labels"), "the errors")
        assert {f.id for f in editor.inputs() if error_under(editor, f.id)} == {
            "name", "metric", "condition", "threshold", "for", "labels"}
        assert "'tier'" in error_under(editor, "labels")
        assert editor.focused.id == "name" and app.screen is editor


async def test_f2_carries_the_simple_form_over_and_back_and_labels_are_k_v(own_server):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_rule_editor(pilot)
        await pilot.press(*"HighLoad", "enter", *"node_load1", "enter", *">=", "enter", *"2.5", "enter", *"5m",
                          "enter", *"page", "enter", *"team=ops, tier=1")
        await pilot.press("f2")
        assert editor.form == "promql" and editor.value("expr") == "node_load1 >= 2.5"
        assert editor.value("for") == "5m" and editor.value("labels") == "team=ops tier=1 severity=page"
        await pilot.press("f2")
        assert editor.form == "simple"
        assert [editor.value(k) for k in ("metric", "condition", "threshold", "severity", "labels")] == [
            "node_load1", ">=", "2.5", "page", "team=ops tier=1"]
        await pilot.press("f2", "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen), "the saved rule")
    rules = (await api(server, "GET", "/api/alerts/rules"))["rules"]
    rule = next(r for r in rules if r["name"] == "HighLoad")
    assert rule["expr"] == "node_load1 >= 2.5" and rule["for"] == "5m"
    assert rule["labels"] == {"team": "ops", "tier": "1", "severity": "page"}


async def test_f2_keeps_the_focus_on_a_field_both_forms_have(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_rule_editor(pilot)
        await pilot.press("f2", *"HighLoad")  # straight after n: the name, in either form
        assert editor.form == "promql" and editor.focused.id == "name"
        assert editor.value("name") == "HighLoad" and editor.value("expr") == ""
        editor.query_one("#labels", Input).focus()
        await pilot.press("f2")
        assert editor.form == "simple" and editor.focused.id == "labels"
        editor.query_one("#metric", Input).focus()
        await pilot.press(*"node_load1", "f2")  # a field the other form lacks: where it was carried
        assert editor.form == "promql" and editor.focused.id == "expr"


async def test_f2_keeps_an_expression_that_has_no_simple_form(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_rule_editor(pilot)
        await pilot.press("f2", "enter", *"rate(node_load1[5m]) > 1", "f2")
        assert editor.form == "promql" and editor.value("expr") == "rate(node_load1[5m]) > 1"
        assert "no simple form" in str(editor.query_one("#form-error").render())


async def test_a_refused_rule_keeps_the_dialog_open_with_the_error_under_its_field(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_rule_editor(pilot)
        await pilot.press(*"Broken", "enter", *"node_load1{", "enter", "enter", *"1", "ctrl+s")
        await wait_for(pilot, lambda: error_under(editor, "metric"), "the server's refusal")
        assert "metricName" in error_under(editor, "metric")
        assert app.screen is editor and editor.value("name") == "Broken" and editor.focused.id == "metric"


async def test_a_refused_acknowledgement_stays_in_the_dialog(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alerts(pilot)
        await pilot.press("a", *"on it", "enter", *"soon", "ctrl+s")
        dialog = app.screen
        assert isinstance(dialog, AcknowledgeDialog)
        await wait_for(pilot, lambda: error_under(dialog, "expires"), "the server's refusal")
        assert "expiresIn" in error_under(dialog, "expires")
        assert dialog.query_one("#comment", Input).value == "on it"


async def test_a_refused_expiry_error_goes_once_the_expiry_is_retyped(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alerts(pilot)
        await pilot.press("a", "enter", *"abc", "ctrl+s")
        dialog = app.screen
        await wait_for(pilot, lambda: error_under(dialog, "expires"), "the server's refusal")
        await pilot.press("backspace", "backspace", "backspace", *"30m")
        assert error_under(dialog, "expires") == ""


async def test_a_refused_expression_error_goes_once_the_expression_is_fixed(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_rule_editor(pilot)
        await pilot.press("f2", *"Broken", "enter", *"sum(node_load1", "ctrl+s")
        await wait_for(pilot, lambda: error_under(editor, "expr"), "the server's refusal")
        assert "parenthesis" in error_under(editor, "expr")
        await pilot.press(")")
        assert error_under(editor, "expr") == ""


async def test_a_threshold_that_is_no_number_is_said_as_typed_previews_nothing_and_f2_keeps_it(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_rule_editor(pilot)
        check = editor.query_one("#check")
        await pilot.press(*"HighLoad", "enter", *"node_load1", "enter", "enter", *"abc")
        assert error_under(editor, "threshold") == "↑ must be a number"
        await wait_for(pilot, lambda: "threshold must be a number" in str(check.render()), "the preview to say so")
        assert "Returns" not in str(check.render()) and "abc" not in str(check.render())
        await pilot.press("f2")  # not carried: the simple form stays, the error under the threshold
        assert editor.form == "simple" and editor.value("expr") == "" and editor.focused.id == "threshold"
        assert error_under(editor, "threshold") == "↑ must be a number"
        assert "Fix the threshold" in str(editor.query_one("#form-error").render())
        await pilot.press("backspace", "backspace", "backspace", "2")
        assert error_under(editor, "threshold") == ""
        await wait_for(pilot, lambda: "Returns" in str(check.render()), "the preview")
        await pilot.press("f2")
        assert editor.form == "promql" and editor.value("expr") == "node_load1 > 2"


@pytest.mark.parametrize("size", [(80, 24)], ids=["80x24"])
def test_rule_editor_snapshot(snap_compare, fed_server, size):
    async def run_before(pilot) -> None:
        await open_rule_editor(pilot)
        await pilot.press(*"HighLoad", "enter", *"node_load1", "enter", "enter", *"2", "enter")
        await wait_for(pilot, lambda: "Returns" in str(pilot.app.screen.query_one("#check").render()), "the preview")

    assert snap_compare(make_app(fed_server.url), terminal_size=size, run_before=run_before)
