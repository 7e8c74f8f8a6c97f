"""Every route of the app against every role, on a real server with authentication on: 401 without
credentials, 403 for a role the route does not grant, neither for one it does. Plus escalation
attempts, the WebSocket's credentials, and /metrics, /livez, /readyz with and without METRICS_AUTH."""

from __future__ import annotations

import re
import time

import aiohttp
import httpx
import jwt
import pytest

from server.auth import GRANTS, PUBLIC, ROLES, SCRAPE, route_role, route_role_problems
from server.auth.apikeys import add_key
from server.auth.tokens import create_token
from server.runner import start_server
from tests.integration.conftest import make_settings

SECRET = "role-walk-secret-" + "s" * 32
UNLIMITED = {"RATE_LIMIT": "off", "AUTH_FAILURE_LIMIT": "off"}
"""The walk makes hundreds of refused requests from one address: brute-force limits are tested elsewhere."""
NEEDS_PARAMETERS = frozenset({"/ws", "/socket.io/", "/api/v1/query", "/api/v1/query_range", "/api/v1/series"})
"""GET routes that answer 400 without parameters (or an upgrade); every other parameterless GET must answer 2xx."""


def token(settings, role: str, sub: str = "alice") -> str:
    return create_token(settings, sub, role, 600, time.time())


@pytest.fixture
async def secured(tmp_path):
    settings = make_settings(tmp_path, AUTH_ENABLED="true", JWT_SECRET=SECRET, API_KEYS_FILE=tmp_path / "keys.json",
                             **UNLIMITED)
    key = add_key(settings.api_keys_file, "booking-svc", "ingest", "t")
    running = await start_server(settings, start_schedules=False)
    running.settings, running.key = settings, key
    try:
        yield running
    finally:
        await running.stop()


def routes(app) -> list[tuple[str, str, str]]:
    """(method, URL path with parameters filled in, pattern) of every route the app serves."""
    out = []
    for route in app.router.routes():
        if route.resource is None or route.method == "HEAD":
            continue
        pattern = route.resource.canonical
        path = re.sub(r"\{grouping\}", "job/walk", pattern)
        path = re.sub(r"\{[^}]+\}", "1", path)
        out.append((route.method, path, pattern))
    return sorted(set(out))


async def test_every_route_declares_its_role(tmp_path):
    """No route ships without a role in server/auth/routes.py, and no declaration names a dead route."""
    running = await start_server(make_settings(tmp_path), start_schedules=False)
    try:
        assert route_role_problems(running.runner.app) == []
    finally:
        await running.stop()


async def test_each_role_gets_401_403_or_through_as_declared(secured):
    app = secured.runner.app
    creds = {role: {"Authorization": f"Bearer {token(secured.settings, role)}"} for role in ROLES}
    walked = 0
    async with httpx.AsyncClient(base_url=secured.url, timeout=30) as client:
        for method, path, pattern in routes(app):
            declared = route_role(pattern, method)
            assert declared is not None, f"{method} {pattern} has no role"
            r = await client.request(method, path)  # no body: no route's media-type check answers first
            if declared in (PUBLIC, SCRAPE):
                assert r.status_code not in (401, 403), (method, path, r.text)
            else:
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.json()["error"]["code"] == "unauthorized"
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
            for role in ROLES:
                r = await client.request(method, path, headers=creds[role])
                allowed = declared in (PUBLIC, SCRAPE, "authenticated") or declared in GRANTS[role]
                if allowed and method == "GET" and "{" not in pattern and pattern not in NEEDS_PARAMETERS:
                    assert 200 <= r.status_code < 300, (role, method, path, r.text)
                elif allowed:
                    assert r.status_code not in (401, 403) and r.status_code < 500, (role, method, path, r.text)
                else:
                    assert r.status_code == 403, (role, method, path, r.status_code)
                    assert r.json()["error"]["details"] == {"required": declared, "role": role}
                walked += 1
    assert walked >= 4 * 60


async def test_reads_succeed_for_a_viewer(secured):
    headers = {"Authorization": f"Bearer {token(secured.settings, 'viewer')}"}
    async with httpx.AsyncClient(base_url=secured.url, headers=headers, timeout=30) as client:
        for path in ("/api/alerts", "/api/alerts/rules", "/api/health", "/api/notifications/channels",
                     "/api/v1/query?query=1", "/api/metrics/summary"):
            assert (await client.get(path)).status_code == 200, path


async def test_escalation_attempts_are_refused(secured):
    s = secured.settings
    now = int(time.time())
    async with httpx.AsyncClient(base_url=secured.url, timeout=30) as client:
        async def status(headers):
            return (await client.post("/api/alerts/rules/reload", headers=headers)).status_code

        viewer = token(s, "viewer")
        assert await status({"Authorization": f"Bearer {viewer}"}) == 403
        assert await status({"Authorization": f"Bearer {viewer}", "X-User": "admin", "X-Role": "admin"}) == 403
        # a self-made token: a role the server does not know, a list of roles, another secret
        for claims, secret in (({"role": "root"}, SECRET), ({"role": "viewer", "roles": ["admin"]}, SECRET),
                               ({"role": "admin"}, "another-secret-" + "x" * 32)):
            forged = jwt.encode({"sub": "mallory", "exp": now + 60, **claims}, secret, algorithm="HS256")
            assert await status({"Authorization": f"Bearer {forged}"}) in (401, 403)
        assert await status({"Authorization": f"Bearer {viewer}x"}) == 401
        r = await client.get("/api/alerts", headers={"Authorization": f"Bearer {viewer}x"})
        assert r.json()["error"]["code"] == "invalid_credentials" and "signature" in r.json()["error"]["message"]
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="metrics-service", error="invalid_token"'
        assert await status({"Authorization": f"Basic {viewer}"}) == 401
        assert await status({"X-API-Key": "msk_guessed"}) == 401
        # the ingest key pushes but may neither read nor act on alerts
        key = {"X-API-Key": secured.key}
        assert await status(key) == 403
        assert (await client.get("/api/alerts", headers=key)).status_code == 403
        pushed = await client.post("/api/metrics/custom", headers={"Authorization": f"Bearer {secured.key}"},
                                   json={"name": "walk_depth", "type": "gauge", "value": 1})
        assert pushed.status_code in (200, 201, 202), pushed.text
        # the query-string credential only counts on a WebSocket upgrade
        assert (await client.get(f"/api/alerts?access_token={viewer}")).status_code == 401


async def test_the_actor_is_the_token_subject_and_x_user_is_ignored(secured):
    s = secured.settings
    headers = {"Authorization": f"Bearer {token(s, 'operator', 'carol@ops')}", "X-User": "somebody-else"}
    async with httpx.AsyncClient(base_url=secured.url, headers=headers, timeout=30) as client:
        r = await client.post("/api/alerts/silences", json={
            "matchers": [{"name": "alertname", "value": "Walk", "isRegex": False}], "duration": "1h",
            "comment": "walk"})
        assert r.status_code == 201, r.text
        assert r.json()["silence"]["createdBy"] == "carol@ops"


async def test_the_websocket_takes_the_token_from_the_header_or_the_query(secured):
    s = secured.url.replace("http", "ws", 1) + "/ws"
    viewer, admin = token(secured.settings, "viewer"), token(secured.settings, "admin")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(s)
        assert refused.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(s + f"?access_token={viewer}x")
        assert refused.value.status == 401
        async with session.ws_connect(s + f"?access_token={viewer}") as ws:
            await ws.send_json({"type": "subscribe", "topics": ["audit"]})
            msg = await ws.receive_json(timeout=30)
            assert msg["type"] == "error" and msg["error"]["code"] == "forbidden_topic"
            await ws.send_json({"type": "ping"})
            assert (await ws.receive_json(timeout=30))["type"] == "pong"  # no audit snapshot came first
        async with session.ws_connect(s, headers={"Authorization": f"Bearer {admin}"}) as ws:
            await ws.send_json({"type": "subscribe", "topics": ["audit"]})
            msg = await ws.receive_json(timeout=30)
            assert (msg["type"], msg["topic"]) == ("snapshot", "audit")


@pytest.mark.parametrize("metrics_auth", [False, True])
async def test_metrics_and_probes_need_a_viewer_only_with_metrics_auth(tmp_path, metrics_auth):
    settings = make_settings(tmp_path, AUTH_ENABLED="true", JWT_SECRET=SECRET, METRICS_AUTH=str(metrics_auth))
    running = await start_server(settings, start_schedules=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            for path in ("/metrics", "/livez", "/readyz"):
                r = await client.get(path)
                assert r.status_code == (401 if metrics_auth else 200), path
                r = await client.get(path, headers={"Authorization": f"Bearer {token(settings, 'viewer')}"})
                assert r.status_code == 200, path
    finally:
        await running.stop()


def test_the_readme_table_is_the_code_table():
    """README's Security table mirrors ROUTE_ROLES row for row."""
    from pathlib import Path

    from server.auth import ROUTE_ROLES

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- route-roles -->", 1)[1].split("<!-- /route-roles -->", 1)[0]
    documented = {}
    for line in table.strip().splitlines()[2:]:
        path, roles = (c.strip() for c in line.strip("|").split("|"))
        documented[path.strip("`")] = {m: role for part in roles.split(" · ")
                                       for methods, role in [part.rsplit(" ", 1)] for m in methods.split(", ")}
    assert documented == ROUTE_ROLES
