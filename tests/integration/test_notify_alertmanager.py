"""Forwarding to the real Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1: it lists our
alerts with their labels and the same fingerprints, and drops them once we send their end."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import httpx
import pytest

from tests.integration.test_notifications import log_until, make_rule, start, step, temp  # noqa: F401 (fixture)
from tests.integration.test_notify_email import free_port


def alertmanager_binary() -> str:
    for name in ("alertmanager", "prometheus-alertmanager"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("alertmanager is not installed (Debian package 'prometheus-alertmanager'; .ci/run installs it)")


@pytest.fixture
async def alertmanager(tmp_path):
    config = tmp_path / "am.yml"
    config.write_text("route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n")
    port = free_port()
    proc = subprocess.Popen([alertmanager_binary(), f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            for _ in range(400):
                try:
                    if (await client.get("/-/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                pytest.fail("alertmanager did not become ready")
            yield url, client
    finally:
        proc.terminate()
        proc.wait(10)


async def test_alertmanager_lists_our_alerts_with_labels_and_fingerprints(start, alertmanager):  # noqa: F811
    """Alertmanager judges ``endsAt`` on its own clock: ours starts a minute in the past, so a firing
    alert's ``endsAt`` (4 minutes ahead) is still ahead and a resolution is already behind."""
    url, am = alertmanager
    server, client, clock = await start(
        t0=time.time() - 60,
        notifications="{channels: [{name: am, type: alertmanager, url: '" + url + "'}], "
                      "route: {receiver: am, group_wait: 0s, group_interval: 1s}}")
    await make_rule(client)
    temp(server, clock, 80, "a")
    temp(server, clock, 90, "b")
    await step(server, clock)
    await log_until(client, lambda e: e and e[0]["status"] == "sent")
    ours = {a["fingerprint"]: a for a in (await client.get("/api/alerts")).json()["alerts"]}
    listed = (await am.get("/api/v2/alerts")).json()
    assert {a["fingerprint"]: a["labels"] for a in listed} == {fp: a["labels"] for fp, a in ours.items()}
    assert all(a["status"]["state"] == "active" and a["annotations"]["summary"].endswith("is hot") for a in listed)

    clock.advance(1)
    temp(server, clock, 20, "a")
    (room_a,) = [a for a in ours.values() if a["labels"]["room"] == "a"]
    assert (await client.post(f"/api/alerts/{room_a['id']}/resolve", json={})).status_code == 200
    await step(server, clock, 5)  # a stays clear; b still fires
    await log_until(client, lambda e: len(e) == 2 and e[0]["status"] == "sent")
    still = (await am.get("/api/v2/alerts")).json()
    assert [a["labels"]["room"] for a in still] == ["b"]


ROUTES = """
route:
  receiver: ops-hook
  group_by: [alertname]
  routes:
    - {receiver: am, matchers: ['severity=~"critical|warning"'], continue: true}
    - receiver: db
      matchers: [team="db"]
      routes:
        - {receiver: dba-page, matchers: ['severity="critical"', 'env!~"dev|test"']}
    - {receiver: web, matchers: ['team=~"web|front.*"']}
"""


@pytest.mark.parametrize("labels", [
    {"alertname": "X", "severity": "critical"},
    {"alertname": "X", "severity": "info"},
    {"alertname": "X", "severity": "critical", "team": "db"},
    {"alertname": "X", "severity": "critical", "team": "db", "env": "dev"},
    {"alertname": "X", "severity": "warning", "team": "frontend"},
    {"alertname": "X", "team": "web"},
])
def test_route_tree_sends_where_amtool_says(tmp_path, labels):
    import yaml

    from engine.notify.config import parse_route
    from engine.notify.routing import build_route
    amtool = shutil.which("amtool") or pytest.skip("amtool is not installed (Debian package 'prometheus-alertmanager')")
    receivers = ["ops-hook", "am", "db", "dba-page", "web"]
    config = tmp_path / "am.yml"
    config.write_text(ROUTES + "receivers:\n" + "".join(f"  - name: {r}\n" for r in receivers))
    out = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config}",
                          *(f"{k}={v}" for k, v in labels.items())], capture_output=True, text=True, check=True)
    expected = out.stdout.strip().split(",")
    root = build_route(parse_route(yaml.safe_load(ROUTES)["route"], "route"), receivers)
    assert [r.receiver for r in root.match(labels)] == expected
