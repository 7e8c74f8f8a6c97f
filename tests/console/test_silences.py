"""Silences from the console (issue 9, item 1): the form reads matchers as the API does and needs a
comment; silenced alerts neither toast nor count as firing; the Silences view lists, expires and
extends; ``s`` on a silenced alert offers edit or expire; the timeline says who silenced and why."""

from __future__ import annotations

import re
from typing import Any

from console.app import ConsoleApp
from console.client import ServerClient
from console.screens.alert_dialogs import AlertDetails, ConfirmDialog
from console.screens.alerts import AlertsScreen
from console.screens.silences import SilencedAlertDialog, SilenceForm, SilencesScreen
from console.widgets.topbar import TopBar
from engine.clock import FixedClock
from tests.console.conftest import T0, make_app, wait_for
from tests.console.test_alerts_screens import api, firing_disk_alerts, open_alerts

SILENCE_HOME = {"matchers": ['mountpoint="/home"'], "duration": "2h", "comment": "resizing /home"}


def text(widget) -> str:
    return str(widget.content)


async def silences(server) -> list[dict]:
    return (await api(server, "GET", "/api/alerts/silences"))["silences"]


async def home_silenced(server) -> dict:
    """Three firing disk alerts, the /home one under a silence by bob@ops."""
    silence = (await api(server, "POST", "/api/alerts/silences", json=SILENCE_HOME))["silence"]
    await firing_disk_alerts(server)
    return silence


def home_alert(app) -> dict:
    return next(a for a in app.alerts.alerts.values() if a["labels"]["mountpoint"] == "/home")


async def alerts_at_home(pilot) -> AlertsScreen:
    """The Alerts screen with the cursor on the /home alert."""
    screen = await open_alerts(pilot)
    screen.table.move_cursor(row=screen.table.get_row_index(home_alert(pilot.app)["id"]))
    return screen


async def press_s_for(pilot, dialog: type) -> Any:
    """Press ``s`` on the Alerts screen and wait for what it opens (a form, or the choice a silenced
    alert offers)."""
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, dialog), dialog.__name__)
    return pilot.app.screen


async def test_the_form_reads_quoted_matchers_as_the_api_does_and_needs_a_comment(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        form = await press_s_for(pilot, SilenceForm)
        assert form.query_one("#matchers").value.startswith('alertname="DiskSeen", device="')
        form.query_one("#matchers").value = 'alertname="DiskSeen", mountpoint="/home"'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "required" in text(form.query_one("#comment-error")), "the comment error")
        assert app.screen is form and await silences(server) == []
        form.query_one("#comment").focus()
        await pilot.press(*"disk swap", "ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, "the form to close")
        await wait_for(pilot, lambda: str(screen.table.get_cell(home_alert(app)["id"], "state")) == "silenced",
                       "the alert to show as silenced")
    (silence,) = await silences(server)
    assert [(m["name"], m["value"]) for m in silence["matchers"]] == [("alertname", "DiskSeen"),
                                                                        ("mountpoint", "/home")]
    assert silence["comment"] == "disk swap"


async def test_a_fields_error_goes_when_it_is_typed_in_and_the_others_stay(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_alerts(pilot)
        form = await press_s_for(pilot, SilenceForm)
        form.query_one("#duration").value = ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "say why" in text(form.query_one("#comment-error")), "the comment error")
        assert "how long" in text(form.query_one("#duration-error"))
        form.query_one("#comment").focus()
        await pilot.press(*"disk swap")
        assert not form.query_one("#comment-error").has_class("-shown")
        assert "say why" not in text(form.query_one("#comment-error"))
        assert form.query_one("#duration-error").has_class("-shown")


class ToastsKept(ConsoleApp):
    """The console, keeping every toast's text (toasts leave the screen after a few seconds)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.toasts: list[str] = []

    def notify(self, message, *args, **kwargs) -> None:
        self.toasts.append(str(message))
        super().notify(message, *args, **kwargs)


async def test_silenced_alerts_neither_toast_nor_count_as_firing(own_server):
    server = own_server()
    app = ToastsKept(ServerClient(server.url), clock=FixedClock(T0), address="metrics.example:3000", theme="dark")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_alerts(pilot, rows=0)
        await home_silenced(server)
        await wait_for(pilot, lambda: app.screen.table.row_count == 3, "three alerts")
        counts = app.screen.query_one(TopBar).query_one("#counts")
        await wait_for(pilot, lambda: "silenced" in text(counts), "the counts")
        assert text(counts) == "2 firing · 2 unacked · 1 silenced"
    toasts = app.toasts
    assert len(toasts) == 2 and not any("/home" in t for t in toasts)
    assert "DiskSeen device=/dev/sda1,fstype=ext4,mountpoint=/" in toasts  # labels as k=v text, not a dict


async def test_the_silences_view_lists_expires_and_extends(own_server):
    server = own_server()
    silence = await home_silenced(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_alerts(pilot)
        await pilot.press("S")
        await wait_for(pilot, lambda: isinstance(app.screen, SilencesScreen) and app.screen.table.row_count == 1,
                       "the silences view")
        view = app.screen
        row = [str(c) for c in view.table.get_row(silence["id"])]
        assert row == ["active", "in 2h00m", 'mountpoint="/home"', "1: DiskSeen", "bob@ops", "resizing /home"]

        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, SilenceForm), "the extend form")
        assert app.screen.query_one("#duration").value == "3h"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is view and str(view.table.get_row(silence["id"])[1]) == "in 3h00m",
                       "the longer silence")

        await pilot.press("x", "enter")  # the confirmation's default is Cancel
        await wait_for(pilot, lambda: app.screen is view, "the confirmation to close")
        assert [s["status"]["state"] for s in await silences(server)] == ["active"]
        await pilot.press("x", "tab", "enter")
        await wait_for(pilot, lambda: str(view.table.get_row(silence["id"])[0]) == "expired", "the expiry")
        await wait_for(pilot, lambda: not home_alert(app)["silencedBy"], "the alert to be loud again")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), "back to the alerts")
    (listed,) = await silences(server)
    assert listed["id"] == silence["id"] and listed["status"]["state"] == "expired"


async def test_s_on_a_silenced_alert_offers_to_edit_or_expire_its_silence(own_server):
    server = own_server()
    silence = await home_silenced(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await alerts_at_home(pilot)
        await press_s_for(pilot, SilencedAlertDialog)
        await pilot.press("enter")  # Edit / extend is the default
        await wait_for(pilot, lambda: isinstance(app.screen, SilenceForm), "the edit form")
        assert app.screen.query_one("#matchers").value == 'mountpoint="/home"'
        assert app.screen.query_one("#comment").value == "resizing /home"
        await pilot.press("escape", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, SilencedAlertDialog), "the choice again")
        await pilot.press("shift+tab", "enter")  # Expire, then confirm
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: not home_alert(app)["silencedBy"], "the silence to end")
    assert [s["id"] for s in await silences(server) if s["status"]["state"] == "expired"] == [silence["id"]]


async def test_the_timeline_says_who_silenced_and_why(own_server):
    server = own_server()
    silence = await home_silenced(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await alerts_at_home(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertDetails)
                       and "silenced" in text(app.screen.query_one("#timeline")), "the timeline")
        timeline = text(app.screen.query_one("#timeline"))
        facts = text(app.screen.query_one("#facts"))
    assert "bob@ops" in timeline and "resizing /home" in timeline and silence["id"] not in timeline
    events = timeline.splitlines()[1:]
    assert events and all(re.match(r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ", e) for e in events), timeline  # as Health's
    assert ("Annotations" in facts) == bool(home_alert(app).get("annotations"))  # no empty heading


async def test_a_silence_made_elsewhere_shows_in_the_open_view(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_alerts(pilot)
        await pilot.press("S")
        await wait_for(pilot, lambda: isinstance(app.screen, SilencesScreen), "the silences view")
        await api(server, "POST", "/api/alerts/silences", json=SILENCE_HOME)  # its alert's "silenced" event
        await wait_for(pilot, lambda: app.screen.table.row_count == 1, "the new silence")


async def test_the_80_column_top_bar_keeps_one_fit_as_the_age_ticks(own_server):
    # Seen as a flaky snapshot: with the silenced count the age had to give way at 80 columns, and
    # the next fit counted the squeezed age without its padding, found room and brought it back; the
    # bar flipped between two layouts at every tick of the age.
    server = own_server()
    await home_silenced(server)
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alerts(pilot)
        bar = app.screen.query_one(TopBar)
        await wait_for(pilot, lambda: "silenced" in text(bar.query_one("#counts")), "the counts")
        fits = set()
        for age in ("1s ago", "2s ago", "3s ago", "4s ago"):
            bar.show_age(age, late=False)
            await pilot.pause()
            fits.add((text(bar.query_one("#tabs")), bar.query_one("#age").has_class("-squeezed")))
        assert fits == {("1 2 3 Alerts 4 5 6 7 8 9 0", True)}


async def test_the_message_names_what_the_server_silenced_not_the_alert_the_form_opened_on(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        cursor = app.alerts.alerts[screen.table.highlighted_key]
        other = next(a for a in app.alerts.alerts.values() if a["id"] != cursor["id"])
        form = await press_s_for(pilot, SilenceForm)
        form.query_one("#comment").value = "swap"
        form.query_one("#matchers").value = 'alertname="DiskSeen", bad'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "matcher 2: cannot parse 'bad'" in text(form.query_one("#matchers-error")),
                       "the matcher error, counted from one")
        form.query_one("#matchers").value = f'mountpoint="{other["labels"]["mountpoint"]}"'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: text(screen.query_one("#message")), "the message")
        assert text(screen.query_one("#message")) == \
            f'Silenced mountpoint="{other["labels"]["mountpoint"]}" for 2h00m · 1 alert now'
        assert not screen.query_one("#message").has_class("-error")


async def test_a_silence_that_matches_no_alert_says_so(own_server):
    server = own_server()
    await firing_disk_alerts(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(pilot)
        form = await press_s_for(pilot, SilenceForm)
        form.query_one("#comment").value = "typo"
        form.query_one("#matchers").value = 'alertname="DiskSen"'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: text(screen.query_one("#message")), "the message")
        assert text(screen.query_one("#message")) == 'Silenced alertname="DiskSen" for 2h00m · no alert matches it now'
        assert screen.query_one("#message").has_class("-error")


async def test_the_silenced_alert_dialog_says_when_the_silence_ends_from_now(own_server):
    server = own_server()
    await home_silenced(server)
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await alerts_at_home(pilot)
        await press_s_for(pilot, SilencedAlertDialog)
        summary = "\n".join(text(f) for f in app.screen.query("Field"))
    assert "ends in 2h00m" in summary and "until" not in summary and "Z" not in summary.split("ends")[1]


def test_time_left_is_to_the_nearest_second():
    from console.screens.silences import time_left

    assert time_left(T0 + 7199.6, T0) == "2h00m"  # a 2h silence read back a moment after it was made
    assert time_left(T0 + 7140.4, T0) == "1h59m"
