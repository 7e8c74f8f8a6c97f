"""A real server on a real socket, on a free port, with its own data dir."""

from __future__ import annotations

import httpx
import pytest

from engine.settings import load_settings
from server.runner import start_server


def make_settings(tmp_path, **env):
    base = {"DATA_DIR": str(tmp_path / "data"), "PORT": "0", "HOST": "127.0.0.1", "COLLECTION_INTERVAL": "0.2"}
    base.update({k.upper(): str(v) for k, v in env.items()})
    return load_settings(env=base, dotenv_path=None)


@pytest.fixture
async def server(tmp_path):
    running = await start_server(make_settings(tmp_path))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
        yield c
