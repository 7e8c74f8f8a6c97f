"""Request-level guards on our real server: cross-site requests, foreign Host names, content types,
URL and body limits, transport errors in our JSON shape, request ids, one log line per 500."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib

import httpx
import pytest
from aiohttp import web

from engine.engine import Engine
from server.app import create_app
from server.runner import start_server
from tests.integration.conftest import make_settings

RULE = {"name": "CsrfProbe", "metricName": "node_load1", "condition": ">", "threshold": 1}


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]["code"]


async def rule_names(client: httpx.AsyncClient) -> set[str]:
    return {r["name"] for r in (await client.get("/api/alerts/rules")).json()["rules"]}


@pytest.fixture
async def cors_server(tmp_path):
    running = await start_server(make_settings(tmp_path, cors_origins="https://dash.example"))
    try:
        yield running
    finally:
        await running.stop()


async def raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (what httpx refuses to send) and read the answer up to the close."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    head, _, body = (await asyncio.wait_for(reader.read(-1), 10)).partition(b"\r\n\r\n")
    writer.close()
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


# -- cross-site requests (CSRF) and DNS rebinding -------------------------------------------------

async def test_text_plain_post_cannot_create_a_rule(client):
    r = await client.post("/api/alerts/rules", content=json.dumps(RULE), headers={"Content-Type": "text/plain"})
    assert error_code(r, 415) == "unsupported_media_type"
    r = await client.post("/api/alerts/silences", content=json.dumps({"matchers": ["a=b"], "duration": "1000w"}),
                          headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert error_code(r, 415) == "unsupported_media_type"
    assert "CsrfProbe" not in await rule_names(client)
    assert (await client.get("/api/alerts/silences")).json()["silences"] == []
    r = await client.post("/api/alerts/rules", json=RULE)  # the same body as JSON is accepted
    assert r.status_code == 201, r.text


async def test_foreign_origin_is_refused_and_nothing_is_created(client):
    evil = {"Origin": "http://evil.example"}
    r = await client.post("/api/alerts/rules", json=RULE, headers=evil)
    assert error_code(r, 403) == "origin_not_allowed"
    assert r.json()["error"]["details"]["origin"] == "http://evil.example"
    assert "access-control-allow-origin" not in r.headers
    assert error_code(await client.post("/api/alerts/rules/reload", headers=evil), 403) == "origin_not_allowed"
    assert error_code(await client.get("/api/alerts", headers=evil), 403) == "origin_not_allowed"
    assert "CsrfProbe" not in await rule_names(client)


async def test_allowed_origin_gets_cors_answers(cors_server):
    origin = {"Origin": "https://dash.example"}
    async with httpx.AsyncClient(base_url=cors_server.url, timeout=10) as client:
        r = await client.options("/api/alerts/rules", headers={
            **origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-user"})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "https://dash.example"
        assert "POST" in r.headers["access-control-allow-methods"]
        allowed_headers = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
        assert {"content-type", "x-user"} <= allowed_headers
        r = await client.post("/api/alerts/rules", json=RULE, headers=origin)
        assert r.status_code == 201, r.text
        assert r.headers["access-control-allow-origin"] == "https://dash.example"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        r = await client.post("/api/alerts/rules", json={}, headers=origin)  # errors are readable too
        assert error_code(r, 400) == "invalid_rule"
        assert r.headers["access-control-allow-origin"] == "https://dash.example"
        r = await client.options("/api/alerts/rules", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
        assert error_code(r, 403) == "origin_not_allowed"


async def test_foreign_host_is_refused_on_a_loopback_bind(server, client):
    port = server.url.rsplit(":", 1)[1]
    r = await client.get("/api/alerts", headers={"Host": f"attacker.example:{port}"})
    assert error_code(r, 421) == "host_not_allowed"
    r = await client.post("/api/alerts/rules", json=RULE, headers={"Host": "attacker.example"})
    assert error_code(r, 421) == "host_not_allowed"
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost", "127.0.0.2", f"[::1]:{port}"):
        assert (await client.get("/api/alerts", headers={"Host": host})).status_code == 200, host
    assert "CsrfProbe" not in await rule_names(client)


async def test_author_comes_from_the_requester_not_the_body(client):
    r = await client.post("/api/alerts/silences", json={"matchers": ["a=b"], "duration": "1h", "comment": "c",
                                                         "createdBy": "ceo"},
                          headers={"X-User": "alice@ops"})
    assert r.status_code == 201, r.text
    assert r.json()["silence"]["createdBy"] == "alice@ops"


async def test_prometheus_form_posts_and_bodyless_posts_still_work(client):
    r = await client.post("/api/v1/query", data={"query": "1+1"})
    assert r.status_code == 200 and r.json()["data"]["result"][1] == "2"
    r = await client.post("/api/v1/labels", data={"match[]": "up"})
    assert r.status_code == 200 and r.json()["status"] == "success"
    assert (await client.post("/api/alerts/rules/reload")).status_code == 200


# -- transport: URL length, unknown methods, malformed requests -----------------------------------

async def test_long_url_is_414_json(client):
    r = await client.get("/api/alerts", params={"sort": "x" * 9000})
    assert error_code(r, 414) == "uri_too_long"
    assert r.json()["error"]["details"]["limit"] == 8192


async def test_url_longer_than_the_parser_accepts_is_414_json(server):
    path = "/api/v1/query?query=" + "1" * 200_000
    status, headers, body = await raw_exchange(server.url, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert status == 414 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "uri_too_long"


async def test_unknown_method_is_a_json_error(server, client):
    status, headers, body = await raw_exchange(server.url, b"FOO /api/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 501 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "not_implemented"
    assert "x-request-id" in headers
    status, headers, body = await raw_exchange(server.url, b"GET /api/alerts HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n")
    assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"
    assert (await client.get("/livez")).status_code == 200


# -- JSON bodies: size and depth ------------------------------------------------------------------

async def test_deeply_nested_json_is_400(client):
    deep = "[" * 100_000 + "]" * 100_000
    r = await client.post("/api/alerts/rules", content=deep, headers={"Content-Type": "application/json"})
    assert error_code(r, 400) == "invalid_json"
    assert "32" in r.json()["error"]["message"]
    unclosed = '{"a":' + "[" * 100_000
    r = await client.post("/api/alerts/silences", content=unclosed, headers={"Content-Type": "application/json"})
    assert error_code(r, 400) == "invalid_json"
    brackets_in_strings = {**RULE, "name": "Deep", "annotations": {"summary": "[" * 5000}}
    assert (await client.post("/api/alerts/rules", json=brackets_in_strings)).status_code == 201


async def test_integers_past_float_range_and_other_charsets_are_refused_not_500(client):
    huge = "1" + "0" * 400  # an int in Python; float() of it raised OverflowError in the validators
    body = '{"name": "Huge", "metricName": "up", "condition": ">", "threshold": ' + huge + "}"
    r = await client.post("/api/alerts/rules", content=body, headers={"Content-Type": "application/json"})
    assert error_code(r, 400) == "invalid_rule" and "threshold" in r.json()["error"]["message"]
    r = await client.post("/api/alerts/silences", headers={"Content-Type": "application/json"},
                          content='{"matchers": ["a=b"], "startsAt": ' + huge + ', "duration": "1h"}')
    assert error_code(r, 400) != "internal_error"
    deep_in_utf16 = ("[" * 40 + "\u2241" + "]" * 40).encode("utf-16-le")  # U+2241 carries a '"' byte
    r = await client.post("/api/alerts/rules", content=deep_in_utf16,
                          headers={"Content-Type": "application/json; charset=utf-16-le"})
    assert error_code(r, 415) == "unsupported_media_type"


async def test_body_over_one_mib_is_413(client):
    big = json.dumps({**RULE, "annotations": {"summary": "x" * (2 << 20)}})
    r = await client.post("/api/alerts/rules", content=big, headers={"Content-Type": "application/json"})
    assert error_code(r, 413) == "payload_too_large"
    assert r.json()["error"]["details"]["limit"] == 1 << 20

    async def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(4):
            yield b" " * (1 << 19)
        yield json.dumps(RULE).encode()

    r = await client.post("/api/alerts/rules", content=chunks(), headers={"Content-Type": "application/json"})
    assert error_code(r, 413) == "payload_too_large"
    assert "CsrfProbe" not in await rule_names(client)


# -- compressed bodies that are not what their Content-Encoding says -----------------------------

@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_decode_is_400_in_the_route_envelope(client, caplog, encoding):
    caplog.set_level(logging.INFO)
    bad = {"Content-Encoding": encoding}
    for path, media in (("/api/alerts/silences", "application/json"), ("/api/metrics/batch", "application/json"),
                        ("/metrics/job/x", "text/plain"), ("/api/v1/write", "application/x-protobuf")):
        r = await client.post(path, content=b"not gzip", headers={**bad, "Content-Type": media})
        assert error_code(r, 400) == "bad_request", path
        assert f"content-encoding: {encoding}" in r.json()["error"]["message"]
    r = await client.post("/api/v1/query", content=b"not gzip",
                          headers={**bad, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["errorType"] == "bad_data", r.text
    assert (await client.get("/livez")).status_code == 200
    assert [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR] == []
    assert (await client.get("/api/alerts/silences")).json()["silences"] == []
    body = gzip.compress(b"query=1%2B1") if encoding == "gzip" else zlib.compress(b"query=1%2B1")
    r = await client.post("/api/v1/query", content=body,  # a body that is what it says is read
                          headers={**bad, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()["data"]["result"][1] == "2"


# -- a client that goes away mid-upload -----------------------------------------------------------

class _Noted(logging.Handler):
    """Sets an event when the server logs a line naming ``what``: its answer to a request nobody waits for."""

    def __init__(self, what: str) -> None:
        super().__init__(logging.DEBUG)
        self.what, self.records, self.event = what, [], asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.what in record.getMessage():
            self.records.append(record)
            self.event.set()


async def test_a_client_gone_mid_upload_is_499_not_a_logged_500(server, client, caplog):
    caplog.set_level(logging.DEBUG, logger="server")
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    routes = (("/api/metrics/batch", "application/json"), ("/api/alerts/silences", "application/json"),
              ("/api/v1/query", "application/x-www-form-urlencoded"))
    for path, media in routes:
        noted = _Noted(f"POST {path}")
        logging.getLogger("server").addHandler(noted)
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {media}\r\n"
                         f"Content-Length: 100\r\n\r\n{{\"me".encode())
            await writer.drain()
            writer.close()  # 4 of the 100 bytes sent
            await asyncio.wait_for(noted.event.wait(), 10)
        finally:
            logging.getLogger("server").removeHandler(noted)
        assert [(r.levelno, r.exc_info) for r in noted.records] == [(logging.DEBUG, None)], noted.records
    exposition = (await client.get("/metrics")).text
    for path, _ in routes:
        assert f'route="{path}",service="metrics-service",status="499"}} 1' in exposition
    assert 'status="500"' not in exposition
    entries = (await client.get("/api/audit", params={"route": "/api/alerts/silences"})).json()["entries"]
    assert [e["status"] for e in entries] == [499]


# -- request ids and one log line per 500 ---------------------------------------------------------

@pytest.fixture
async def failing_server(tmp_path):
    """Our app plus a test-only route that fails like a bug would, served by the product's runner."""
    from server.transport import JsonErrorAppRunner

    engine = Engine(make_settings(tmp_path), collect_system=False)
    engine.open()
    app = create_app(engine)

    async def boom(request: web.Request) -> web.Response:
        raise ZeroDivisionError("provoked for the test")

    app.router.add_get("/test/boom", boom)
    runner = JsonErrorAppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
        await engine.stop()


async def test_a_500_logs_one_line_with_the_request_id(failing_server, caplog):
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(base_url=failing_server, timeout=10) as client:
        first, second = await client.get("/test/boom"), await client.get("/test/boom")
        ok = await client.get("/livez")
    ids = []
    for r in (first, second):
        assert error_code(r, 500) == "internal_error"
        assert r.json()["error"]["details"]["requestId"] == r.headers["x-request-id"]
        ids.append(r.headers["x-request-id"])
    assert len(set(ids)) == 2 and ok.headers["x-request-id"] not in ids
    lines = [rec for rec in caplog.records
             if rec.levelno >= logging.INFO and rec.name.startswith(("server", "aiohttp"))]
    assert [getattr(rec, "fields", {}).get("request_id") for rec in lines] == ids
    assert lines[0].levelno == logging.ERROR and "ZeroDivisionError" in lines[0].getMessage()
    assert lines[0].exc_info is not None  # the first of a site carries the traceback...
    assert lines[1].exc_info is None  # ...the next ones within the minute do not
