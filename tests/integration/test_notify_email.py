"""Email channels against a real SMTP server (aiosmtpd) on 127.0.0.1: STARTTLS or implicit TLS with a
certificate checked against a test CA, authentication, one message per group with both parts."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.integration.test_notifications import log_until, make_rule, start, step, temp  # noqa: F401 (fixture)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.logins: list[tuple[str, str]] = []
        self.event = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        self.loop.call_soon_threadsafe(self.event.set)
        return "250 queued as test-1"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"pa55")

    async def wait(self, count: int) -> None:
        async def until() -> None:
            while len(self.messages) < count:
                self.event.clear()
                await self.event.wait()
        await asyncio.wait_for(until(), 20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ca(tmp_path):
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return cert, str(path)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_email_reaches_a_real_smtp_server_over_tls_with_auth(start, ca, mode):  # noqa: F811
    cert, ca_file = ca
    inbox = Inbox()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    port = free_port()
    # aiosmtpd only knows TLS it negotiated itself (STARTTLS) when it requires TLS for AUTH; with implicit
    # TLS the whole connection is encrypted from the first byte
    kwargs = ({"ssl_context": ctx, "auth_require_tls": False} if mode == "tls" else
              {"tls_context": ctx, "require_starttls": True, "auth_require_tls": True})
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate, **kwargs)
    controller.start()
    try:
        server, client, clock = await start(
            email_smtp_host="127.0.0.1", email_smtp_port=str(port), email_username="ops", email_password="pa55",
            email_from="alerts@example.com", email_to="oncall@example.com",
            notifications="{channels: [{name: mail, type: email, tls: " + mode + ", ca_file: '" + ca_file + "'}], "
                          "route: {receiver: mail, group_by: [alertname], group_wait: 0s}}")
        await make_rule(client)
        temp(server, clock, 80, "a")
        temp(server, clock, 90, "b")
        await step(server, clock)
        try:
            await inbox.wait(1)
        except TimeoutError:
            pytest.fail(str((await client.get("/api/notifications")).json()))
        sender, recipients, msg = inbox.messages[0]
        assert inbox.logins == [("ops", "pa55")]
        assert sender == "alerts@example.com" and recipients == ["oncall@example.com"]
        assert msg["Subject"] == "[FIRING:2] HighTemp"
        assert msg["X-Metrics-Idempotency-Key"]
        plain = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "a is hot" in plain and "b is hot" in plain
        assert "<table" in html and "b is hot" in html
        (entry,) = await log_until(client, lambda e: e and e[0]["status"] == "sent")
        detail = (await client.get(f"/api/notifications/{entry['id']}")).json()["notification"]
        assert detail["response"]["status"] == 250 and "pa55" not in str(detail)
        assert len(inbox.messages) == 1  # one message per group
    finally:
        controller.stop()


async def test_an_untrusted_certificate_is_refused_and_retried(start, ca):  # noqa: F811
    cert, _ = ca
    inbox = Inbox()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True)
    controller.start()
    try:
        server, client, clock = await start(
            notifications="{channels: [{name: mail, type: email, host: 127.0.0.1, port: " + str(port) + ", "
                          "from: a@example.com, to: b@example.com}], route: {receiver: mail, group_wait: 0s}}")
        r = await client.post("/api/notifications/channels/mail/test")
        assert r.json()["ok"] is False and "CERTIFICATE_VERIFY_FAILED" in r.json()["error"]
        assert inbox.messages == []
    finally:
        controller.stop()
