"""The `metrics-service` command as a real process: options, start-up errors, signals, restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime

import httpx
import pytest

from engine import __version__
from engine.tsdb.matchers import Matcher
from engine.tsdb.sqlite import SQLiteBackend
from engine.tsdb.store import Store

CLI = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]


def run_cli(*args, env=None, timeout=30):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=full_env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_and_version():
    r = run_cli("--help")
    assert r.returncode == 0 and "serve" in r.stdout
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"metrics-service {__version__}"


def test_wrong_option_prints_usage_and_exits_2():
    r = run_cli("--frobnicate")
    assert r.returncode == 2 and "usage:" in r.stderr
    r = run_cli("serve", "--port", "abc")
    assert r.returncode == 2 and "usage:" in r.stderr


@pytest.mark.parametrize("env,setting", [({"PORT": "abc"}, "PORT"),
                                         ({"COLLECTION_INTERVAL": "-1"}, "COLLECTION_INTERVAL"),
                                         ({"LOG_LEVEL": "loud"}, "LOG_LEVEL")])
def test_bad_setting_stops_startup_with_one_line_and_exit_2(tmp_path, env, setting):
    r = run_cli("serve", "--data-dir", str(tmp_path), env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_invalid_database_stops_startup_with_exit_2(tmp_path):
    (tmp_path / "metrics.db").write_text("not a database " * 200)
    r = run_cli("serve", "--data-dir", str(tmp_path), "--port", str(free_port()))
    assert r.returncode == 2
    assert "not a valid metrics database" in r.stderr and "Traceback" not in r.stderr


class Server:
    """`metrics-service serve` in a child process, logging JSON to a pipe."""

    def __init__(self, data_dir, port, extra_args=(), **env):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--data-dir", str(data_dir), "--port", str(port), *extra_args],
            env={**os.environ, "COLLECTION_INTERVAL": "0.2", "FLUSH_INTERVAL": "0.3", **env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.log = []
        for line in self.proc.stderr:  # the server logs "listening" once the socket is open
            self.log.append(line)
            if '"listening"' in line:
                break
        else:
            raise AssertionError("server did not start: " + "".join(self.log))

    def get(self, path, **kw):
        return httpx.get(self.url + path, timeout=10, **kw)

    def stop(self, sig):
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=30)
        self.log.append(err)
        return self.proc.returncode


def wait_for_flush_after(server, t: float) -> float:
    """Poll the summary until the server reports a flush that started after t (unix seconds)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        last = server.get("/api/metrics/summary").json()["store"]["last_flush"]
        if last is not None:
            flushed = datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
            if flushed > t:
                return flushed
    raise AssertionError("no flush reported")


def stored_load1(data_dir) -> list[int]:
    """Read node_load1's sample times straight from the data dir, as a restarted server would."""
    store = Store(SQLiteBackend(data_dir))
    store.open()
    try:
        (series,) = store.select([Matcher.make("__name__", "=", "node_load1")], 0, 1 << 62)
        return list(series.ts)
    finally:
        store.backend.close()


def test_sigterm_flushes_everything_and_exits_0(tmp_path):
    srv = Server(tmp_path, free_port())
    wait_for_flush_after(srv, time.time() + 0.5)
    asked = time.time()
    assert srv.stop(signal.SIGTERM) == 0
    logs = [json.loads(line) for line in "".join(srv.log).splitlines() if line.startswith("{")]
    assert {"listening", "stopped"} <= {entry["message"] for entry in logs}
    assert all(entry["service"] == "metrics-service" for entry in logs)
    ts = stored_load1(tmp_path)
    assert ts[-1] >= (asked - 0.5) * 1000  # the final flush kept the last cycles
    assert all(b - a < 1000 for a, b in zip(ts, ts[1:], strict=False))


def test_a_sigterm_as_soon_as_the_port_opens_still_stops_cleanly(tmp_path):
    """The port opens while the engine still starts (its schedules): a SIGTERM then (a supervisor,
    or a test that saw /livez answer) killed the process unflushed with -15."""
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.002)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()


def test_sigkill_loses_at_most_the_last_flush_interval_and_restarts_cleanly(tmp_path):
    port = free_port()
    srv = Server(tmp_path, port)
    flushed = wait_for_flush_after(srv, time.time() + 1.0)
    srv.proc.kill()
    srv.proc.communicate(timeout=10)
    ts = stored_load1(tmp_path)
    assert ts[-1] >= (flushed - 0.5) * 1000
    assert all(b - a < 1000 for a, b in zip(ts, ts[1:], strict=False))  # no hole in what was kept
    again = Server(tmp_path, port)
    try:
        assert again.get("/readyz").json()["checks"]["store:responsive"][0]["status"] == "pass"
    finally:
        assert again.stop(signal.SIGINT) == 0


def _evaluated_after(server, t: float, rule_name: str) -> None:
    """Poll the rules listing until the rule reports an evaluation that started after t."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rules = server.get("/api/alerts/rules").json()["rules"]
        rule = next(r for r in rules if r["name"] == rule_name)
        if rule["lastEvaluation"] and datetime.fromisoformat(rule["lastEvaluation"].replace("Z", "+00:00")
                                                             ).timestamp() > t:
            return
    raise AssertionError(f"{rule_name} was not evaluated")


def test_acknowledged_alert_survives_sigkill_without_a_second_firing_event(tmp_path):
    rules = tmp_path / "proc.rules.yaml"
    rules.write_text("groups:\n- name: proc\n  rules:\n  - alert: ProcessRunning\n"
                     "    expr: process_resident_memory_bytes > 0\n    labels: {severity: info}\n")
    env = {"RULES_FILES": str(rules), "EVALUATION_INTERVAL": "0.2"}
    port = free_port()
    srv = Server(tmp_path / "data", port, **env)
    _evaluated_after(srv, time.time() + 0.3, "ProcessRunning")
    (alert,) = [a for a in srv.get("/api/alerts").json()["alerts"] if a["name"] == "ProcessRunning"]
    assert alert["state"] == "firing"
    r = httpx.post(f"{srv.url}/api/alerts/{alert['id']}/acknowledge", json={"comment": "known"},
                   headers={"X-User": "carol"}, timeout=10)
    assert r.status_code == 200
    srv.proc.kill()
    srv.proc.communicate(timeout=10)

    again = Server(tmp_path / "data", port, **env)
    try:
        _evaluated_after(again, time.time() + 0.3, "ProcessRunning")
        (after,) = [a for a in again.get("/api/alerts").json()["alerts"] if a["name"] == "ProcessRunning"]
        assert after["id"] == alert["id"] and after["state"] == "firing"
        assert after["acknowledgement"]["by"] == "carol"
        timeline = again.get(f"/api/alerts/{alert['id']}").json()["alert"]["timeline"]
        assert [e["event"] for e in timeline].count("firing") == 1
    finally:
        assert again.stop(signal.SIGTERM) == 0
