"""The demo booking platform: its real services, its seeded traffic, and a short run against a real
server that must bring its metrics in through the scrape and push paths."""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from demo.options import DemoOptions
from demo.platform import DemoPlatform
from demo.services import SERVICES, DemoService
from demo.traffic import TrafficGenerator
from server.runner import start_server
from tests.integration.conftest import make_settings

DEADLINE_S = 30.0


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Poll ``check`` (a predicate, or a coroutine function) until it holds; fail naming ``what``
    once the deadline passes."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not await _holds(check):
        if loop.time() > end:
            pytest.fail(f"timed out after {deadline_s:g} s waiting for {what}")
        await asyncio.sleep(0.2)


async def _holds(check: Callable[[], Awaitable[bool] | bool]) -> bool:
    result = check()
    return await result if inspect.isawaitable(result) else result


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
async def services():
    platform = {name: DemoService(name, seed=3) for name in SERVICES}
    for s in platform.values():
        await s.start()
    for s in platform.values():
        s.downstream = {name: other.url for name, other in platform.items()}
    try:
        yield platform
    finally:
        for s in platform.values():
            await s.stop()


async def scrape(session: aiohttp.ClientSession, service: DemoService) -> dict:
    async with session.get(service.url + "/metrics") as r:
        assert r.status == 200
        return {f.name: f for f in text_string_to_metric_families(await r.text())}


async def test_services_answer_and_expose_the_documented_metric_names_and_labels(services):
    async with aiohttp.ClientSession() as session:
        async with session.post(services["booking"].url + "/bookings",
                                json={"seats": 2, "amount": 99.5, "currency": "EUR"}) as r:
            assert r.status == 201
        async with session.get(services["booking"].url + "/search") as r:
            assert r.status == 200
        for name, service in services.items():
            async with session.get(service.url + "/health") as r:
                assert r.status == 200 and (await r.json())["service"] == name
            families = await scrape(session, service)
            requests = families["http_requests"]  # the parser names a counter family without _total
            assert requests.type == "counter"
            samples = [s for s in requests.samples if s.name == "http_requests_total"]
            assert samples, name
            assert {tuple(sorted(s.labels)) for s in samples} == {("method", "route", "service", "status")}
            assert {s.labels["service"] for s in samples} == {name}
            assert "/metrics" not in {s.labels["route"] for s in samples}
            duration = families["http_request_duration_seconds"]
            assert duration.type == "histogram"
            assert {tuple(sorted(k for k in s.labels if k != "le")) for s in duration.samples} == {
                ("method", "route", "service")}
            assert families["http_active_connections"].type == "gauge"
            assert [s.labels for s in families["http_active_connections"].samples] == [{"service": name}]
            db = families["db_query_duration_seconds"]
            assert db.type == "histogram" and db.samples
            assert {tuple(sorted(k for k in s.labels if k != "le")) for s in db.samples} == {("operation", "service")}
        booking = await scrape(session, services["booking"])
        routes = {(s.labels["method"], s.labels["route"], s.labels["status"]): s.value
                  for s in booking["http_requests"].samples if s.name == "http_requests_total"}
        assert routes == {("POST", "/bookings", "201"): 1.0, ("GET", "/search", "200"): 1.0}
        cache = booking["cache_requests"]
        assert {s.labels["result"] for s in cache.samples if s.name == "cache_requests_total"} <= {"hit", "miss"}
        assert sum(s.value for s in cache.samples if s.name == "cache_requests_total") == 1.0
        payment = await scrape(session, services["payment"])
        assert [s.labels["route"] for s in payment["http_requests"].samples
                if s.name == "http_requests_total"] == ["/payments"]  # booking called payment once


async def test_an_outage_closes_the_port_and_booking_fails_until_it_comes_back_on_the_same_port(services):
    inventory = services["inventory"]
    port = inventory.port
    async with aiohttp.ClientSession() as session:
        async with session.post(services["booking"].url + "/bookings", json={"amount": 10}) as r:
            assert r.status == 201  # booking now holds a keep-alive connection to inventory
        await inventory.pause()
        assert refused(port)
        async with session.post(services["booking"].url + "/bookings", json={"amount": 10}) as r:
            assert r.status == 503  # the open connection was dropped too: no answer at all
        await inventory.resume()
        assert inventory.port == port and not refused(port)
        async with session.post(services["booking"].url + "/bookings", json={"amount": 10}) as r:
            assert r.status == 201
        booking = await scrape(session, services["booking"])
        statuses = {s.labels["status"]: s.value for s in booking["http_requests"].samples
                    if s.name == "http_requests_total"}
        assert statuses == {"201": 2.0, "503": 1.0}


def test_the_same_seed_makes_the_same_customers_and_another_seed_others():
    def run(seed: int) -> list:
        traffic = TrafficGenerator("http://127.0.0.1:1", seed, rate=3.0)
        plans = [traffic.plan() for _ in range(30)]
        return [plans, dict(traffic.business.funnel), traffic.business.active_users]

    first = run(11)
    assert first == run(11)
    assert first != run(12)
    plans = first[0]
    assert sum(1 for plan in plans for method, _, _ in plan if method == "POST") > 30  # ~3 bookings a second
    assert {path for plan in plans for _, path, _ in plan} >= {"/search", "/bookings"}


# -- against a real server -----------------------------------------------------------------------


@pytest.fixture
async def demo_server(tmp_path):
    running = await start_server(make_settings(tmp_path, demo="true", collection_interval="1"))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def platform(demo_server):
    options = DemoOptions(seed=5, rate=4.0, episode_every=0, push_interval=0.5, scrape_interval="1s",
                          check_interval="1s")
    demo = DemoPlatform(demo_server.url, options)
    await demo.start()
    try:
        yield demo
    finally:
        await demo.stop()


async def query(client: httpx.AsyncClient, expr: str) -> list[dict]:
    r = await client.get("/api/v1/query", params={"query": expr})
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


async def needs(client: httpx.AsyncClient, method: str, path: str, who: str) -> None:
    r = await client.request(method, path, json={})
    if r.status_code in (404, 405):
        pytest.skip(f"the server has no {method} {path} yet ({who}'s work)")


async def test_the_summary_says_when_the_server_holds_demo_data(demo_server, tmp_path):
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        assert (await client.get("/api/metrics/summary")).json()["demo"] is True
    other = await start_server(make_settings(tmp_path / "real"))
    try:
        async with httpx.AsyncClient(base_url=other.url) as client:
            assert (await client.get("/api/metrics/summary")).json()["demo"] is False
    finally:
        await other.stop()


async def test_a_short_run_brings_every_services_requests_and_up_in_through_scraping(demo_server, platform):
    async with httpx.AsyncClient(base_url=demo_server.url, timeout=10) as client:
        await needs(client, "POST", "/api/targets", "engineer S")

        async def every_service_scraped() -> bool:
            got = {r["metric"].get("service") for r in await query(client, "http_requests_total")}
            return got >= set(SERVICES)

        await eventually(every_service_scraped, "http_requests_total of every service")
        up = {r["metric"]["job"]: r["value"][1] for r in await query(client, "up")}
        assert {up.get(name) for name in SERVICES} == {"1"}, up


async def test_a_short_run_pushes_the_business_metrics(demo_server, platform):
    async with httpx.AsyncClient(base_url=demo_server.url, timeout=10) as client:
        await needs(client, "POST", "/api/metrics/batch", "engineer P")

        for expr in ('bookings_total{service="booking",status="created"} > 0',
                     'bookings_total{service="booking",status="completed"} > 0',
                     'revenue_total{service="payment",currency="EUR"} > 0', 'active_users{service="booking"} > 0',
                     'conversion_funnel_step_total{funnel="booking",step="search"} > 0',
                     'customer_satisfaction_score_bucket{le="5.0"} > 0'):
            async def present(expr: str = expr) -> bool:
                return bool(await query(client, expr))

            await eventually(present, expr)
        assert platform.pushed_items > 0


async def test_an_inventory_outage_takes_up_to_zero_and_back(demo_server, platform):
    async with httpx.AsyncClient(base_url=demo_server.url, timeout=10) as client:
        await needs(client, "POST", "/api/targets", "engineer S")

        async def inventory_up(value: str) -> bool:
            return [r["value"][1] for r in await query(client, 'up{job="inventory"}')] == [value]

        await eventually(lambda: inventory_up("1"), "inventory to be scraped")
        episode = asyncio.create_task(platform.episode("inventory-outage", duration_s=60))
        try:
            await eventually(lambda: inventory_up("0"), "up{job=inventory} to drop to 0")

            async def booking_fails() -> bool:
                expr = 'http_requests_total{service="booking",route="/bookings",status="503"}'
                return bool(await query(client, expr))

            await eventually(booking_fails, "booking's 503s while inventory is down")
        finally:
            episode.cancel()
            await asyncio.gather(episode, return_exceptions=True)
        await eventually(lambda: inventory_up("1"), "up{job=inventory} to come back")


async def test_a_payment_episode_makes_payment_errors(demo_server, platform):
    async with httpx.AsyncClient(base_url=demo_server.url, timeout=10) as client:
        await needs(client, "POST", "/api/targets", "engineer S")
        episode = asyncio.create_task(platform.episode("payment-errors", duration_s=60))
        try:
            async def payment_5xx() -> bool:
                return bool(await query(client, 'http_requests_total{service="payment",status="503"} > 0'))

            await eventually(payment_5xx, "payment's 503s")
        finally:
            episode.cancel()
            await asyncio.gather(episode, return_exceptions=True)
        assert platform.services["payment"].fault.error_rate == 0.0


async def test_the_demo_registers_health_checks_and_an_outage_takes_its_check_down(demo_server, platform):
    async with httpx.AsyncClient(base_url=demo_server.url, timeout=10) as client:
        await needs(client, "GET", "/api/health/services", "engineer H")

        async def states() -> dict[str, str]:
            r = await client.get("/api/health/services")
            assert r.status_code == 200, r.text
            return {c["name"]: c["state"] for c in r.json()["services"]}

        async def all_up() -> bool:
            # PostgreSQL is checked, but whether it lets the demo's default role in depends on the machine
            got = await states()
            return got.pop("postgres", "unknown") != "unknown" and got == dict.fromkeys([*SERVICES, "redis"], "up")

        await eventually(all_up, "every demo check (services, Redis, PostgreSQL) to be checked and up")
        booking = (await client.get("/api/health/services/booking")).json()["service"]
        assert booking["labels"] == {"demo": "true"}
        assert booking["dependsOn"] == ["inventory", "payment"]
        episode = asyncio.create_task(platform.episode("inventory-outage", duration_s=60))
        try:
            async def inventory_down() -> bool:
                got = await states()
                return got["inventory"] == "down" and got["booking"] == "degraded"

            await eventually(inventory_down, "inventory down and booking degraded")
        finally:
            episode.cancel()
            await asyncio.gather(episode, return_exceptions=True)
        await eventually(all_up, "every check up again after the outage")
    await platform.stop()
    async with httpx.AsyncClient(base_url=demo_server.url, timeout=10) as client:
        assert (await client.get("/api/health/services")).json()["services"] == []  # stop unregisters them


async def test_episodes_come_in_a_seeded_order_and_stopping_mid_episode_leaves_nothing_broken(demo_server):
    assert ([e.name for e in DemoPlatform("http://x", DemoOptions(seed=8)).episode_order]
            == [e.name for e in DemoPlatform("http://x", DemoOptions(seed=8)).episode_order])
    orders = {tuple(e.name for e in DemoPlatform("http://x", DemoOptions(seed=s)).episode_order) for s in range(8)}
    assert len(orders) > 1
    demo = DemoPlatform(demo_server.url, DemoOptions(seed=8, episode_every=0.2, push_interval=0.5))
    await demo.start()
    try:
        async def episode_running() -> bool:
            return demo.current_episode is not None

        await eventually(episode_running, "the first episode")
        assert demo.current_episode == demo.episode_order[0]
    finally:
        await demo.stop()
    assert demo.current_episode is None
    assert all(s.fault.error_rate == 0 and s.fault.extra_latency_s == 0 for s in demo.services.values())
    assert not any(s.running for s in demo.services.values())


async def test_business_figures_survive_a_server_restart_and_add_up_to_the_bookings_made(tmp_path):
    first = await start_server(make_settings(tmp_path, demo="true"))
    port = first.url.rsplit(":", 1)[1]
    demo = DemoPlatform(first.url, DemoOptions(seed=9, rate=5.0, episode_every=0, push_interval=0.3))
    await demo.start()
    try:
        await eventually(lambda: (demo.pushed_items > 0), "a first push")
        await first.stop()
        pushed = demo.pushed_items
        booking = demo.services["booking"].registry

        def made() -> float:
            return booking.get_sample_value("http_requests_total", {
                "service": "booking", "method": "POST", "route": "/bookings", "status": "201"}) or 0.0

        before = made()
        await eventually(lambda: (made() > before + 5), "bookings made while the server is away")
        assert demo.pushed_items == pushed
        second = await start_server(make_settings(tmp_path, demo="true", port=port))
        try:
            await eventually(lambda: (demo.pushed_items > pushed), "a push once the server is back")
            await demo.stop()
            async with httpx.AsyncClient(base_url=second.url) as client:
                got = await query(client, 'bookings_total{service="booking",status="created"}')
            assert [float(r["value"][1]) for r in got] == [made()]
        finally:
            await second.stop()
    finally:
        await demo.stop()

