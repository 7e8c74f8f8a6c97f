"""The Fleet screen against three real servers on real sockets: one row per server with its state
and figures, a stopped one shown down with the reason, a server asking for a token shown
unauthorized, the alerts of all of them in one list with the server's name, and ``enter``
switching the whole console to a server."""

from __future__ import annotations

import socket
import time

import pytest

from console.app import ConsoleApp
from console.client import Backoff, Reply, ServerClient
from console.commands.console import server_urls
from console.fleet import Fleet, Member, MemberState
from console.screens.alerts import AlertsScreen
from console.screens.fleet import FleetScreen, fleet_alert_rows, server_row
from console.screens.overview import OverviewScreen
from console.widgets.table import LiveTable
from console.widgets.topbar import TopBar
from engine.clock import FixedClock
from engine.settings import load_settings
from server.auth.tokens import create_token
from tests.console.conftest import T0, FedServer, make_app, settled, wait_for
from tests.console.test_alerts_screens import firing_disk_alerts
from tests.console.test_cli import Terminal, run_cli

SECRET = "fleet-secret-" + "f" * 32


@pytest.fixture
def three(tmp_path):
    """Three servers; the last one is stopped (its port refuses connections)."""
    servers = [FedServer(tmp_path / f"s{i}").start() for i in range(3)]
    servers[2].stop()
    yield servers
    for server in servers[:2]:
        server.stop()


def fleet_app(urls: list[str], token: str | None = None) -> ConsoleApp:
    client = ServerClient(urls[0], backoff=Backoff(0.05, 0.2), token=token)
    return ConsoleApp(client, clock=FixedClock(T0), theme="dark", fleet=Fleet(urls, token, interval=0.2))


def cells(table: LiveTable) -> dict[str, list[str]]:
    return {str(key.value): [c.plain for c in table.get_row(key)] for key in table.rows}


async def test_the_fleet_shows_each_server_and_their_alerts_together(three):
    up, alerting, stopped = three
    await firing_disk_alerts(alerting)
    app = fleet_app([s.url for s in three])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), "the Fleet screen first")
        members = app.fleet.members
        await wait_for(pilot, lambda: [m.state for m in members.values()]
                       == [MemberState.UP, MemberState.UP, MemberState.DOWN]
                       and members[alerting.url].firing == 3 and members[up.url].version, "every server polled")
        await wait_for(pilot, lambda: app.screen.query_one("#fleet-alerts", LiveTable).row_count == 3, "the alerts")
        rows = cells(app.screen.query_one("#servers", LiveTable))
        assert rows[up.url][0] == f"▶ 127.0.0.1:{up.port}" and rows[up.url][1] == "up"
        assert rows[up.url][2].endswith("%") and rows[up.url][5] == "12d03h"  # the host model's CPU and uptime
        assert rows[alerting.url][6] == "3" and rows[alerting.url][0].startswith("  ")
        assert rows[stopped.url][1] == "down" and rows[stopped.url][2:8] == ["–"] * 6
        reasons = str(app.screen.query_one("#reasons").render())
        assert f"127.0.0.1:{stopped.port} down: cannot connect" in reasons
        alerts = cells(app.screen.query_one("#fleet-alerts", LiveTable))
        assert {row[0] for row in alerts.values()} == {f"127.0.0.1:{alerting.port}"}
        assert all(row[1] == "warning" and row[2] == "firing" for row in alerts.values())

        # enter on a server: the whole console now shows that one
        await pilot.press("j", "enter")
        await wait_for(pilot, lambda: app.client.base_url == alerting.url and isinstance(app.screen, OverviewScreen)
                       and settled(app), "the switch to the second server")
        assert f"127.0.0.1:{alerting.port}" in str(app.screen.query_one(TopBar).query_one("#address").render())
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.table.row_count == 3,
                       "its alerts on the Alerts screen")
        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen)
                       and cells(app.screen.query_one("#servers", LiveTable))[alerting.url][0].startswith("▶"),
                       "back on the Fleet screen, the second server marked")

        # and back to the first: its Alerts screen is its own again (no alerts there)
        await pilot.press("k", "enter")
        await wait_for(pilot, lambda: app.client.base_url == up.url and settled(app), "the switch back")
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen) and app.alerts.alerts == {}
                       and app.screen.table.row_count == 0, "the first server's (empty) alerts")


async def test_enter_on_an_alert_opens_its_server_alerts(three):
    up, alerting, _ = three
    await firing_disk_alerts(alerting)
    app = fleet_app([s.url for s in three])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen)
                       and app.screen.query_one("#fleet-alerts", LiveTable).row_count == 3, "the fleet's alerts")
        app.screen.query_one("#fleet-alerts", LiveTable).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.client.base_url == alerting.url and isinstance(app.screen, AlertsScreen)
                       and app.screen.table.row_count == 3, "the alert's server's Alerts screen")


async def test_a_server_that_never_answers_times_out_without_holding_up_the_others(fed_server):
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()  # the kernel accepts connections; nobody ever reads or answers
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        client = ServerClient(fed_server.url, backoff=Backoff(0.05, 0.2))
        app = ConsoleApp(client, clock=FixedClock(T0), theme="dark",
                         fleet=Fleet([url, fed_server.url], interval=0.2, timeout=4))
        async with app.run_test(size=(120, 40)) as pilot:
            members = app.fleet.members
            await wait_for(pilot, lambda: members[fed_server.url].state == MemberState.UP, "the live server")
            assert members[url].state == MemberState.CONNECTING  # still waiting: it did not hold the other up
            await wait_for(pilot, lambda: members[url].state == MemberState.DOWN, "the timeout", attempts=1500)
            assert members[url].reason == "timed out"


async def test_a_server_wanting_a_token_is_unauthorized_with_the_reason(tmp_path):
    env = {"AUTH_ENABLED": "true", "JWT_SECRET": SECRET, "RATE_LIMIT": "off", "AUTH_FAILURE_LIMIT": "off"}
    open_one = FedServer(tmp_path / "open").start()
    secured = FedServer(tmp_path / "secured", env=env).start()
    try:
        app = fleet_app([open_one.url, secured.url])
        async with app.run_test(size=(120, 40)) as pilot:
            member = app.fleet.members[secured.url]
            await wait_for(pilot, lambda: member.state == MemberState.UNAUTHORIZED, "the refusal")
            assert "the server needs a token (HTTP 401)" in member.reason
            assert app.fleet.members[open_one.url].state == MemberState.UP
        token = create_token(secured.embedded.settings, "alice", "viewer", 3600, time.time())
        app = fleet_app([open_one.url, secured.url], token)
        async with app.run_test(size=(120, 40)) as pilot:  # the console's token goes to every server
            await wait_for(pilot, lambda: app.fleet.members[secured.url].state == MemberState.UP, "accepted")
    finally:
        open_one.stop()
        secured.stop()


async def test_one_server_has_no_fleet(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: settled(app), "the first data")
        await pilot.press("F")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        assert "Fleet" not in str(app.screen.query_one(TopBar).query_one("#tabs").render())


def test_servers_from_the_command_line_and_the_config(tmp_path):
    assert server_urls(["a:3000", " b:3000", "http://a:3000", ""]) == ["http://a:3000", "http://b:3000"]
    with pytest.raises(ValueError, match="scheme"):
        server_urls(["a:3000", "ftp://b"])
    config = tmp_path / "config.yml"
    config.write_text("servers:\n  - a.example:3000\n  - b.example:3000\n")
    settings = load_settings(env={"DATA_DIR": str(tmp_path)}, config_file=str(config), dotenv_path=None)
    assert server_urls(settings.servers) == ["http://a.example:3000", "http://b.example:3000"]
    r = run_cli("console", "--server", "a:3000,ftp://b")
    assert r.returncode == 2 and "ftp://b" in r.stderr and "scheme" in r.stderr


def test_servers_in_the_config_open_the_fleet_screen(fed_server, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = s.getsockname()[1]
        config = tmp_path / "config.yml"
        config.write_text(f"servers: ['{fed_server.url}', '127.0.0.1:{port}']\n")
        term = Terminal(["console", "--config", str(config)], {"DATA_DIR": str(tmp_path)}, columns=120, rows=30)
        try:
            term.wait_for("Servers", "Alerts across the fleet", f"127.0.0.1:{port} down: cannot connect", "F Fleet")
            term.press(b"q")
            assert term.proc.wait(30) == 0
        finally:
            term.close()


def fixed_fleet(url: str) -> Fleet:
    """Three servers as a poll would leave them, without polling: the console shows the first (a real
    server, for the top bar), the second answers with two alerts, the third is down."""
    fleet = Fleet([url, "http://b.example:3000", "http://c.example:3000"], poll=False)
    a, b, c = fleet.members.values()
    a.address = "a.example:3000"
    for member, cpu, firing in ((a, 23.4, 0), (b, 87.9, 2)):
        member.state, member.version, member.firing, member.checks_down = MemberState.UP, "1.4.0", firing, firing // 2
        member.system = {"cpu_percent": cpu, "memory_used_percent": 41.2, "load1": 1.25,
                         "uptime_seconds": 12 * 86400 + 3 * 3600}
    b.alerts = [{"id": f"b{i}", "name": name, "severity": sev, "state": "firing", "labels": {"mountpoint": mount},
                 "activeAt": f"2027-01-15T07:5{i}:00Z"}
                for i, (name, sev, mount) in enumerate((("DiskFull", "critical", "/home"),
                                                        ("DiskFilling", "warning", "/srv/[data]")))]
    c.state, c.reason = MemberState.DOWN, "cannot connect: All connection attempts failed"
    return fleet


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_fleet_screen(snap_compare, fed_server, size):
    app = make_app(fed_server.url, fleet=fixed_fleet(fed_server.url))

    async def ready(pilot) -> None:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and settled(app)
                       and app.screen.query_one("#fleet-alerts", LiveTable).row_count == 2, "the fleet")

    assert snap_compare(app, terminal_size=size, run_before=ready)


def test_a_server_answering_nonsense_is_shown_without_breaking_the_tables():
    member = Member("http://x:1", "x:1")
    realtime = Reply(data={"system": {"cpu_percent": "lots", "load1": True, "memory_used_percent": 12.5},
                           "alerts": {"firing": "2"}, "services_down": 1})
    alerts = Reply(data={"alerts": [{"id": "1", "activeAt": "yesterday"}, {"id": "2", "labels": "x"}, "3",
                                    {"id": "4", "name": "Kept", "severity": "info", "state": "firing",
                                     "activeAt": "2027-01-15T07:59:00Z", "labels": {"a": "[b]"}}]})
    member.take(realtime, alerts, None)
    assert server_row(member, False)[1:] == ["up", "–", "12.5%", "–", "–", "–", "1", "–"]
    rows = fleet_alert_rows([(member, a) for a in member.alerts], T0)
    assert [cells[3] for _, cells in rows] == ["Kept a=[b]"]
