"""The Health screen at 80x24 and 120x40 on a real server: one check down (a server that never
answers, so its latency is its timeout and the same on every run), the others not checked yet."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from console.screens.health import HealthScreen
from console.screens.health_dialogs import CheckEditor
from tests.console.conftest import make_app, wait_for

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.fixture
def health_server(own_server, silent_port):
    server = own_server()

    async def setup() -> None:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for body in ({"name": "postgres", "type": "http", "url": f"http://127.0.0.1:{silent_port}/",
                          "timeout": "2s"},
                         {"name": "booking", "type": "http", "url": "http://127.0.0.1:8080/health",
                          "dependsOn": ["postgres"], "retries": 3},
                         {"name": "cache", "type": "redis", "url": "redis://127.0.0.1:6379/0"},
                         {"name": "search", "type": "dns", "host": "search.example.com"}):
                response = await client.post("/api/health/services", json=body)
                assert response.status_code == 201, response.text
            response = await client.post("/api/health/check", json={"name": "postgres"}, timeout=10)
            assert response.json()["services"][0]["state"] == "down", response.text

    asyncio.run(setup())
    return server


async def open_health(pilot) -> None:
    await pilot.press("8")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HealthScreen) and pilot.app.screen.table.row_count == 4
                   and pilot.app.health.services["postgres"].get("uptime", {}).get("24h") is not None, "the checks")


@SIZES
def test_health_screen(snap_compare, health_server, size):
    assert snap_compare(make_app(health_server.url), terminal_size=size, run_before=open_health)


def test_health_dependency_view(snap_compare, health_server):
    async def run_before(pilot) -> None:
        await open_health(pilot)
        await pilot.press("v")

    assert snap_compare(make_app(health_server.url), terminal_size=(80, 24), run_before=run_before)


def test_health_editor_shows_the_servers_error_at_its_field(snap_compare, health_server):
    async def run_before(pilot) -> None:
        await open_health(pilot)
        await pilot.press("n", *"web")
        editor = pilot.app.screen
        assert isinstance(editor, CheckEditor)
        editor.query_one("#http-url").focus()
        await pilot.press(*"nope", "ctrl+s")
        await wait_for(pilot, lambda: editor.query_one("#http-url-error").has_class("-shown"), "the error")

    assert snap_compare(make_app(health_server.url), terminal_size=(80, 24), run_before=run_before)


def test_health_screen_without_colour(snap_compare, health_server, monkeypatch):
    """NO_COLOR: the states still read apart by their symbols."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(make_app(health_server.url, theme="ansi"), terminal_size=(80, 24), run_before=open_health)
