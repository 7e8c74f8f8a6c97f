"""The outbox survives SIGKILL: a real server process queues notifications for a receiver that is
down, is killed with a full outbox, and after a restart sends every pending notification, each once
(the receiver drops duplicates by idempotency key: at-least-once), without notifying the same alerts
again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.receivers import Recorder
from tests.integration.test_notify_email import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = """groups:
- name: cpu
  interval: 1s
  rules:
  - alert: CpuSeen
    expr: node_cpu_seconds_total >= 0
    labels: {severity: warning}
"""


def serve(data_dir: Path, port: int, hook: str, rules: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(data_dir), "PORT": str(port),
           "COLLECTION_INTERVAL": "0.5", "RULES_FILES": str(rules),
           "NOTIFICATIONS": "{channels: [{name: hook, type: webhook, url: '" + hook + "'}], "
                            "route: {receiver: hook, group_by: ['...'], group_wait: 0s, group_interval: 1s}}"}
    code = "import sys; from console.cli import main; sys.exit(main(['serve']))"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def until(client: httpx.AsyncClient, done, timeout: float = 60.0):
    """Poll the delivery log (the server may still be starting) until ``done(entries)``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    entries: list = []
    while loop.time() < deadline:
        try:
            entries = (await client.get("/api/notifications", params={"limit": 1000})).json()["notifications"]
            if done(entries):
                return entries
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    pytest.fail(f"the delivery log never reached the expected state: {entries[:3]}")


async def test_pending_notifications_are_sent_after_sigkill_and_restart(tmp_path):
    hook = await Recorder(fail_first=10**9, fail_status=503).start()
    rules = tmp_path / "cpu.rules.yaml"
    rules.write_text(RULES)
    data, port = tmp_path / "data", free_port()
    proc = serve(data, port, hook.url, rules)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            # per-channel order: the oldest is retried while the others wait behind it
            queued = await until(client, lambda e: len(e) >= 8 and e[-1]["attempts"] >= 2)
            proc.kill()  # SIGKILL: no shutdown of any kind
            proc.wait(10)
            assert all(e["status"] == "pending" for e in queued)
            keys = {e["idempotencyKey"] for e in queued}
            hook.fail_first = len(hook.requests)  # the receiver is back
            proc = serve(data, port, hook.url, rules)
            await until(client, lambda e: all(x["status"] == "sent" for x in e) and keys <= {x["idempotencyKey"]
                                                                                             for x in e})
            delivered = [r.json()["metricsService"]["idempotencyKey"] for r in hook.accepted]
            assert keys <= set(delivered)
            assert len(delivered) == len(set(delivered)), "a notification was sent twice by one process"
            # the alerts still fire: the restarted server neither forgot nor repeated what it had notified
            log = await until(client, lambda e: all(x["status"] == "sent" for x in e))
            assert {x["idempotencyKey"] for x in log} == keys
    finally:
        proc.kill()
        proc.wait(10)
        await hook.stop()
