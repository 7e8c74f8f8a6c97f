"""Services (6), its detail and targets view, and Business (7), live from the `application` and
`business` topics of a real server holding the platform of tests/service_data.py (known figures)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from console.embedded import EmbeddedServer
from console.screens.business import BusinessScreen, bucket_labels
from console.screens.services import ServicesScreen
from engine.clock import to_ms
from engine.settings import load_settings
from engine.tsdb.types import Family
from tests.console.conftest import T0, FedServer, make_app, settled, wait_for
from tests.service_data import EVAL_OFFSET_S, INTERVAL_S, SAMPLES, families, platform

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


class PlatformServer(FedServer):
    """The console's fed server plus the platform's 20 minutes, the last sample 5 s before T0."""

    def start(self) -> PlatformServer:
        super().start()
        self.call(self._feed_platform)
        return self

    def _feed_platform(self) -> None:
        defs, first = platform(), T0 - EVAL_OFFSET_S
        for k in range(SAMPLES):
            self.embedded.running.engine.store.ingest("platform", families(defs, k), to_ms(first + INTERVAL_S * k))


@pytest.fixture(scope="module")
def platform_server(tmp_path_factory):
    server = PlatformServer(tmp_path_factory.mktemp("platform-data")).start()
    yield server
    server.stop()


def has_view(app, topic: str) -> bool:
    return settled(app) and topic in app.views


def on_screen(key: str, topic: str):
    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: settled(pilot.app), "the first data")
        await pilot.press(key)
        await wait_for(pilot, lambda: has_view(pilot.app, topic), f"the {topic} topic")

    return run_before


def cells(table, key: str) -> list[str]:
    return [c.plain for c in table.get_row(key)]


async def test_services_lists_each_service_and_enter_opens_its_detail(platform_server):
    app = make_app(platform_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_screen("6", "application")(pilot)
        screen = app.screen
        assert isinstance(screen, ServicesScreen)
        assert app.client.followed == ("application",)
        table = screen.table
        assert table.visible_keys == ["booking", "node", "payment"]
        assert cells(table, "booking")[:6] == ["booking", "up 1/2", "3.00", "6.7%", "750ms", "7"]
        assert cells(table, "payment")[:4] == ["payment", "DOWN", "1.00", "0.0%"]
        assert cells(table, "node")[:3] == ["node", "up", "–"]
        table.move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.has_class("-detail"), "the detail")
        detail = screen.query_one("#detail").render().plain
        assert "p50 138ms  p90 500ms  p95 750ms  p99 950ms" in detail  # 137.5 ms shows as 138ms
        assert "4xx 6.7%  5xx 6.7%" in detail and "200 2.60/s  404 0.20/s  503 0.20/s" in detail
        assert "insert: 0.20/s · p95 96ms" in detail and "hit ratio 90.0%" in detail
        await pilot.press("escape")
        assert not screen.has_class("-detail") and screen.focused is table


async def test_business_shows_the_figures_and_the_funnel(platform_server):
    app = make_app(platform_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_screen("7", "business")(pilot)
        screen = app.screen
        assert isinstance(screen, BusinessScreen)
        assert app.client.followed == ("business",)
        bookings = screen.query_one("#bookings").render().plain
        assert "created" in bookings and "723" in bookings  # 720 in 20 min, extrapolated to the 1 h window's end
        funnel = screen.query_one("#funnel").render().plain.splitlines()
        assert funnel[0] == "checkout" and funnel[1].startswith("search") and funnel[1].endswith("100.0%")
        assert funnel[3].startswith("pay") and funnel[3].endswith("20.0%")
        satisfaction = screen.query_one("#satisfaction").render().plain.splitlines()
        assert satisfaction[0] == "average 3.60 from 1,205 answers"
        assert [line.split()[0] for line in satisfaction[1:]] == ["1", "2", "3", "4", "5"]  # per score; no empty > 5
        await pilot.press("1")  # leaving the screen drops its topic: the server computes nothing for it
        await wait_for(pilot, lambda: app.client.followed == (), "the topic to be dropped")


def test_bucket_labels_name_scores_and_ranges():
    assert bucket_labels([1.0, 2.0, 3.0, "+Inf"]) == ["1", "2", "3", "> 3"]
    assert bucket_labels([0.5, 1.0, 2.5, "+Inf"]) == ["≤ 0.5", "(0.5, 1]", "(1, 2.5]", "> 2.5"]


async def test_business_without_booking_series_says_so_rather_than_zero(tmp_path):
    server = FedServer(tmp_path / "data").start()
    try:
        app = make_app(server.url)
        async with app.run_test(size=(120, 40)) as pilot:
            await on_screen("7", "business")(pilot)
            await wait_for(pilot, lambda: app.screen.query_one("#bookings").render().plain, "the bookings block")
            assert app.screen.query_one("#bookings").render().plain == "no bookings_total samples"
    finally:
        server.stop()


async def test_views_follow_new_data(tmp_path):
    server = PlatformServer(tmp_path / "data").start()
    try:
        app = make_app(server.url)
        async with app.run_test(size=(80, 24)) as pilot:
            await on_screen("7", "business")(pilot)
            assert app.views["business"]["active_users"]["total"] == 50
            users = Family("active_users", "gauge", "users")
            users.add(60, {"service": "booking"})
            server.call(server.embedded.running.engine.store.ingest, "more", [users], to_ms(T0 + 1))
            await server.advance(5)  # a collection cycle: the views go to their subscribers
            await wait_for(pilot, lambda: app.views["business"]["active_users"]["total"] == 68, "the update")
            assert "68" in app.screen.query_one("#users").render().plain
    finally:
        server.stop()


@SIZES
def test_services_snapshot(snap_compare, platform_server, size):
    assert snap_compare(make_app(platform_server.url), terminal_size=size, run_before=on_screen("6", "application"))


def test_service_detail_snapshot(snap_compare, platform_server):
    async def run_before(pilot) -> None:
        await on_screen("6", "application")(pilot)
        pilot.app.screen.table.move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: pilot.app.screen.targets is not None, "the targets request")

    assert snap_compare(make_app(platform_server.url), terminal_size=(80, 24), run_before=run_before)


@SIZES
def test_business_snapshot(snap_compare, platform_server, size):
    assert snap_compare(make_app(platform_server.url), terminal_size=size, run_before=on_screen("7", "business"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_targets_view_lists_real_scrape_targets_with_health_and_error(tmp_path):
    """Two targets added through the API and scraped for real: this server's own /metrics (up) and a
    closed port (down, with the scrape's error), in the targets view and in the service's detail."""
    settings = load_settings(env={"DATA_DIR": str(tmp_path / "data"), "PORT": "0", "COLLECTION_INTERVAL": "1"},
                             dotenv_path=None)
    server = EmbeddedServer(settings, collect_system=False)
    server.start()
    try:
        url = server.wait_ready()
        own, dead = f"{url}/metrics", f"http://127.0.0.1:{_closed_port()}/metrics"
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for job, target in (("metrics-service", own), ("payment", dead)):
                r = await http.post("/api/targets", json={"job": job, "url": target, "interval": "1s"})
                assert r.status_code == 201, r.text
            for _ in range(500):  # both scraped at least once (bounded: 10 s)
                active = (await http.get("/api/v1/targets")).json()["data"]["activeTargets"]
                if len(active) == 2 and all(t["health"] != "unknown" for t in active):
                    break
                await asyncio.sleep(0.02)
        app = make_app(url)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("6")
            await wait_for(pilot, lambda: "application" in app.views, "the application topic")
            screen = app.screen
            await pilot.press("t")
            table = screen.query_one("#targets")
            await wait_for(pilot, lambda: len(table.visible_keys) == 2, "the targets")
            up = cells(table, f"metrics-service|{own}")
            down = cells(table, f"payment|{dead}")
            assert up[:3] == ["metrics-service", "up", own] and up[3].endswith(" ago") and up[5] == ""
            assert down[:3] == ["payment", "down", dead] and down[5] != ""
            await pilot.press("escape")
            assert screen.focused is screen.table
            await wait_for(pilot, lambda: "metrics-service" in screen.table.visible_keys, "the service's row")
            screen.table.move_cursor(row=screen.table.visible_keys.index("metrics-service"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: own in screen.query_one("#detail").render().plain, "its target")
            assert "up    " + own in screen.query_one("#detail").render().plain
    finally:
        server.stop()
