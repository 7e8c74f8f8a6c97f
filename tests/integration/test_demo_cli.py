"""`metrics-service demo` as a real process: where it keeps its data, what it prints, and that
Ctrl-C leaves nothing running."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

CLI = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]
START_TIMEOUT_S = 60.0


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) != 0


def test_help_describes_the_demo():
    r = run_cli("demo", "--help")
    assert r.returncode == 0
    for option in ("--server", "--seed", "--rate", "--episode-every", "--duration", "--data-dir"):
        assert option in r.stdout


@pytest.mark.parametrize("args", [("demo", "--frobnicate"), ("demo", "--rate", "0"), ("demo", "--rate", "fast"),
                                  ("demo", "--episode-every", "soon"), ("demo", "--seed", "x"),
                                  ("demo", "--server", "ftp://host"), ("--demo", "--rate", "-1")])
def test_a_wrong_option_prints_usage_and_exits_2(args):
    r = run_cli(*args)
    assert r.returncode == 2
    assert "usage: metrics-service" in r.stderr and "error:" in r.stderr


def test_an_unreachable_server_is_explained_and_exits_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the demo tries it
    r = run_cli("demo", "--server", f"http://127.0.0.1:{port}", "--duration", "1s")
    assert r.returncode == 2
    assert f"cannot reach the server at http://127.0.0.1:{port}" in r.stderr


def test_the_demo_keeps_its_own_data_dir_and_ctrl_c_stops_everything(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path / "real"), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    proc = subprocess.Popen([*CLI, "demo", "--episode-every", "0", "--seed", "4"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, env=env)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(line.startswith("Ctrl-C stops") for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, lines
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        urls = dict(re.findall(r"^  (\w+)\s+(http://127\.0\.0\.1:\d+)", text, re.M))
        assert set(urls) == {"booking", "payment", "inventory", "notification", "server"}, text
        assert f"data dir      {tmp_path / 'xdg' / 'metrics-service-demo'}" in text
        assert "targets registered: 4, health checks registered: 6" in text
        summary = httpx.get(urls["server"] + "/api/metrics/summary", timeout=10).json()
        assert summary["demo"] is True
        assert httpx.get(urls["booking"] + "/health", timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert all(refused(url) for url in urls.values())
    assert not (tmp_path / "real").exists()
    assert (tmp_path / "xdg" / "metrics-service-demo" / "metrics.db").exists()
