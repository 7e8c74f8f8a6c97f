"""The demo platform against a server with authentication on: with an admin token it registers its
services (scrape targets) and pushes; without one the server refuses it."""

from __future__ import annotations

import time

import httpx
import pytest

from demo.options import DemoOptions
from demo.platform import DemoPlatform
from demo.services import SERVICES
from server.auth.tokens import create_token
from server.runner import start_server
from tests.integration.conftest import make_settings

SECRET = "demo-secret-" + "d" * 32


@pytest.fixture
async def secured(tmp_path):
    settings = make_settings(tmp_path, AUTH_ENABLED="true", JWT_SECRET=SECRET, RATE_LIMIT="off",
                             AUTH_FAILURE_LIMIT="off")
    running = await start_server(settings, start_schedules=False)
    running.admin = create_token(settings, "demo", "admin", 600, time.time())
    try:
        yield running
    finally:
        await running.stop()


async def demo_jobs(server) -> set[str]:
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {server.admin}"}) as c:
        r = await c.get("/api/targets")
        assert r.status_code == 200, r.text
        return {e["job"] for e in r.json()["entries"]}


@pytest.mark.parametrize("with_token", [True, False])
async def test_the_demo_registers_its_services_only_with_a_token(secured, with_token):
    options = DemoOptions(seed=5, rate=1.0, episode_every=0, push_interval=60)
    demo = DemoPlatform(secured.url, options, secured.admin if with_token else None)
    await demo.start()
    try:
        assert (await demo_jobs(secured) >= set(SERVICES)) is with_token
    finally:
        await demo.stop()
    assert not await demo_jobs(secured) & set(SERVICES)  # unregistered on stop
