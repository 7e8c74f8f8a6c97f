"""Transport security on our real server: TLS with a certificate made in the test (HSTS on it,
client certificates when TLS_CLIENT_CA_FILE is set), security headers on every answer, CORS rules,
and read timeouts against a slowloris client on a raw socket."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import httpx
import pytest
import trustme

from engine.settings import SettingsError
from server.runner import start_server
from tests.integration.conftest import make_settings
from tests.integration.test_http_guards import raw_exchange


@contextlib.asynccontextmanager
async def running(tmp_path, **env):
    server = await start_server(make_settings(tmp_path / "data", **env), collect_system=False, start_schedules=False)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def pki(tmp_path):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as files."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "server.pem", "key": tmp_path / "server.key",
             "client": tmp_path / "client.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    server_cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server_cert.private_key_pem.write_to_path(str(files["key"]))
    ca.issue_cert("console@example").private_key_and_cert_chain_pem.write_to_path(str(files["client"]))
    return ca, files


# -- TLS ------------------------------------------------------------------------------------------

async def test_tls_serves_https_with_hsts_and_refuses_plain_http(tmp_path, pki):
    ca, files = pki
    async with running(tmp_path, tls_cert_file=files["cert"], tls_key_file=files["key"]) as server:
        assert server.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(files["ca"]))
        async with httpx.AsyncClient(base_url=server.url, verify=context, timeout=30) as client:
            r = await client.get("/api/alerts")
            assert r.status_code == 200
            assert r.headers["strict-transport-security"].startswith("max-age=")
        async with httpx.AsyncClient(base_url=server.url.replace("https:", "http:"), timeout=30) as plain:
            with pytest.raises(httpx.TransportError):
                await plain.get("/api/alerts")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as untrusting:  # the system's CAs
            with pytest.raises(httpx.ConnectError):
                await untrusting.get("/api/alerts")


async def test_client_certificates_are_required_when_a_client_ca_is_set(tmp_path, pki):
    ca, files = pki
    async with running(tmp_path, tls_cert_file=files["cert"], tls_key_file=files["key"],
                       tls_client_ca_file=files["ca"]) as server:
        anonymous = ssl.create_default_context(cafile=str(files["ca"]))
        async with httpx.AsyncClient(base_url=server.url, verify=anonymous, timeout=30) as client:
            with pytest.raises(httpx.TransportError):
                (await client.get("/api/alerts")).raise_for_status()
        with_cert = ssl.create_default_context(cafile=str(files["ca"]))
        with_cert.load_cert_chain(str(files["client"]))
        async with httpx.AsyncClient(base_url=server.url, verify=with_cert, timeout=30) as client:
            assert (await client.get("/api/alerts")).status_code == 200


async def test_plain_http_sends_no_hsts(client):
    r = await client.get("/api/alerts")
    assert r.status_code == 200 and "strict-transport-security" not in r.headers


def test_tls_settings_are_checked_at_start_up(tmp_path, pki):
    _, files = pki
    with pytest.raises(SettingsError, match="TLS_CERT_FILE and TLS_KEY_FILE go together"):
        make_settings(tmp_path, tls_cert_file=files["cert"])
    with pytest.raises(SettingsError, match="TLS_CLIENT_CA_FILE needs"):
        make_settings(tmp_path, tls_client_ca_file=files["ca"])


async def test_a_key_that_does_not_match_is_a_start_up_error_naming_the_files(tmp_path, pki):
    ca, files = pki
    other = tmp_path / "other.key"
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other))
    with pytest.raises(SettingsError, match="TLS_CERT_FILE/TLS_KEY_FILE: cannot load"):
        await start_server(make_settings(tmp_path / "data", tls_cert_file=files["cert"], tls_key_file=other))


# -- security headers -----------------------------------------------------------------------------

SECURITY = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def assert_security_headers(headers: httpx.Headers | dict[str, str]) -> None:
    for name, value in SECURITY.items():
        assert headers[name] == value, name


async def test_every_answer_carries_the_security_headers(server, client):
    for r in (await client.get("/api/alerts"), await client.get("/api/nothing-here"),
              await client.delete("/livez"), await client.get("/metrics"),
              await client.post("/api/alerts/rules", content=b"{", headers={"Content-Type": "application/json"})):
        assert_security_headers(r.headers)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    api = await client.get("/api/alerts")
    assert api.headers["cache-control"] == "no-store"
    status, headers, _ = await raw_exchange(server.url, b"GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n")
    assert status == 400
    assert_security_headers(headers)  # an answer written by the HTTP parser, before any middleware


# -- CORS -----------------------------------------------------------------------------------------

async def test_cors_exact_origins_preflight_cached_credentials_off_by_default(tmp_path):
    async with running(tmp_path, cors_origins="https://dash.example") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            r = await client.options("/api/alerts/rules", headers={
                "Origin": "https://dash.example", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type"})
            assert r.status_code == 204
            assert int(r.headers["access-control-max-age"]) > 0
            allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
            assert {"authorization", "content-type"} <= allowed
            assert "access-control-allow-credentials" not in r.headers
            for near_miss in ("https://dash.example.evil", "http://dash.example", "https://evil.dash.example"):
                r = await client.options("/api/alerts/rules", headers={
                    "Origin": near_miss, "Access-Control-Request-Method": "POST"})
                assert r.status_code == 403 and "access-control-allow-origin" not in r.headers, near_miss


async def test_cors_credentials_when_asked(tmp_path):
    async with running(tmp_path, cors_origins="https://dash.example", cors_credentials="true") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            r = await client.get("/api/alerts", headers={"Origin": "https://dash.example"})
            assert r.headers["access-control-allow-credentials"] == "true"
            assert r.headers["access-control-allow-origin"] == "https://dash.example"


# -- read timeouts --------------------------------------------------------------------------------

async def trickle_until_closed(url: str, head: bytes, every_s: float, give_up_s: float) -> bytes:
    """Send ``head`` and then one header byte every ``every_s`` until the server closes the
    connection; what the server sent, or TimeoutError after ``give_up_s``."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head)

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(every_s)

    sender = asyncio.create_task(trickle())
    try:
        return await asyncio.wait_for(reader.read(-1), give_up_s)
    finally:
        sender.cancel()
        writer.close()


async def test_a_slowloris_client_is_disconnected(tmp_path):
    async with running(tmp_path, read_timeout="1") as server:
        received = await trickle_until_closed(server.url, b"GET /api/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
                                              every_s=0.1, give_up_s=40)
        assert received == b""  # closed without an answer: the request never arrived
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert (await client.get("/livez")).status_code == 200  # others are served meanwhile and after


async def test_a_connection_that_sends_nothing_is_closed(tmp_path):
    async with running(tmp_path, read_timeout="1") as server:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        assert await asyncio.wait_for(reader.read(-1), 40) == b""
        writer.close()


async def test_a_body_that_never_arrives_is_408(tmp_path):
    async with running(tmp_path, read_timeout="1") as server:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /api/alerts/rules HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"name\": ")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 408 ")
        await asyncio.wait_for(reader.read(-1), 40)  # then closed (after aiohttp's 10 s lingering for the rest)
        writer.close()


async def test_a_kept_alive_connection_still_serves_its_next_request(tmp_path):
    async with running(tmp_path, read_timeout="1") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for _ in range(3):
                assert (await client.get("/livez")).status_code == 200
