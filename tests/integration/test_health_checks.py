"""Health checks against real peers on 127.0.0.1: HTTP/HTTPS servers, redis-server, PostgreSQL, closed
ports and hanging servers, through our real server's API."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
import pytest
import trustme
from aiohttp import web

from server.runner import start_server
from tests.integration.conftest import free_port, make_settings

pytestmark = pytest.mark.filterwarnings("error::DeprecationWarning:aiohttp")
"""The peers here are plain aiohttp servers: written the way aiohttp will keep accepting."""


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def answer(make: Callable[[web.Request], web.StreamResponse]) -> Handler:
    """A fixed answer as the coroutine aiohttp wants for a handler."""
    async def handler(request: web.Request) -> web.StreamResponse:
        return make(request)
    return handler


def redirect(location: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(location)
    return handler


class Peer:
    """A local HTTP(S) server whose answers the test controls."""

    def __init__(self) -> None:
        self.healthy = True
        self.hang = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> Peer:
        app = web.Application()
        ok = {"status": "ok", "db": {"items": [{"up": True}]}}
        app.router.add_get("/ok", answer(lambda r: web.json_response(ok)))
        app.router.add_get("/toggle", self._toggle)
        app.router.add_get("/fail", answer(lambda r: web.Response(status=500, text="boom")))
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/hang", self._hang)
        app.router.add_get("/to-metadata", redirect("http://169.254.169.254/latest/meta-data"))
        app.router.add_get("/to-ok", redirect("/ok"))
        app.router.add_get("/echo-auth", answer(lambda r: web.Response(text=r.headers.get("Authorization", ""))))
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    async def _toggle(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self.healthy else 503, text="ok" if self.healthy else "down")

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return web.Response(text="slow")

    async def _hang(self, request: web.Request) -> web.Response:
        await self.hang.wait()
        return web.Response(text="late")

    async def stop(self) -> None:
        self.hang.set()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def peer():
    p = await Peer().start()
    yield p
    await p.stop()


@pytest.fixture
async def api(tmp_path):
    """Our server without schedules: checks run when the test asks (POST /api/health/check)."""
    running = await start_server(make_settings(tmp_path), collect_system=False, start_schedules=False)
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
        yield client
    await running.stop()


async def add(client: httpx.AsyncClient, **body) -> dict:
    body.setdefault("interval", "1h")
    r = await client.post("/api/health/services", json=body)
    assert r.status_code == 201, r.text
    return r.json()["service"]


async def check(client: httpx.AsyncClient, name: str) -> dict:
    r = await client.post("/api/health/check", json={"name": name})
    assert r.status_code == 200, r.text
    [service] = r.json()["services"]
    return service


async def test_http_checks_up_down_degraded_and_timed_out(api, peer):
    await add(api, name="ok", url=f"{peer.url}/ok", bodyContains='"status": "ok"')
    await add(api, name="json", url=f"{peer.url}/ok", jsonPath="$.db.items[0].up", jsonValue=True)
    await add(api, name="json-wrong", url=f"{peer.url}/ok", jsonPath="status", jsonValue="down")
    await add(api, name="fail", url=f"{peer.url}/fail")
    await add(api, name="fail-expected", url=f"{peer.url}/fail", expectedStatus=[500])
    await add(api, name="slow", url=f"{peer.url}/slow", degradedLatency="100ms")
    await add(api, name="hang", url=f"{peer.url}/hang", timeout="300ms")
    await add(api, name="missing", url=f"{peer.url}/ok", bodyContains="nowhere")
    got = {s["name"]: s for s in (await api.post("/api/health/check")).json()["services"]}
    assert {n: s["state"] for n, s in got.items()} == {
        "ok": "up", "json": "up", "json-wrong": "down", "fail": "down", "fail-expected": "up", "slow": "degraded",
        "hang": "down", "missing": "down"}
    assert got["fail"]["lastError"] == "status 500 is not the expected 2xx"
    assert got["fail"]["statusCode"] == 500
    assert got["hang"]["lastError"] == "timed out after 0.3s"
    assert got["json-wrong"]["lastError"] == 'status is "ok", expected "down"'
    assert got["slow"]["reason"] == "slower than 0.1s"
    assert got["ok"]["latencyMs"] > 0 and got["ok"]["consecutiveFailures"] == 0
    overview = (await api.get("/api/health")).json()
    assert overview["status"] == "down"
    assert overview["counts"] == {"up": 3, "degraded": 1, "down": 4, "unknown": 0}
    assert overview["server"]["ready"] is True


async def test_redirects_are_followed_and_rechecked_against_the_policy(api, peer):
    await add(api, name="to-ok", url=f"{peer.url}/to-ok")
    await add(api, name="no-follow", url=f"{peer.url}/to-ok", followRedirects=False)
    await add(api, name="to-metadata", url=f"{peer.url}/to-metadata")
    assert (await check(api, "to-ok"))["state"] == "up"
    no_follow = await check(api, "no-follow")
    assert no_follow["state"] == "down" and no_follow["statusCode"] == 302
    blocked = await check(api, "to-metadata")
    assert blocked["state"] == "down"
    assert "169.254.169.254" in blocked["lastError"] and "refused" in blocked["lastError"]


async def test_https_certificate_expiry_is_read_with_and_without_verification(api):
    ca = trustme.CA()
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=10)
    cert = ca.issue_cert("127.0.0.1", not_after=expires)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    peer = await Peer().start(context)
    try:
        await add(api, name="tls", type="https", url=f"{peer.url}/ok", tlsVerify=False)
        await add(api, name="tls-verified", type="https", url=f"{peer.url}/ok")
        tls = await check(api, "tls")
        assert tls["state"] == "up"
        assert tls["certExpiry"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert 9.9 < tls["certDaysLeft"] <= 10
        verified = await check(api, "tls-verified")
        assert verified["state"] == "down" and "certificate" in verified["lastError"].lower()
        r = await api.get("/api/v1/query", params={"query": 'probe_ssl_earliest_cert_expiry{service="tls"}'})
        [sample] = r.json()["data"]["result"]
        assert float(sample["value"][1]) == expires.timestamp()
        assert sample["metric"]["type"] == "https"
    finally:
        await peer.stop()


async def test_tcp_checks_a_closed_port_and_a_conversation(api):
    port = free_port()  # nothing listens there any more
    await add(api, name="closed", type="tcp", host="127.0.0.1", port=port)
    closed = await check(api, "closed")
    assert closed["state"] == "down" and str(port) in closed["lastError"]

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await reader.readline() == b"HELLO\n":
            writer.write(b"220 ready\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    talk_port = server.sockets[0].getsockname()[1]
    try:
        await add(api, name="talk", type="tcp", host="127.0.0.1", port=talk_port, send="HELLO\n", expect="220")
        await add(api, name="talk-wrong", type="tcp", host="127.0.0.1", port=talk_port, send="HI\n", expect="220")
        assert (await check(api, "talk"))["state"] == "up"
        wrong = await check(api, "talk-wrong")
        assert wrong["state"] == "down" and "closed before '220'" in wrong["lastError"]
    finally:
        server.close()


async def test_redis_ping_and_info_then_down_when_it_stops(api, redis_server):
    proc, port = redis_server
    await add(api, name="cache", type="redis", url=f"redis://127.0.0.1:{port}/0")
    await add(api, name="cache-tcp", type="tcp", host="127.0.0.1", port=port, send="PING\r\n", expect="+PONG")
    cache = await check(api, "cache")
    assert cache["state"] == "up"
    assert cache["details"]["redis_version"] and cache["details"]["role"] == "master"
    assert (await check(api, "cache-tcp"))["state"] == "up"
    proc.kill()
    proc.wait()
    down = await check(api, "cache")
    assert down["state"] == "down" and down["lastError"]


@pytest.fixture(scope="module")
def postgres_url():
    """A role with a password on the local PostgreSQL (created as the postgres user), or a skip."""
    if shutil.which("psql") is None or os.geteuid() != 0:
        pytest.skip("needs psql and root to create a test role on the local PostgreSQL")
    role, password = f"health_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    sql = f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"
    done = subprocess.run(["su", "postgres", "-c", f'psql -h 127.0.0.1 -q -c "{sql}" || psql -q -c "{sql}"'],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"the local PostgreSQL on 127.0.0.1:5432 is not reachable: {done.stderr.strip()[:200]}")
    yield f"postgresql://{role}:{password}@127.0.0.1:5432/postgres"
    subprocess.run(["su", "postgres", "-c", f'psql -q -c "DROP ROLE IF EXISTS {role}"'], capture_output=True,
                   timeout=30)


async def test_postgres_select_1_and_a_missing_database(api, postgres_url):
    await add(api, name="pg", type="postgres", url=postgres_url)
    pg = await check(api, "pg")
    assert pg["state"] == "up", pg["lastError"]
    assert pg["details"]["serverVersion"]
    assert "***" in pg["check"]["url"] and postgres_url.split(":")[2].split("@")[0] not in json.dumps(pg)
    await add(api, name="pg-wrong", type="postgres", url=postgres_url.replace("/postgres", "/no_such_database"))
    bad = await check(api, "pg-wrong")
    assert bad["state"] == "down" and "no_such_database" in bad["lastError"]


async def test_mongodb_ping(api):
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        pytest.skip("MONGODB_URI is not set: no MongoDB server on this machine")
    await add(api, name="mongo", type="mongodb", url=uri)
    assert (await check(api, "mongo"))["state"] == "up"


async def test_dns_resolution_and_expected_address(api):
    await add(api, name="dns", type="dns", host="localhost", expectedAddress="127.0.0.1")
    await add(api, name="dns-other", type="dns", host="localhost", expectedAddress="10.9.9.9")
    await add(api, name="dns-missing", type="dns", host="no-such-host.invalid")
    dns = await check(api, "dns")
    assert dns["state"] == "up" and "127.0.0.1" in dns["details"]["addresses"]
    assert (await check(api, "dns-other"))["lastError"].endswith("not 10.9.9.9")
    assert (await check(api, "dns-missing"))["state"] == "down"
    r = await api.get("/api/v1/query", params={"query": 'probe_dns_lookup_time_seconds{service="dns"}'})
    assert len(r.json()["data"]["result"]) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "type": "gopher", "url": "http://127.0.0.1/"}, "type"),
    ({"name": "x", "url": "http://127.0.0.1/", "interval": "-10s"}, "interval"),
    ({"name": "x", "type": "http", "url": "not a url"}, "url"),
    ({"name": "x", "url": "http://169.254.169.254/latest/meta-data"}, "url"),
    ({"name": "x", "type": "tcp", "host": "169.254.169.254", "port": 80}, "host"),
    ({"name": "x", "type": "redis", "url": "redis://[fe80::1]:6379"}, "url"),
    ({"name": "x", "url": "http://127.0.0.1/", "dependsOn": ["nothing"]}, "dependsOn"),
    ({"name": "x", "type": "command", "command": "rm -rf /"}, "type"),
])
async def test_bad_input_is_a_400_naming_the_field(api, body, field):
    r = await api.post("/api/health/services", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_check" and error["details"]["field"] == field
    assert error["message"].startswith(f"{field}: ")
    assert (await api.get("/api/health/services")).json()["services"] == []


async def test_create_update_delete_and_secrets(api, peer):
    created = await add(api, name="web", url=f"{peer.url}/echo-auth", headers={"Authorization": "Bearer s3cret"},
                        bodyContains="Bearer s3c", labels={"team": "checkout"})
    assert created["state"] == "unknown" and created["check"]["headers"] == {"Authorization": "***"}
    dup = await api.post("/api/health/services", json={"name": "web", "url": f"{peer.url}/ok"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_check"
    assert (await check(api, "web"))["state"] == "up"  # the stored header was sent
    edited = dict(created["check"], retries=2)  # what the API showed, secrets as ***
    r = await api.put("/api/health/services/web", json=edited)
    assert r.status_code == 200 and r.json()["service"]["check"]["retries"] == 2
    assert r.json()["service"]["state"] == "unknown"  # the new definition is not checked yet
    assert (await check(api, "web"))["state"] == "up"  # *** kept the stored secret
    listing = (await api.get("/api/health/services")).text
    assert "s3cret" not in listing
    await add(api, name="front", url=f"{peer.url}/ok", dependsOn=["web"])
    in_use = await api.delete("/api/health/services/web")
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "check_in_use"
    assert (await api.delete("/api/health/services/front")).status_code == 200
    assert (await api.delete("/api/health/services/web")).json() == {"deleted": "web"}
    for method in ("GET", "PUT", "DELETE"):
        r = await api.request(method, "/api/health/services/web", json={"url": "http://127.0.0.1/"})
        assert r.status_code == 404, method
    assert (await api.post("/api/health/check", json={"name": "web"})).status_code == 404


async def test_api_checks_survive_a_restart_and_config_checks_are_read_only(tmp_path, peer):
    settings = make_settings(tmp_path, health_checks=json.dumps([{"name": "cfg", "url": f"{peer.url}/ok"}]))
    running = await start_server(settings, collect_system=False, start_schedules=False)
    async with httpx.AsyncClient(base_url=running.url) as client:
        await add(client, name="mine", url=f"{peer.url}/ok", headers={"X-Token": "t0k"})
        r = await client.put("/api/health/services/cfg", json={"url": f"{peer.url}/ok"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "read_only_check"
    await running.stop()
    assert "t0k" not in (tmp_path / "data" / "health" / "checks.json").read_text()  # stored encrypted
    running = await start_server(settings, collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            services = {s["name"]: s for s in (await client.get("/api/health/services")).json()["services"]}
            assert {n: (s["source"], s["editable"]) for n, s in services.items()} == {
                "cfg": ("config", False), "mine": ("api", True)}
            assert (await check(client, "mine"))["state"] == "up"
    finally:
        await running.stop()


async def test_api_checks_made_and_deleted_at_once_are_all_stored(tmp_path):
    """Checks posted and deleted concurrently each reach checks.json: a write computed before another
    one's landed must not drop it or bring a deleted check back (the list after a restart shows it,
    the last writes being concurrent ones); one name posted at once makes one check."""
    settings = make_settings(tmp_path)
    running = await start_server(settings, collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            first = [f"old{i}" for i in range(4)]
            for name in first:
                await add(client, name=name, url="http://127.0.0.1:9/")
            await asyncio.gather(*(client.get("/livez") for _ in range(16)))  # connections open: all arrive at once
            twice = await asyncio.gather(*(client.post("/api/health/services", json={
                "name": "same", "url": f"http://127.0.0.1:9/{i}", "interval": "1h"}) for i in range(3)))
            made = [client.post("/api/health/services", json={"name": f"new{i}", "url": "http://127.0.0.1:9/",
                                                               "interval": "1h"}) for i in range(12)]
            gone = [client.delete(f"/api/health/services/{name}") for name in first[:3]]
            answers = await asyncio.gather(*made, *gone)
            assert [r.status_code for r in answers] == [201] * 12 + [200] * 3, [r.text for r in answers]
    finally:
        await running.stop()
    running = await start_server(settings, collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            listed = {s["name"] for s in (await client.get("/api/health/services")).json()["services"]}
    finally:
        await running.stop()
    assert listed == {"old3", "same", *(f"new{i}" for i in range(12))}
    assert sorted(r.status_code for r in twice) == [201, 409, 409], [r.text for r in twice]  # one name, one check


async def test_retries_dependencies_history_and_metrics(api, peer):
    await add(api, name="db", url=f"{peer.url}/toggle", retries=2, labels={"tier": "data"})
    await add(api, name="app", url=f"{peer.url}/ok", dependsOn=["db"])
    assert (await check(api, "db"))["state"] == "up"
    assert (await check(api, "app"))["state"] == "up"
    peer.healthy = False
    first = await check(api, "db")
    assert first["state"] == "up" and first["consecutiveFailures"] == 1  # one failure is not enough
    second = await check(api, "db")
    assert second["state"] == "down" and second["lastError"] == "status 503 is not the expected 2xx"
    app = (await api.get("/api/health/services/app")).json()["service"]
    assert app["state"] == "degraded" and app["reason"] == "dependency db is down"
    detail = (await api.get("/api/health/services/db")).json()["service"]
    assert detail["dependents"] == ["app"]
    assert [(h["kind"], h["state"]) for h in detail["history"]] == [
        ("state", "down"), ("failure", None), ("failure", None), ("state", "up")]
    assert detail["history"][1]["error"] == "status 503 is not the expected 2xx"
    assert detail["uptime"]["24h"] == 33.333  # one success, two failures in probe_success
    r = await api.get("/api/v1/query", params={"query": "probe_success"})
    series = {s["metric"]["service"]: s for s in r.json()["data"]["result"]}
    assert series["db"]["metric"] == {"__name__": "probe_success", "service": "db", "type": "http", "tier": "data"}
    assert series["db"]["value"][1] == "0"
    r = await api.get("/api/v1/query", params={"query": "health_check_state == 1"})
    assert {s["metric"]["service"]: s["metric"]["state"] for s in r.json()["data"]["result"]} == {
        "db": "down", "app": "degraded"}
    r = await api.get("/api/v1/query", params={"query": 'health_check_consecutive_failures{service="db"}'})
    assert r.json()["data"]["result"][0]["value"][1] == "2"
    peer.healthy = True
    await check(api, "db")
    assert (await check(api, "db"))["state"] == "up"
    assert (await api.get("/api/health/services/app")).json()["service"]["state"] == "up"


async def test_state_changes_are_pushed_on_the_health_topic(tmp_path, peer):
    running = await start_server(make_settings(tmp_path), collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url) as client, aiohttp.ClientSession() as session:
            await add(client, name="svc", url=f"{peer.url}/toggle")
            async with session.ws_connect(f"{running.url}/ws") as ws:
                await ws.send_json({"type": "subscribe", "topics": ["health"]})
                snapshot = await ws.receive_json(timeout=10)
                assert snapshot["type"] == "snapshot" and snapshot["data"]["services"][0]["state"] == "unknown"
                await check(client, "svc")
                up = await ws.receive_json(timeout=10)
                assert up["data"] | {"since": None} == {"service": "svc", "state": "up", "previous": "unknown",
                                                        "since": None, "reason": None}
                peer.healthy = False
                await check(client, "svc")
                down = await ws.receive_json(timeout=10)
                assert (down["data"]["state"], down["data"]["previous"]) == ("down", "up")
                assert down["data"]["reason"] == "status 503 is not the expected 2xx"
    finally:
        await running.stop()


class ScaledClock:
    """Real time sped up: each real second is ``factor`` seconds, so ``for: 1m`` passes in seconds
    while checks and rules run on their real schedules."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.start = time.time()
        self.origin = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self.origin) * self.factor


async def test_service_down_fires_from_probe_success_end_to_end(tmp_path, peer):
    """A scheduled check (interval 1 s, retries 1) of a service that goes down makes the default
    ServiceDown rule fire, through the ruler of our real server."""
    settings = make_settings(tmp_path, evaluation_interval="1")
    running = await start_server(settings, ScaledClock(20), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            await add(client, name="booking", url=f"{peer.url}/toggle", interval="1s", retries=1)
            await wait_for(client, lambda s: s["state"] == "up", "booking")
            peer.healthy = False
            await wait_for(client, lambda s: s["state"] == "down", "booking")
            deadline = time.monotonic() + 30
            while True:
                alerts = (await client.get("/api/alerts", params={"state": "firing"})).json()["alerts"]
                if any(a["name"] == "ServiceDown" and a["labels"].get("service") == "booking" for a in alerts):
                    break
                assert time.monotonic() < deadline, "ServiceDown did not fire"
                await asyncio.sleep(0.2)
            service = (await client.get("/api/health/services/booking")).json()["service"]
            assert service["uptime"]["24h"] < 100
    finally:
        await running.stop()


async def wait_for(client: httpx.AsyncClient, predicate, name: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        service = (await client.get(f"/api/health/services/{name}")).json()["service"]
        if predicate(service):
            return service
        assert time.monotonic() < deadline, f"{name} stayed {service['state']}"
        await asyncio.sleep(0.1)




@pytest.mark.parametrize(("content", "expected"), [
    ("health_checks:\n  - {name: a, type: tcp, host: 127.0.0.1}\n", "HEALTH_CHECKS_FILE: "),
    ("- {name: a, url: 'http://127.0.0.1/', dependsOn: [b]}\n", "a.dependsOn: no check named 'b'"),
    ("- {name: a, url: [unclosed\n", "HEALTH_CHECKS_FILE: "),
])
def test_a_bad_health_checks_file_stops_serve_with_one_line(tmp_path, content, expected):
    checks = tmp_path / "checks.yaml"
    checks.write_text(content)
    env = {**os.environ, "HEALTH_CHECKS_FILE": str(checks), "PORT": str(free_port())}
    r = subprocess.run([sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())", "serve",
                        "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], r.stderr


async def test_checks_from_a_file_run_on_schedule(tmp_path, peer):
    checks = tmp_path / "checks.yaml"
    checks.write_text(f"health_checks:\n  - {{name: from-file, url: '{peer.url}/ok', interval: 1s}}\n")
    running = await start_server(make_settings(tmp_path, health_checks_file=str(checks)), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            service = await wait_for(client, lambda s: s["state"] == "up", "from-file")
            assert service["source"] == "file" and service["editable"] is False
    finally:
        await running.stop()


async def test_the_policy_judges_resolved_addresses_and_trusts_config_checks(tmp_path, peer):
    settings = make_settings(tmp_path, health_check_allow="10.0.0.0/8",
                             health_checks=json.dumps([{"name": "cfg", "url": f"{peer.url}/ok"}]))
    running = await start_server(settings, collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            r = await client.post("/api/health/services", json={"name": "x", "url": f"{peer.url}/ok"})
            assert r.status_code == 400 and "not in HEALTH_CHECK_ALLOW" in r.json()["error"]["message"]
            port = peer.url.rsplit(":", 1)[1]
            await add(client, name="by-name", url=f"http://localhost:{port}/ok")  # a name: judged when used
            by_name = await check(client, "by-name")
            assert by_name["state"] == "down" and "not in HEALTH_CHECK_ALLOW" in by_name["lastError"]
            assert (await check(client, "cfg"))["state"] == "up"  # the operator's own checks are trusted
    finally:
        await running.stop()


async def test_bodies_are_read_up_to_a_limit(api):
    app = web.Application()
    app.router.add_get("/big", answer(lambda r: web.Response(body=b"x" * (512 * 1024) + b"NEEDLE")))
    app.router.add_get("/small", answer(lambda r: web.Response(body=b"x" * 1024 + b"NEEDLE")))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        await add(api, name="small", url=f"http://127.0.0.1:{port}/small", bodyContains="NEEDLE")
        await add(api, name="big", url=f"http://127.0.0.1:{port}/big", bodyContains="NEEDLE")
        assert (await check(api, "small"))["state"] == "up"
        assert (await check(api, "big"))["lastError"] == "the body does not contain 'NEEDLE'"
    finally:
        await runner.cleanup()


def test_a_damaged_health_history_stops_start_up_and_repair_moves_it_aside(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "health.db").write_text("not a database " * 200)
    port = free_port()
    cli = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())", "serve",
           "--data-dir", str(data), "--port", str(port)]
    r = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a valid health history database" in r.stderr and "Traceback" not in r.stderr
    proc = subprocess.Popen([*cli, "--repair"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:  # serving: past start-up, its signal handlers installed
            try:
                httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        assert len(list(data.glob("health.db.damaged-*"))) == 1
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()
    assert proc.returncode == 0


async def test_command_checks_from_the_config_exit_status_and_timeout(tmp_path):
    pidfile = tmp_path / "pid"
    checks = [{"name": "ok", "type": "command", "command": ["true"]},
              {"name": "fails", "type": "command", "command": "sh -c 'echo first; echo boom >&2; exit 3'"},
              {"name": "hangs", "type": "command", "timeout": "300ms",
               "command": ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"]}]
    settings = make_settings(tmp_path, health_commands_enabled="true", health_checks=json.dumps(checks))
    running = await start_server(settings, collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            got = {s["name"]: s for s in (await client.post("/api/health/check")).json()["services"]}
            assert got["ok"]["state"] == "up"
            assert got["fails"]["state"] == "down" and got["fails"]["lastError"] == "exit status 3: boom"
            assert got["hangs"]["lastError"] == "timed out after 0.3s"
            assert not running_process(int(pidfile.read_text()))  # the command's own child was killed too
    finally:
        await running.stop()


def running_process(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_relayed_slow_result_of_a_check_without_degraded_latency_is_taken(tmp_path):
    """Another replica's result (work sharing) marked slow by its copy of a check that had
    degradedLatency, while this replica already has the check without it: recorded as degraded,
    not a KeyError that loses the result."""
    from engine.health.checkers.base import Result

    running = await start_server(make_settings(tmp_path), collect_system=False, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            await add(client, name="web", url=f"http://127.0.0.1:{free_port()}/")
            running.engine.health.apply_remote("web", Result(ok=True, duration=3.0, slow=True), time.time())
            service = (await client.get("/api/health/services/web")).json()["service"]
            assert service["state"] == "degraded", service
    finally:
        await running.stop()
