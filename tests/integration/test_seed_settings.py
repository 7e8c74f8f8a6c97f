"""The seed's remaining settings on real servers and sockets: PROMETHEUS_ENABLED/PROMETHEUS_PORT,
WEBSOCKET_ENABLED, WEBSOCKET_BROADCAST_INTERVAL and NODE_ENV."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess

import aiohttp
import httpx
import pytest

from engine.settings import SettingsError
from server.runner import start_server
from tests.integration.conftest import free_port, make_settings
from tests.integration.test_cli_process import CLI


async def test_prometheus_port_serves_metrics_and_nothing_else(tmp_path):
    port = free_port()
    running = await start_server(make_settings(tmp_path, prometheus_enabled="true", prometheus_port=port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as c:
            r = await c.get("/metrics")
            assert r.status_code == 200
            assert "process_resident_memory_bytes" in r.text
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert (await c.get("/api/alerts")).status_code == 404
            assert (await c.get("/livez")).status_code == 404
    finally:
        await running.stop()
    with pytest.raises(httpx.ConnectError):  # the listener closes with the server
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


async def test_prometheus_port_is_off_by_default(tmp_path):
    port = free_port()
    running = await start_server(make_settings(tmp_path, prometheus_port=port))
    try:
        with pytest.raises(httpx.ConnectError):
            await httpx.AsyncClient().get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        await running.stop()


async def test_websocket_disabled_answers_404_on_both_streams(tmp_path):
    running = await start_server(make_settings(tmp_path, websocket_enabled="false"))
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=20) as c:
            assert (await c.get("/ws")).status_code == 404
            r = await c.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
            assert r.status_code == 404
            assert r.json()["error"]["code"]
            assert (await c.get("/api/metrics/summary")).status_code == 200
    finally:
        await running.stop()


async def test_broadcast_interval_paces_each_topic(tmp_path):
    running = await start_server(make_settings(tmp_path, websocket_broadcast_interval="2000"))
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(running.url + "/ws") as ws:
            await ws.send_json({"type": "subscribe", "topics": ["system"]})
            stamps = []
            while len(stamps) < 3:
                msg = json.loads((await asyncio.wait_for(ws.receive(), 60)).data)
                if msg["type"] == "update":
                    stamps.append(msg["ts"])
        # collections come every 0.2 s; paced at 2 s, each update is the newest state after the wait
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        assert all(g >= 1.0 for g in gaps), gaps
    finally:
        await running.stop()


async def test_production_refuses_auth_off_beyond_loopback(tmp_path):
    settings = make_settings(tmp_path, node_env="production", host="0.0.0.0", auth_enabled="false")
    with pytest.raises(SettingsError, match="NODE_ENV=production"):
        await start_server(settings)
    running = await start_server(make_settings(tmp_path, host="0.0.0.0", auth_enabled="false"))
    await running.stop()  # the same settings outside production start


@pytest.mark.parametrize(("env", "json_lines"), [("production", True), ("development", False)])
def test_production_logs_json_even_on_a_terminal(tmp_path, env, json_lines):
    master, slave = pty.openpty()
    proc = subprocess.Popen([*CLI, "serve", "--data-dir", str(tmp_path / "d"), "--port", str(free_port())],
                            env={**os.environ, "NODE_ENV": env}, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    try:
        text = b""
        while b"listening" not in text:
            chunk = os.read(master, 4096)
            assert chunk, text
            text += chunk
    finally:
        proc.terminate()
        proc.wait(30)
        os.close(master)
    line = next(ln for ln in text.decode().splitlines() if "listening" in ln)
    assert line.lstrip().startswith("{") is json_lines, line
