"""A verified token is remembered (the signature is not checked again on every request) only until it
expires: past ``exp`` plus JWT_LEEWAY the same token is refused, on our real server."""

from __future__ import annotations

import asyncio
import time

import httpx

from server.auth.tokens import create_token
from server.runner import start_server
from tests.integration.conftest import make_settings

SECRET = "c" * 40


async def test_a_remembered_token_is_refused_once_it_expires(tmp_path):
    settings = make_settings(tmp_path, auth_enabled="true", jwt_secret=SECRET, jwt_leeway="0.2")
    server = await start_server(settings, collect_system=False, start_schedules=False)
    try:
        exp = int(time.time()) + 2
        token = create_token(settings, "alice", "viewer", exp - time.time(), time.time())
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for _ in range(3):
                assert (await client.get("/api/alerts", headers=headers)).status_code == 200
            while time.time() <= exp + 0.2:
                await asyncio.sleep(0.1)  # the token's lifetime has to pass: no event marks it
            r = await client.get("/api/alerts", headers=headers)
            assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    finally:
        await server.stop()
