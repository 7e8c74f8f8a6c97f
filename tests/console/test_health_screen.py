"""The Health screen from the keyboard, against a real server whose checks run only when asked
(no background schedules): add through the form, check now against a closed port, the top bar's
count, delete with confirmation, the server's 400 shown at the field it names, the dependency view."""

from __future__ import annotations

import asyncio
import re
import socket

import httpx
import pytest

from console.screens.health import HealthScreen, dependency_view
from console.screens.health_dialogs import TYPES, CheckDetails, CheckEditor
from console.widgets.topbar import TopBar
from tests.console.conftest import make_app, wait_for


@pytest.fixture
def closed_port():
    """A port nothing listens on: bound once to pick it, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def api(server, method: str, path: str, **kwargs):
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.request(method, path, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


async def open_health(pilot, rows: int) -> HealthScreen:
    await pilot.press("8")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HealthScreen)
                   and pilot.app.screen.table.row_count == rows, f"{rows} checks")
    return pilot.app.screen


def top_bar(app) -> str:
    return str(app.screen.query_one(TopBar).query_one("#counts").content)


async def choose_type(pilot, kind: str) -> None:
    """The type selector from the keyboard: enter opens it, arrows move from http, enter picks."""
    select = pilot.app.screen.query_one("#type")
    select.focus()
    await pilot.press("enter", *["down"] * TYPES.index(kind), "enter")
    await wait_for(pilot, lambda: select.value == kind, f"type {kind}")


async def test_a_check_added_from_the_form_goes_down_and_the_top_bar_counts_it(own_server, closed_port):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_health(pilot, 0)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckEditor), "the editor")
        await choose_type(pilot, "tcp")
        app.screen.query_one("#common-name").focus()
        await pilot.press(*"postgres", "tab", "tab", "tab")  # name, interval, timeout
        await pilot.press("ctrl+a", "ctrl+k", "1")  # retries 1: one failure is enough
        app.screen.query_one("#tcp-host").focus()
        await pilot.press(*"127.0.0.1", "tab", *str(closed_port), "ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen and "postgres" in app.health.services, "the new check")
        assert screen.table.row_count == 1
        assert "✖" not in top_bar(app)
        await pilot.press("c")
        await wait_for(pilot, lambda: app.health.services["postgres"].get("state") == "down", "the check to fail")
        await wait_for(pilot, lambda: "✖ 1 down" in top_bar(app), "the top bar's count")
        row = [str(c) for c in screen.table.get_row("postgres")]
        assert row[0] == "✖ down" and row[-2] == "tcp"
        assert "refused" in row[-1].lower() or "connect call failed" in row[-1].lower()
        assert "Checked" not in str(screen.query_one("#message").content)
    (service,) = (await api(server, "GET", "/api/health/services"))["services"]
    assert (service["name"], service["type"], service["state"]) == ("postgres", "tcp", "down")
    assert service["check"]["port"] == closed_port and service["check"]["retries"] == 1


async def test_a_service_that_stops_goes_down_and_its_uptime_drops(own_server):
    """The new user's path: a service that answers is up; stopped, it is down at the next check, the
    top bar counts it, its uptime falls and the details' history records the failure."""
    server = own_server()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    booking = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = booking.sockets[0].getsockname()[1]
    await api(server, "POST", "/api/health/services",
              json={"name": "booking", "type": "http", "url": f"http://127.0.0.1:{port}/health"})
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_health(pilot, 1)
        await pilot.press("c")
        await wait_for(pilot, lambda: str(screen.table.get_row("booking")[0]) == "● up", "booking up")
        assert "✖" not in top_bar(app)
        booking.close()
        await booking.wait_closed()
        await server.advance(60)
        await pilot.press("c")
        await wait_for(pilot, lambda: str(screen.table.get_row("booking")[0]) == "✖ down", "booking down")
        await wait_for(pilot, lambda: "✖ 1 down" in top_bar(app), "the top bar's count")
        assert str(screen.table.get_row("booking")[5]) == "50.0%"  # 24h: one success, one failure
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckDetails), "the details")
        timeline = app.screen.query_one("#timeline")
        await wait_for(pilot, lambda: "✖ down (was up)" in str(timeline.content), "the history")
        assert "✖ failed" in str(timeline.content)


async def test_a_check_failing_elsewhere_reaches_the_top_bar_live(own_server, closed_port):
    """From the `health` topic alone: the console is on another screen and never asks the API."""
    server = own_server()
    await api(server, "POST", "/api/health/services",
              json={"name": "db", "type": "tcp", "host": "127.0.0.1", "port": closed_port})
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "db" in app.health.services, "the topic's snapshot")
        assert app.health.services["db"]["state"] == "unknown" and "✖" not in top_bar(app)
        await api(server, "POST", "/api/health/check", json={"name": "db"})
        await wait_for(pilot, lambda: "✖ 1 down" in top_bar(app), "the top bar's count")
        assert not isinstance(app.screen, HealthScreen)
        assert app.health.services["db"]["reason"]  # the stream's reason, shown once the screen opens
        screen = await open_health(pilot, 1)
        assert str(screen.table.get_row("db")[0]) == "✖ down"


async def test_the_servers_400_is_shown_next_to_the_field_it_names(own_server):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_health(pilot, 0)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckEditor), "the editor")
        editor = app.screen
        await pilot.press(*"web")
        editor.query_one("#http-url").focus()
        await pilot.press(*"not a url", "ctrl+s")
        error = editor.query_one("#http-url-error")
        await wait_for(pilot, lambda: error.has_class("-shown"), "the inline error")
        assert "url:" in str(error.content) and "400" in str(error.content)
        assert app.focused is editor.query_one("#http-url")
        assert not editor.query_one("#common-name-error").has_class("-shown")
        assert app.screen is editor  # nothing was saved: the form stays open to fix it
        await pilot.press("ctrl+a", "ctrl+k", *f"{server.url}/livez", "ctrl+s")
        await wait_for(pilot, lambda: "web" in app.health.services, "the corrected check")
    assert [s["name"] for s in (await api(server, "GET", "/api/health/services"))["services"]] == ["web"]


async def test_required_fields_are_marked_before_asking_the_server(own_server):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_health(pilot, 0)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckEditor), "the editor")
        await pilot.press("ctrl+s")
        editor = app.screen
        await wait_for(pilot, lambda: editor.query_one("#common-name-error").has_class("-shown"), "the mark")
        assert "required" in str(editor.query_one("#http-url-error").content)
        assert app.focused is editor.query_one("#common-name")


async def test_delete_defaults_to_cancel_and_deletes_when_confirmed(own_server):
    server = own_server()
    await api(server, "POST", "/api/health/services",
              json={"name": "web", "type": "http", "url": f"{server.url}/livez"})
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_health(pilot, 1)
        await pilot.press("d", "enter")  # enter on the default button: Cancel
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        assert "web" in app.health.services
        await pilot.press("d", "tab", "enter")
        await wait_for(pilot, lambda: screen.table.row_count == 0, "the row to go")
        assert "Deleted web" in str(screen.query_one("#message").content)
    assert (await api(server, "GET", "/api/health/services"))["services"] == []


async def test_a_dependency_that_is_in_use_is_not_deleted_and_the_reason_is_shown(own_server, closed_port):
    server = own_server()
    await api(server, "POST", "/api/health/services",
              json={"name": "db", "type": "tcp", "host": "127.0.0.1", "port": closed_port})
    await api(server, "POST", "/api/health/services",
              json={"name": "web", "type": "http", "url": f"{server.url}/livez", "dependsOn": ["db"]})
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_health(pilot, 2)
        screen.table.move_cursor(row=screen.table.get_row_index("db"))
        await pilot.press("d", "tab", "enter")
        message = screen.query_one("#message")
        await wait_for(pilot, lambda: message.has_class("-error"), "the refusal")
        assert "dependency of web" in str(message.content)
        assert screen.table.row_count == 2


async def test_check_all_shows_the_dependency_and_its_consequence(own_server, closed_port):
    server = own_server()
    await api(server, "POST", "/api/health/services",
              json={"name": "db", "type": "tcp", "host": "127.0.0.1", "port": closed_port})
    await api(server, "POST", "/api/health/services",
              json={"name": "web", "type": "http", "url": f"{server.url}/livez", "dependsOn": ["db"]})
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_health(pilot, 2)
        await pilot.press("C")
        await wait_for(pilot, lambda: app.health.services["web"].get("state") == "degraded", "the states")
        await wait_for(pilot, lambda: screen.table.get_row_index("db") == 0, "the worst first")
        await pilot.press("v")
        view = str(screen.query_one("#deps").content)
        assert view.startswith("✖ down db") and "\n  └ ◐ degraded web  dependency db" in view
        await pilot.press("v")
        assert screen.table.has_focus
        await pilot.press("enter")  # the details of the row under the cursor: db, the worst
        await wait_for(pilot, lambda: isinstance(app.screen, CheckDetails), "the details")
        details = app.screen
        await wait_for(pilot, lambda: "failed" in str(details.query_one("#timeline").content), "the history")
        facts = str(details.query_one("#facts").content)
        assert "needed by" in facts and "◐ web" in facts
        since = next(line for line in facts.splitlines() if line.startswith("state since"))
        assert re.fullmatch(r"state since  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", since), since  # as the history says


async def test_edit_keeps_the_name_and_changes_the_check(own_server):
    server = own_server()
    await api(server, "POST", "/api/health/services", json={"name": "web", "type": "http", "url": f"{server.url}/livez",
                                                            "headers": {"Authorization": "Bearer s3cret"}})
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_health(pilot, 1)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckEditor), "the editor")
        editor = app.screen
        assert editor.query_one("#common-name").disabled
        assert editor.query_one("#http-headers").value == "Authorization=***"  # the secret never reaches the console
        editor.query_one("#common-interval").focus()
        await pilot.press("ctrl+a", "ctrl+k", *"2m", "ctrl+s")
        await wait_for(pilot, lambda: app.screen is not editor, "the save")
    (service,) = (await api(server, "GET", "/api/health/services"))["services"]
    assert service["check"]["interval"] == "2m"
    assert service["check"]["headers"] == {"Authorization": "***"}  # kept, still hidden


async def test_the_filter_keeps_matching_rows(own_server, closed_port):
    server = own_server()
    for name in ("booking", "payments", "search"):
        await api(server, "POST", "/api/health/services",
                  json={"name": name, "type": "tcp", "host": "127.0.0.1", "port": closed_port})
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_health(pilot, 3)
        await pilot.press("slash", *"pay", "enter")
        await wait_for(pilot, lambda: screen.table.row_count == 1, "the filter")
        assert screen.table.highlighted_key == "payments"
        await pilot.press("x")
        await wait_for(pilot, lambda: screen.table.row_count == 3, "the filter cleared")


def test_the_dependency_view_names_causes_first_and_survives_cycles():
    services = {
        "db": {"name": "db", "state": "down", "lastError": "connection refused"},
        "api": {"name": "api", "state": "degraded", "reason": "dependency db down", "dependsOn": ["db"]},
        "web": {"name": "web", "state": "degraded", "dependsOn": ["api"]},
        "a": {"name": "a", "state": "down", "dependsOn": ["b"]},
        "b": {"name": "b", "state": "up", "dependsOn": ["a", "gone"]},
    }
    services["x"] = {"name": "x", "state": "down", "dependsOn": ["y"]}
    services["y"] = {"name": "y", "state": "down", "dependsOn": ["x"]}
    lines = dependency_view(services).plain.splitlines()
    assert lines[:6] == ["✖ down a", "✖ down db  connection refused", "  └ ◐ degraded api  dependency db down",
                         "    └ ◐ degraded web", "✖ down x", "  └ ✖ down y"]
    assert "● up b ← ✖ a, ? gone (no such check)" in lines


async def test_r_sets_the_range_the_check_details_chart_opens_with(own_server):
    server = own_server()
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_health(pilot, 0)
        assert "r" in screen.active_bindings
        before = app.range_name
        await pilot.press("r")
        assert app.range_name != before
