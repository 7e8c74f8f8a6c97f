"""JWT verification against forgeries (real keys, real signatures, a real JWKS server) and API keys."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from engine.settings import Settings, SettingsError
from server.auth.apikeys import ApiKeyError, ApiKeys, add_key, read_entries, remove_key
from server.auth.authenticator import auth_enabled
from server.auth.principal import Principal
from server.auth.tokens import TokenError, TokenVerifier, create_token

SECRET = "k" * 32 + "-test-secret"


def settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, **kw)


def claims(**over) -> dict:
    now = int(time.time())
    return {"sub": "alice", "role": "operator", "iat": now, "nbf": now, "exp": now + 600, **over}


def pem(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


async def refused(verifier: TokenVerifier, token: str, why: str) -> None:
    with pytest.raises(TokenError, match=why):
        await verifier.verify(token)


async def test_a_token_made_by_the_cli_function_verifies_with_its_claims(tmp_path):
    s = settings(tmp_path, jwt_secret=SECRET, jwt_issuer="ops", jwt_audience="metrics")
    token = create_token(s, "alice", "operator", 3600, time.time())
    assert await TokenVerifier(s).verify(token) == Principal("alice", "operator", "token")
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], audience="metrics")
    assert decoded["iss"] == "ops" and decoded["exp"] - decoded["iat"] == 3600


async def test_forgeries_are_refused(tmp_path):
    s = settings(tmp_path, jwt_secret=SECRET, jwt_leeway=5)
    v = TokenVerifier(s)
    await refused(v, jwt.encode(claims(), "x" * 40, algorithm="HS256"), "signature")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims(role="admin")).encode()).rstrip(b"=")
    await refused(v, f"{header.decode()}.{body.decode()}.", "'none' are not accepted")
    await refused(v, jwt.encode(claims(), SECRET + "x" * 32, algorithm="HS512"), "'HS512' are not accepted")
    await refused(v, jwt.encode(claims(exp=int(time.time()) - 60), SECRET, algorithm="HS256"), "expired")
    await refused(v, jwt.encode(claims(nbf=int(time.time()) + 60), SECRET, algorithm="HS256"), "not valid yet")
    await refused(v, jwt.encode(claims(aud="other-service"), SECRET, algorithm="HS256"), "audience")
    await refused(v, jwt.encode(claims(role="superadmin"), SECRET, algorithm="HS256"), "role must be one of")
    no_exp = claims()
    del no_exp["exp"]
    await refused(v, jwt.encode(no_exp, SECRET, algorithm="HS256"), "'exp'")
    await refused(v, jwt.encode(claims(sub="bob\nadmin"), SECRET, algorithm="HS256"), "printable")
    await refused(v, "not.a.jwt", "not a JWT|malformed")
    # a valid token whose payload is swapped for an admin one keeps a signature that no longer matches
    head, _, sig = jwt.encode(claims(role="viewer"), SECRET, algorithm="HS256").split(".")
    admin = base64.urlsafe_b64encode(json.dumps(claims(role="admin")).encode()).rstrip(b"=").decode()
    await refused(v, f"{head}.{admin}.{sig}", "signature")


async def test_clock_skew_within_leeway_is_allowed(tmp_path):
    v = TokenVerifier(settings(tmp_path, jwt_secret=SECRET, jwt_leeway=30))
    now = int(time.time())
    assert (await v.verify(jwt.encode(claims(exp=now - 10), SECRET, algorithm="HS256"))).subject == "alice"
    assert (await v.verify(jwt.encode(claims(nbf=now + 10), SECRET, algorithm="HS256"))).subject == "alice"


async def test_issuer_and_audience_are_required_when_configured(tmp_path):
    v = TokenVerifier(settings(tmp_path, jwt_secret=SECRET, jwt_issuer="ops", jwt_audience="metrics"))
    await refused(v, jwt.encode(claims(iss="ops"), SECRET, algorithm="HS256"), "aud")
    await refused(v, jwt.encode(claims(aud="metrics", iss="evil"), SECRET, algorithm="HS256"), "issuer")
    ok = jwt.encode(claims(aud=["metrics", "x"], iss="ops"), SECRET, algorithm="HS256")
    assert (await v.verify(ok)).role == "operator"


@pytest.mark.parametrize("make,alg", [(lambda: rsa.generate_private_key(65537, 2048), "RS256"),
                                      (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256")])
async def test_public_key_tokens_and_the_algorithm_confusion_forgery(tmp_path, make, alg):
    key, other = make(), make()
    key_file = tmp_path / "pub.pem"
    key_file.write_text(pem(key))
    v = TokenVerifier(settings(tmp_path, jwt_public_key=str(key_file)))
    assert (await v.verify(jwt.encode(claims(), key, algorithm=alg))).subject == "alice"
    await refused(v, jwt.encode(claims(), other, algorithm=alg), "signature")
    # HS256 "signed" with the public key as the HMAC secret: refused, no secret is configured for HS256
    forged = jwt.api_jws.PyJWS(algorithms=["HS256"])
    forged._algorithms["HS256"].prepare_key = lambda k: k  # PyJWT itself refuses PEM keys as secrets
    token = forged.encode(json.dumps(claims(role="admin")).encode(), pem(key).encode(), algorithm="HS256")
    await refused(v, token, "'HS256' are not accepted")


def test_a_bad_public_key_or_short_secret_is_a_startup_error(tmp_path):
    with pytest.raises(SettingsError, match="JWT_PUBLIC_KEY"):
        TokenVerifier(settings(tmp_path, jwt_public_key="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"))
    with pytest.raises(SettingsError, match="JWT_PUBLIC_KEY"):
        TokenVerifier(settings(tmp_path, jwt_public_key=str(tmp_path / "missing.pem")))
    with pytest.raises(SettingsError, match="JWT_SECRET: must be at least 32 bytes"):
        settings(tmp_path, jwt_secret="short")


async def test_jwks_keys_are_fetched_from_a_real_server(tmp_path, unused_tcp_port):
    key = rsa.generate_private_key(65537, 2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    fetched = []

    async def jwks(request: web.Request) -> web.Response:
        fetched.append(1)
        return web.json_response({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]})

    app = web.Application()
    app.router.add_get("/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        v = TokenVerifier(settings(tmp_path, jwt_jwks_url=f"http://127.0.0.1:{unused_tcp_port}/jwks.json"))
        good = jwt.encode(claims(), key, algorithm="RS256", headers={"kid": "k1"})
        assert (await v.verify(good)).subject == "alice"
        assert (await v.verify(good)).subject == "alice"
        assert len(fetched) == 1  # cached
        other = rsa.generate_private_key(65537, 2048)
        await refused(v, jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "k1"}), "signature")
        await refused(v, jwt.encode(claims(), key, algorithm="RS256", headers={"kid": "nope"}), "kid")
    finally:
        await runner.cleanup()


async def test_an_unreachable_key_set_refuses_the_token(tmp_path, unused_tcp_port):
    v = TokenVerifier(settings(tmp_path, jwt_jwks_url=f"http://127.0.0.1:{unused_tcp_port}/jwks.json"))
    token = jwt.encode(claims(), rsa.generate_private_key(65537, 2048), algorithm="RS256", headers={"kid": "k"})
    await refused(v, token, "cannot be fetched")


def test_auth_follows_the_listening_address_unless_set(tmp_path):
    assert not auth_enabled(settings(tmp_path, host="127.0.0.1"))
    assert not auth_enabled(settings(tmp_path, host="localhost"))
    assert not auth_enabled(settings(tmp_path, host="::1"))
    assert auth_enabled(settings(tmp_path, host="0.0.0.0"))
    assert auth_enabled(settings(tmp_path, host="10.1.2.3"))
    assert auth_enabled(settings(tmp_path, host="127.0.0.1", auth_enabled="true"))
    assert not auth_enabled(settings(tmp_path, host="0.0.0.0", auth_enabled="false"))


def test_api_keys_are_hashed_at_rest_and_revocable(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "booking-svc", "ingest", "2026-01-01T00:00:00Z")
    assert key.startswith("msk_") and key not in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    keys = ApiKeys(path, recheck_s=0)
    keys.load()
    assert keys.lookup(key) == Principal("booking-svc", "ingest", "apikey")
    assert keys.lookup(key + "x") is None
    second = add_key(path, "prometheus", "viewer", "2026-01-01T00:00:00Z")
    assert keys.lookup(second) == Principal("prometheus", "viewer", "apikey")  # the changed file is read again
    remove_key(path, "booking-svc")
    assert keys.lookup(key) is None and len(keys) == 1
    assert [e["name"] for e in read_entries(path)] == ["prometheus"]


@pytest.mark.parametrize("name,role,why", [("booking-svc", "ingest", "already exists"), ("bad name", "ingest", "name"),
                                           ("x", "root", "role")])
def test_refused_keys(tmp_path, name, role, why):
    path = tmp_path / "keys.json"
    add_key(path, "booking-svc", "ingest", "t")
    with pytest.raises(ApiKeyError, match=why):
        add_key(path, name, role, "t")


@pytest.mark.parametrize("text", ["[]", '{"keys": [{"name": "a", "role": "root", "sha256": "00"}]}', "{", "\xff"])
def test_an_unusable_keys_file_is_named(tmp_path, text):
    path = tmp_path / "keys.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(ApiKeyError, match="API_KEYS_FILE"):
        ApiKeys(path).load()
