"""The Notifications screen (key 9) and the alert details' deliveries, on a real server with real
recording HTTP receivers on 127.0.0.1: ``hook`` answers 200, ``pager`` answers 500 every time.

A critical alert is routed to both. The server runs on a fixed clock; retries are made due by moving
that clock and waking the delivery workers, as the notifier's own tests do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from console.app import ConsoleApp
from console.client import Backoff, ServerClient
from console.screens.alert_dialogs import AlertDetails
from console.screens.alerts import AlertsScreen
from console.screens.notifications import DeliveryDetails, NotificationsScreen
from console.widgets.field import Field
from engine.clock import FixedClock, to_ms
from engine.tsdb.types import Family
from tests.console.conftest import T0, FedServer, wait_for
from tests.integration.receivers import Recorder

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
FIRE_AT = T0 + 10
"""The server clock when the alert fires; each retry moves it on by RETRY_STEP_S."""
RETRY_STEP_S = 600
CONSOLE_NOW = T0 + 1800
"""The console's fixed clock: after every delivery, so ages read the same on every run."""


class Receivers:
    """Recording receivers on their own loop and thread: they serve the sync snapshot tests and the
    Pilot tests alike, and are there before the server (whose config names their URLs) starts."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="receivers", daemon=True)
        self.thread.start()
        self.made: list[Recorder] = []

    def start(self, **kw: Any) -> Recorder:
        async def make() -> Recorder:
            return await Recorder(**kw).start()
        recorder = asyncio.run_coroutine_threadsafe(make(), self.loop).result(30)
        self.made.append(recorder)
        return recorder

    def stop(self) -> None:
        for recorder in self.made:
            asyncio.run_coroutine_threadsafe(recorder.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def config(hook: str, pager: str) -> str:
    return ('{channels: [{name: hook, type: webhook, url: "' + hook + '/hook"}, '
            '{name: pager, type: webhook, url: "' + pager + '/page"}], '
            'route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s, '
            'routes: [{receiver: pager, matchers: [\'severity="critical"\'], continue: true}, '
            '{receiver: hook, matchers: [\'severity=~".+"\']}]}}')


class NotifyServer:
    """A FedServer with the two channels, its notifier started, and the steps of the story."""

    def __init__(self, tmp_path, receivers: Receivers) -> None:
        self.hook = receivers.start()
        self.pager = receivers.start(fail_first=10**6)
        self.fed = FedServer(tmp_path / "data", env={"NOTIFICATIONS": config(self.hook.url, self.pager.url)})
        self.fed.start()
        self.url = self.fed.url
        self.engine = self.fed.embedded.running.engine
        self.run(self.engine.notifier.start)

    def run(self, fn: Callable[[], Awaitable[Any]]) -> asyncio.Future[Any]:
        """Run a coroutine on the server's loop; await the result (or ``.result()`` it in sync code)."""
        async def call() -> Any:
            return await fn()
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), self.fed.embedded.loop)) \
            if _in_loop() else asyncio.run_coroutine_threadsafe(call(), self.fed.embedded.loop).result(30)

    def fire(self) -> Any:
        """A critical rule whose condition holds, evaluated at FIRE_AT: routed to hook and pager."""
        with httpx.Client(base_url=self.url) as client:
            response = client.post("/api/alerts/rules", json={
                "name": "HighTemp", "metricName": "temp_celsius", "condition": ">", "threshold": 50,
                "duration": "0s", "severity": "critical", "annotations": {"summary": "{{ $labels.room }} is hot"}})
            assert response.status_code == 201, response.text

        async def step() -> None:
            fam = Family("temp_celsius", "gauge", "Room temperature.")
            fam.add(80, {"room": "lab"})
            self.fed.clock.set(FIRE_AT)
            self.engine.store.ingest("test:lab", [fam], to_ms(FIRE_AT))
            await self.engine.ruler.evaluate_all(FIRE_AT)
            await self.engine.notifier.flush_due()
        return self.run(step)

    def retry(self) -> Any:
        """Make the pager's next retry due now."""
        async def step() -> None:
            self.fed.clock.advance(RETRY_STEP_S)
            self.engine.notifier.delivery.wake()
        return self.run(step)

    def log(self) -> list[dict[str, Any]]:
        with httpx.Client(base_url=self.url) as client:
            return client.get("/api/notifications").json()["notifications"]

    def wait_log(self, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """The delivery log once ``done`` holds (bounded; a delivery ends after the receiver answers)."""
        for _ in range(500):
            entries = self.log()
            if done(entries):
                return entries
            threading.Event().wait(0.02)
        raise AssertionError(f"the delivery log never got there: {self.log()}")


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def attempts(entries: list[dict[str, Any]], channel: str) -> int:
    return next((e["attempts"] for e in entries if e["channel"] == channel), 0)


@pytest.fixture(scope="module")
def receivers():
    made = Receivers()
    yield made
    made.stop()


@pytest.fixture
def notify_server(tmp_path, receivers):
    server = NotifyServer(tmp_path, receivers)
    yield server
    server.fed.stop()


@pytest.fixture(scope="module")
def delivered(tmp_path_factory, receivers):
    """The whole story done before the console opens: hook got the alert, pager failed three times."""
    server = NotifyServer(tmp_path_factory.mktemp("notify"), receivers)
    server.fire()
    for n in (1, 2):
        server.wait_log(lambda e, n=n: attempts(e, "pager") == n and attempts(e, "hook") == 1)
        server.retry()
    server.wait_log(lambda e: attempts(e, "pager") == 3)
    yield server
    server.fed.stop()


def notify_app(url: str) -> ConsoleApp:
    """The console as the snapshots see it, its clock after every delivery of the story."""
    return ConsoleApp(ServerClient(url, backoff=Backoff(0.05, 0.2)), clock=FixedClock(CONSOLE_NOW),
                      address="metrics.example:3000", theme="dark")


def cells(table, key: str) -> list[str]:
    return [cell.plain for cell in table.get_row(key)]


async def open_notifications(pilot, deliveries: int) -> NotificationsScreen:
    await pilot.press("9")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, NotificationsScreen)
                   and pilot.app.screen.channels.row_count == 2
                   and pilot.app.screen.log_table.row_count == deliveries, "the channels and the log")
    return pilot.app.screen


async def test_a_channel_is_listed_healthy_and_t_sends_a_test_the_receiver_answers(delivered):
    before = len(delivered.hook.requests)
    async with notify_app(delivered.url).run_test(size=(120, 40)) as pilot:
        screen = await open_notifications(pilot, 2)
        assert cells(screen.channels, "hook")[:3] == ["● ok", "hook", "webhook"]
        assert screen.channels.highlighted_key == "hook"
        await pilot.press("t")
        answer = screen.query_one("#answer", Field)
        await wait_for(pilot, lambda: "HTTP 200" in str(answer.content), "the receiver's answer")
        assert str(answer.content).startswith("✔ sent test to hook: HTTP 200 in ")
        assert str(answer.content).endswith(" · ok")  # what the receiver said
    (got,) = delivered.hook.requests[before:]
    assert got.path == "/hook" and got.json()["alerts"][0]["labels"]["alertname"] == "TestNotification"


async def test_t_on_a_failing_receiver_shows_its_error(delivered):
    async with notify_app(delivered.url).run_test(size=(120, 40)) as pilot:
        screen = await open_notifications(pilot, 2)
        await pilot.press("j", "t")
        answer = screen.query_one("#answer", Field)
        await wait_for(pilot, lambda: "HTTP 500" in str(answer.content), "the receiver's answer")
        assert str(answer.content).startswith("✖ failed test to pager: HTTP 500 in ")
        assert "failing on purpose" in str(answer.content)


async def test_a_failing_receiver_shows_the_channel_failing_with_its_error(delivered):
    async with notify_app(delivered.url).run_test(size=(120, 40)) as pilot:
        screen = await open_notifications(pilot, 2)
        health, name, _, queue, last, error = cells(screen.channels, "pager")
        assert (health, name, queue, last, error) == ("✖ failing", "pager", "1", "–", "HTTP 500")
        assert screen.channels.border_title == "Channels · 1 failing"
        pager = next(e for e in delivered.log() if e["channel"] == "pager")
        assert cells(screen.log_table, str(pager["id"]))[2:] == ["pager", "… pending", "3", "HTTP 500"]


async def test_the_filter_keeps_one_channel_in_both_tables(delivered):
    pager = next(e for e in delivered.log() if e["channel"] == "pager")
    async with notify_app(delivered.url).run_test(size=(80, 24)) as pilot:
        screen = await open_notifications(pilot, 2)
        await pilot.press("slash", *"pager", "enter")
        assert screen.channels.visible_keys == ["pager"] and screen.log_table.visible_keys == [str(pager["id"])]
        await pilot.press("t")  # the selected channel is the one left in view
        answer = screen.query_one("#answer", Field)
        await wait_for(pilot, lambda: "HTTP 500" in str(answer.content), "the pager's answer")
        await pilot.press("x")
        assert screen.channels.visible_keys == ["hook", "pager"] and screen.log_table.row_count == 2

async def test_enter_on_a_delivery_shows_the_payload_sent_and_the_response(delivered):
    hook = next(e for e in delivered.log() if e["channel"] == "hook")
    async with notify_app(delivered.url).run_test(size=(120, 40)) as pilot:
        screen = await open_notifications(pilot, 2)
        await pilot.press("tab")
        assert screen.focused is screen.log_table
        screen.log_table.move_cursor(row=screen.log_table.get_row_index(str(hook["id"])))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DeliveryDetails), "the details")
        exchange = pilot.app.screen.query_one("#exchange", Field)
        await wait_for(pilot, lambda: "Payload sent" in str(exchange.content), "the payload")
        text = str(exchange.content)
        assert "Response\n  HTTP 200\n  ok\n" in text
        assert '"receiver": "hook"' in text and '"alertname": "HighTemp"' in text
        await pilot.press("escape")
        assert pilot.app.screen is screen


async def test_a_firing_alerts_delivery_appears_live_and_in_the_alerts_details(notify_server):
    async with notify_app(notify_server.url).run_test(size=(120, 40)) as pilot:
        screen = await open_notifications(pilot, 0)
        await notify_server.fire()
        await wait_for(pilot, lambda: screen.log_table.row_count == 2 and any(
            cells(screen.log_table, k)[3] == "✔ sent" for k in screen.log_table.visible_keys), "the deliveries")
        hook = next(e for e in notify_server.log() if e["channel"] == "hook")
        assert cells(screen.log_table, str(hook["id"])) == ["08:00:10", "HighTemp", "hook", "✔ sent", "1", ""]
        assert notify_server.hook.accepted[0].json()["alerts"][0]["labels"]["room"] == "lab"
        # the pager keeps failing: after the third attempt it shows failing, with its error, live
        for n in (1, 2):
            await wait_for(pilot, lambda n=n: any(cells(screen.log_table, k)[4] == str(n)
                                                  for k in screen.log_table.visible_keys
                                                  if cells(screen.log_table, k)[2] == "pager"), f"attempt {n}")
            await notify_server.retry()
        await wait_for(pilot, lambda: cells(screen.channels, "pager")[0] == "✖ failing", "pager failing")
        assert cells(screen.channels, "pager")[5] == "HTTP 500"
        assert cells(screen.channels, "hook")[0] == "● ok"

        await pilot.press("3")
        alerts = pilot.app.screen
        assert isinstance(alerts, AlertsScreen)
        await wait_for(pilot, lambda: alerts.table.row_count == 1, "the alert")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, AlertDetails), "the alert's details")
        sent = pilot.app.screen.query_one("#sent", Field)
        await wait_for(pilot, lambda: "hook" in str(sent.content), "where it was sent")
        lines = str(sent.content).splitlines()
        assert lines[0] == "Notifications"
        assert "  08:00:10  hook  ✔ sent  firing  1 attempt" in lines
        assert any(line.startswith("  ") and "pager  … pending  firing  3 attempts  HTTP 500" in line
                   for line in lines)

        # a retry made while another screen is shown (the topic is not followed then) is there on return
        await pilot.press("escape")
        await notify_server.retry()
        await asyncio.to_thread(notify_server.wait_log, lambda e: attempts(e, "pager") == 4)
        await pilot.press("9")
        await wait_for(pilot, lambda: pilot.app.screen is screen and any(
            cells(screen.log_table, k)[2:5] == ["pager", "… pending", "4"] for k in screen.log_table.visible_keys),
            "the fourth attempt")


@SIZES
def test_notifications_screen(snap_compare, delivered, size):
    async def run_before(pilot) -> None:
        await open_notifications(pilot, 2)

    assert snap_compare(notify_app(delivered.url), terminal_size=size, run_before=run_before)



def test_notifications_screen_without_colour(snap_compare, delivered, monkeypatch):
    """NO_COLOR: health and status still read apart by their symbols."""
    monkeypatch.setenv("NO_COLOR", "1")

    async def run_before(pilot) -> None:
        await open_notifications(pilot, 2)

    assert snap_compare(notify_app(delivered.url), terminal_size=(80, 24), run_before=run_before)
