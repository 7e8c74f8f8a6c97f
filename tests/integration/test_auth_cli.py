"""`metrics-service token|apikey` and the start-up refusals of `serve` with authentication on, as real processes."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import httpx
import pytest

from engine.settings import Settings
from server.auth.principal import Principal
from server.auth.tokens import TokenVerifier
from tests.integration.test_cli_process import Server, free_port, run_cli

SECRET = "cli-secret-" + "c" * 32


def refused(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and all(w in r.stderr for w in words), r.stderr


@pytest.mark.parametrize("env,words", [
    ({"AUTH_ENABLED": "true"}, ("AUTH_ENABLED is true", "JWT_SECRET")),
    ({"HOST": "0.0.0.0"}, ("HOST 0.0.0.0 is not loopback", "AUTH_ENABLED=false")),
    ({"AUTH_ENABLED": "true", "JWT_SECRET": "short"}, ("JWT_SECRET: must be at least 32 bytes",)),
    ({"AUTH_ENABLED": "true", "JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----x"}, ("JWT_PUBLIC_KEY",)),
])
def test_auth_on_with_nothing_to_check_credentials_stops_startup(tmp_path, env, words):
    r = run_cli("serve", "--data-dir", str(tmp_path), "--port", str(free_port()), env=env)
    refused(r, *words)
    assert len(r.stderr.strip().splitlines()) == 1


def test_an_unusable_keys_file_stops_startup(tmp_path):
    (tmp_path / "keys.json").write_text("{not json")
    r = run_cli("serve", "--data-dir", str(tmp_path / "d"), "--port", str(free_port()),
                env={"AUTH_ENABLED": "true", "API_KEYS_FILE": str(tmp_path / "keys.json")})
    refused(r, "API_KEYS_FILE", "keys.json")


def test_token_create_prints_a_token_the_server_accepts(tmp_path):
    env = {"JWT_SECRET": SECRET, "JWT_ISSUER": "ops", "JWT_AUDIENCE": "metrics"}
    r = run_cli("token", "create", "--role", "operator", "--sub", "alice", "--ttl", "12h", env=env)
    assert r.returncode == 0, r.stderr
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, jwt_issuer="ops", jwt_audience="metrics")
    principal = asyncio.run(TokenVerifier(settings).verify(r.stdout.strip()))
    assert principal == Principal("alice", "operator", "token")
    other = Settings(data_dir=tmp_path, jwt_secret=SECRET, jwt_issuer="ops", jwt_audience="elsewhere")
    with pytest.raises(Exception, match="audience"):
        asyncio.run(TokenVerifier(other).verify(r.stdout.strip()))


@pytest.mark.parametrize("args,env,words", [
    (("--role", "boss", "--sub", "a"), {"JWT_SECRET": SECRET}, ("role",)),
    (("--role", "admin", "--sub", "a"), {"JWT_SECRET": ""}, ("JWT_SECRET is not set",)),
    (("--role", "admin", "--sub", "a", "--ttl", "soon"), {"JWT_SECRET": SECRET}, ("--ttl",)),
    (("--role", "admin", "--sub", "a", "--ttl", "0"), {"JWT_SECRET": SECRET}, ("--ttl", "greater than zero")),
    (("--role", "admin", "--sub", "a\tb"), {"JWT_SECRET": SECRET}, ("sub",)),
    (("--role", "admin"), {"JWT_SECRET": SECRET}, ("--sub",)),
])
def test_token_create_refuses_bad_input_with_exit_2(args, env, words):
    refused(run_cli("token", "create", *args, env=env), *words)


def test_apikey_create_list_revoke_against_a_running_server(tmp_path):
    keys = tmp_path / "keys.json"
    env = {"API_KEYS_FILE": str(keys)}
    r = run_cli("apikey", "create", "--role", "ingest", "--name", "booking-svc", env=env)
    assert r.returncode == 0 and "shown this once" in r.stderr
    key = r.stdout.strip()
    assert key.startswith("msk_") and key not in keys.read_text()
    refused(run_cli("apikey", "create", "--role", "ingest", "--name", "booking-svc", env=env), "already exists")
    refused(run_cli("apikey", "create", "--role", "god", "--name", "x", env=env), "role")
    refused(run_cli("apikey", "create", "--role", "ingest", "--name", "x", env={"API_KEYS_FILE": ""}),
            "API_KEYS_FILE is not set")
    assert run_cli("apikey", "list", env=env).stdout.split("\t")[:2] == ["booking-svc", "ingest"]

    srv = Server(tmp_path / "data", free_port(), AUTH_ENABLED="true", API_KEYS_FILE=str(keys), RATE_LIMIT="off",
                 AUTH_FAILURE_LIMIT="off")
    try:
        def push():
            return httpx.post(srv.url + "/api/metrics/custom", json={"name": "q", "type": "gauge", "value": 1},
                              headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code

        assert push() in (200, 201, 202)
        assert srv.get("/api/alerts", headers={"X-API-Key": key}).status_code == 403
        assert run_cli("apikey", "revoke", "--name", "booking-svc", env=env).returncode == 0
        deadline = time.monotonic() + 30
        while push() != 401:  # the server re-reads the file within a second
            assert time.monotonic() < deadline, "the revoked key is still accepted"
        assert json.loads(keys.read_text()) == {"keys": []}
        refused(run_cli("apikey", "revoke", "--name", "booking-svc", env=env), "no key named")
    finally:
        srv.stop(signal.SIGTERM)
