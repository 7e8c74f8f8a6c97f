"""The OpenAPI document against the app it describes, request validation from the same schemas, and
Swagger UI at /api-docs (in a real headless Chromium when one is installed)."""

from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest

from server.auth.routes import route_role
from server.openapi.document import build
from server.openapi.operations import OPERATIONS
from server.runner import start_server
from tests.integration.conftest import make_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECRET = "contract-secret-" + "0" * 32


def served_routes(server) -> set[tuple[str, str]]:
    """(method, pattern) of every route the app serves, HEAD (aiohttp adds it to each GET) aside."""
    return {(r.method, r.resource.canonical) for r in server.runner.app.router.routes()
            if r.resource is not None and r.method not in ("HEAD", "OPTIONS")}


async def test_the_document_names_every_served_route_and_no_other(server, client):
    declared = {op.key for op in OPERATIONS}
    assert len(declared) == len(OPERATIONS), "an operation declared twice"
    served = served_routes(server)
    assert served - declared == set(), "routes without an operation in server/openapi/operations.py"
    assert declared - served == set(), "operations in server/openapi/operations.py that no route serves"
    document = (await client.get("/api-docs/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    in_document = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert in_document == served
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_security_comes_from_the_route_role_table():
    document = build(auth=True, metrics_auth=False)
    for op in OPERATIONS:
        rendered = document["paths"][op.path][op.method.lower()]
        role = route_role(op.path, op.method)
        if role in ("public", "scrape"):
            assert rendered["security"] == [], op.key
        else:
            assert rendered["security"] == [{"bearerAuth": []}, {"apiKey": []}], op.key
            assert rendered["x-required-role"] == role, op.key
            assert {"401", "403"} <= rendered["responses"].keys()
    assert document["paths"]["/api/alerts/rules"]["post"]["x-required-role"] == "admin"
    assert document["paths"]["/metrics"]["get"]["security"] == []
    assert build(auth=True, metrics_auth=True)["paths"]["/metrics"]["get"]["x-required-role"] == "viewer"
    assert all(op["security"] == [] for item in build(auth=False, metrics_auth=False)["paths"].values()
               for op in item.values())
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "apiKey"}


async def test_the_served_document_says_what_the_server_enforces(tmp_path):
    running = await start_server(make_settings(tmp_path, auth_enabled="true", jwt_secret=SECRET))
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as c:
            document = (await c.get("/api-docs/openapi.json")).json()  # public, like the page
            assert (await c.get("/api-docs")).status_code == 200
            refused = await c.get("/api/alerts")
    finally:
        await running.stop()
    assert document["paths"]["/api/alerts"]["get"]["x-required-role"] == "viewer"
    assert refused.status_code == 401


# -- request validation from the document's schemas --------------------------------------------------

async def test_a_query_parameter_outside_its_enum_is_a_400_naming_it_and_the_choices(client):
    r = await client.get("/api/alerts", params={"sort": "newest"})
    assert r.status_code == 400
    assert r.json()["error"] == {"code": "invalid_parameter", "message": "sort: expected one of severity, age",
                                 "details": {"parameter": "sort", "value": "newest",
                                             "allowed": ["severity", "age"]}}


async def test_an_integer_parameter_is_checked_as_a_number(client):
    for raw, problem in (("ten", "must be of type integer"), ("0", "must be at least 1"),
                         ("1001", "must be at most 1000")):
        r = await client.get("/api/notifications", params={"limit": raw})
        assert r.status_code == 400, raw
        assert r.json()["error"]["message"] == f"limit: {problem}"
        assert r.json()["error"]["details"]["parameter"] == "limit"
    assert (await client.get("/api/notifications", params={"limit": "1000"})).status_code == 200


@pytest.mark.parametrize(("path", "name", "allowed"), [
    ("/api/notifications", "status", ["pending", "sent", "failed"]),
    ("/api/v1/targets", "state", ["active", "dropped", "any", ""]),
    ("/api/metrics/batch", "atomic", ["true", "false", "1", "0"]),
])
async def test_choices_the_handlers_no_longer_check_are_refused_by_the_schema(client, path, name, allowed):
    method = "POST" if path == "/api/metrics/batch" else "GET"
    r = await client.request(method, path, params={name: "maybe"}, json={"metrics": []} if method == "POST" else None)
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {"parameter": name, "value": "maybe", "allowed": allowed}


async def test_a_path_parameter_outside_its_enum_is_a_400(client):
    r = await client.get("/api/dashboard/charts/gpu")
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {"parameter": "type", "value": "gpu",
                                            "allowed": ["cpu", "memory", "disk", "network", "load"]}


async def test_a_body_field_of_the_wrong_type_is_refused_before_the_handler(client):
    r = await client.post("/api/targets", json={"job": "api", "url": "http://127.0.0.1:9/metrics",
                                                "labels": {"team": 7}})
    assert r.status_code == 400
    assert r.json()["error"] == {"code": "invalid_body", "message": "labels.team: must be of type string",
                                 "details": {"field": "labels.team"}}
    assert (await client.get("/api/targets")).json()["entries"] == []


async def test_a_missing_required_property_is_named(client):
    r = await client.post("/api/alerts/silences", json={"comment": "deploy"})
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {"field": "matchers"}
    assert r.json()["error"]["message"] == "matchers: required"


async def test_a_nested_item_is_located_by_index(client):
    r = await client.post("/api/alerts/silences", json={"matchers": ["job=api", 5], "duration": "1h"})
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {"field": "matchers[1]"}


async def test_valid_bodies_still_reach_the_handler_once_parsed(client):
    r = await client.post("/api/alerts/silences", json={"matchers": ["job=api"], "duration": "1h",
                                                        "comment": "deploy"})
    assert r.status_code == 201, r.text
    assert r.json()["silence"]["comment"] == "deploy"


# -- server bugs found by the fuzz test (tests/integration/test_api_fuzz.py) -------------------------

async def test_batch_items_with_a_list_or_object_as_name_type_or_label_are_refused_not_a_500(client):
    for item in ({"name": ["x"], "value": 1}, {"name": "x", "type": {}, "value": 1},
                 {"name": "x", "value": 1, "labels": {"a": ["b"]}}):
        r = await client.post("/api/metrics/batch", json={"metrics": [item]})
        assert r.status_code == 400, (item, r.text)
        assert r.json()["error"]["code"] == "batch_refused"


async def test_a_wrong_method_on_rules_reload_allows_post_alone(client):
    r = await client.request("OPTIONS", "/api/alerts/rules/reload")
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert (await client.get("/api/alerts/rules/reload")).status_code == 405


# -- Swagger UI --------------------------------------------------------------------------------------

async def test_swagger_ui_is_served_from_local_assets_under_a_page_policy(client):
    page = await client.get("/api-docs")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]
    assert "http" not in page.text.replace('http-equiv', "")  # nothing from another host
    for name, media in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css"),
                        ("init.js", "text/javascript")):
        asset = await client.get(f"/api-docs/assets/{name}")
        assert asset.status_code == 200
        assert asset.headers["Content-Type"].startswith(media)
    assert (await client.get("/api-docs/assets/index.html")).status_code == 400


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it: apt-get install chromium)")
async def test_swagger_ui_renders_every_operation_in_headless_chromium(server, tmp_path):
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=30000", "--dump-dom",
        f"{server.url}/api-docs", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    dom, _ = await asyncio.wait_for(proc.communicate(), timeout=180)
    html = dom.decode()
    assert proc.returncode == 0
    for op in OPERATIONS:
        assert f'id="operations-{op.tag}-{op.operation_id}"' in html, op.operation_id
    assert "Unable to render this definition" not in html
    assert "errors-wrapper" not in html  # Swagger UI's own complaints about the document
