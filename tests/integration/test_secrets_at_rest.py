"""Secrets at rest on our real server: channel secrets in notifications.db and check credentials in
health/checks.json are stored encrypted, survive a restart, stored plaintext is migrated, and a
wrong key stops start-up instead of losing them."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import sqlite3
import stat

import httpx
import pytest

from engine.secretbox import KEY_FILE, SecretsKeyError
from engine.settings import SettingsError
from server.runner import start_server
from tests.integration.conftest import make_settings
from tests.integration.receivers import Recorder

KEY = "k" * 40
CHANNEL = {"name": "team", "type": "webhook", "secret": "hunter2-webhook"}
CHECK = {"name": "db-admin", "type": "http", "url": "http://ops:pa55w0rd-in-url@127.0.0.1:1/health",
         "headers": {"Authorization": "Bearer header-token-123"}, "interval": "1h"}
PLAIN_SECRETS = (b"hunter2-webhook", b"pa55w0rd-in-url", b"header-token-123")


@contextlib.asynccontextmanager
async def running(tmp_path, **env):
    server = await start_server(make_settings(tmp_path, **env), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        await server.stop()


def stored_bytes(tmp_path) -> bytes:
    data = tmp_path / "data"
    database = b"".join(p.read_bytes() for p in data.glob("notifications.db*"))
    return database + (data / "health" / "checks.json").read_bytes()


async def create(client: httpx.AsyncClient, hook: Recorder) -> None:
    r = await client.post("/api/notifications/channels", json={**CHANNEL, "url": hook.url + "/t"})
    assert r.status_code == 201, r.text
    r = await client.post("/api/health/services", json=CHECK)
    assert r.status_code == 201, r.text


async def assert_secrets_work(client: httpx.AsyncClient, hook: Recorder) -> None:
    """The webhook still signs with its secret; the check still holds its credentials (shown masked)."""
    r = await client.post("/api/notifications/channels/team/test")
    assert r.json()["ok"] is True, r.text
    got = (await hook.wait_for(1))[-1]
    expected = hmac.new(b"hunter2-webhook", f"{got.headers['X-Metrics-Timestamp']}.".encode() + got.body,
                        hashlib.sha256).hexdigest()
    assert got.headers["X-Metrics-Signature"] == "sha256=" + expected
    check = (await client.get("/api/health/services/db-admin")).json()
    assert "***" in json.dumps(check) and "pa55w0rd" not in json.dumps(check)


@pytest.fixture
async def hook():
    recorder = await Recorder().start()
    yield recorder
    await recorder.stop()


async def test_secrets_are_encrypted_with_a_generated_key_file_and_survive_a_restart(tmp_path, hook):
    async with running(tmp_path) as client:
        await create(client, hook)
        stored = stored_bytes(tmp_path)
        assert not any(secret in stored for secret in PLAIN_SECRETS)
        assert b"enc:v1:" in stored
    key_file = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    async with running(tmp_path) as client:
        await assert_secrets_work(client, hook)


async def test_secrets_key_encrypts_and_a_wrong_key_stops_start_up(tmp_path, hook):
    async with running(tmp_path, secrets_key=KEY) as client:
        await create(client, hook)
    assert not (tmp_path / "data" / KEY_FILE).exists()  # the key is SECRETS_KEY's, no file made
    with pytest.raises(SecretsKeyError, match="SECRETS_KEY: wrong key"):
        await start_server(make_settings(tmp_path, secrets_key="w" * 40), collect_system=False,
                           start_schedules=False)
    with pytest.raises(SecretsKeyError, match="key file"):  # nor without the key
        await start_server(make_settings(tmp_path), collect_system=False, start_schedules=False)
    async with running(tmp_path, secrets_key=KEY) as client:  # nothing was lost
        await assert_secrets_work(client, hook)


async def test_plaintext_secrets_of_an_older_version_are_encrypted_at_start(tmp_path, hook):
    async with running(tmp_path):
        pass  # the data dir and its databases
    data = tmp_path / "data"
    with sqlite3.connect(data / "notifications.db") as db:
        db.execute("INSERT INTO channels (name, type, settings) VALUES (?, ?, ?)",
                   ("team", "webhook", json.dumps({"url": hook.url + "/t", "secret": "hunter2-webhook"})))
    db.close()
    (data / "health").mkdir(exist_ok=True)
    (data / "health" / "checks.json").write_text(json.dumps({"checks": [CHECK]}))
    assert all(secret in stored_bytes(tmp_path) for secret in PLAIN_SECRETS)
    async with running(tmp_path) as client:
        stored = stored_bytes(tmp_path)
        assert not any(secret in stored for secret in PLAIN_SECRETS)
        await assert_secrets_work(client, hook)


def test_a_short_secrets_key_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="SECRETS_KEY: must be at least 32 bytes"):
        make_settings(tmp_path, secrets_key="short")
