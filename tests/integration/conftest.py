"""A real server on a real socket, on a free port, with its own data dir."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_server():
    """A redis-server of the test's own on a free port: (process, port)."""
    port = free_port()
    proc = start_redis(port, "--save", "", "--appendonly", "no")
    yield proc, port
    proc.kill()
    proc.wait()


def start_redis(port: int, *options: str) -> subprocess.Popen:
    """A redis-server on ``port`` with ``options``, once it answers PING (skips the test without one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian package 'redis-server')")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "no", *options],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    return proc


@pytest.fixture
def replicas(tmp_path, redis_server):
    """``start(name, **env)``: a ``serve`` process on the test's redis-server (tests/integration/replicas.py);
    every one is killed at the end, a paused one resumed first."""
    from tests.integration.replicas import Replica
    started: list[Replica] = []

    def start(name: str, **env: str) -> Replica:
        replica = Replica(tmp_path, name, redis_server[1], **env).start()
        started.append(replica)
        return replica
    yield start
    for replica in started:
        if replica.proc is not None and replica.proc.poll() is None:
            os.kill(replica.proc.pid, signal.SIGCONT)
        replica.stop()
