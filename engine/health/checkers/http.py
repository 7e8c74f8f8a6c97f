"""http/https: status, optional body substring or JSON value, redirects re-checked, certificate expiry."""

from __future__ import annotations

import json
import re
import ssl
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from engine.health.checkers.base import MAX_BODY_BYTES, CheckFailed, Context, Result
from engine.health.model import CheckSpec
from engine.netpolicy import NetPolicy, PolicyResolver

MAX_REDIRECTS = 10
_TOKEN_RE = re.compile(r"\[(\d+)\]|\.?([A-Za-z_][A-Za-z0-9_-]*)", re.ASCII)
_MISSING = object()


class HttpClients:
    """One pooled client for trusted checks, one whose resolver applies the network policy (API
    checks), created on first use inside the running loop."""

    def __init__(self, policy: NetPolicy, limit: int) -> None:
        self.policy = policy
        self.limit = limit
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._expiry: dict[bytes, float] = {}

    def session(self, policed: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(policed)
        if session is None or session.closed:
            resolver = PolicyResolver(self.policy) if policed else None
            connector = aiohttp.TCPConnector(limit=self.limit, resolver=resolver, ttl_dns_cache=10,
                                             enable_cleanup_closed=True)
            session = self._sessions[policed] = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": "metrics-service health check"})
        return session

    def cert_expiry(self, der: bytes) -> float:
        """notAfter of a DER certificate as Unix seconds (parsed once per certificate)."""
        expiry = self._expiry.get(der)
        if expiry is None:
            from cryptography import x509  # ~9 MB: loaded by the first https check, not by every server

            if len(self._expiry) > 4096:
                self._expiry.clear()
            expiry = self._expiry[der] = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
        return expiry

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


async def check(spec: CheckSpec, ctx: Context) -> Result:
    p = spec.params
    session: aiohttp.ClientSession = ctx.http.session(ctx.policy is not None)
    url = p["url"]
    ssl_arg: Any = True if p["tlsVerify"] else False
    needs_body = "bodyContains" in p or "jsonPath" in p
    for _ in range(MAX_REDIRECTS + 1):
        async with session.request(p["method"], url, headers=p.get("headers"), data=p.get("body"),
                                   allow_redirects=False, ssl=ssl_arg) as resp:
            expiry = _peer_expiry(resp, ctx)
            location = resp.headers.get("Location")
            if p["followRedirects"] and resp.status in (301, 302, 303, 307, 308) and location:
                url = _next_url(url, location, ctx.policy)
                continue
            status = resp.status
            body = await _read_limited(resp) if needs_body else b""
            break
    else:
        raise CheckFailed(f"more than {MAX_REDIRECTS} redirects")
    result = Result(ok=True, duration=0.0, status_code=status, cert_expiry=expiry)
    if not any(lo <= status <= hi for lo, hi in p["expectedStatus"]):
        result.ok, result.error = False, f"status {status} is not the expected {_expected(p['expectedStatus'])}"
    elif "bodyContains" in p and p["bodyContains"].encode() not in body:
        result.ok, result.error = False, f"the body does not contain {p['bodyContains'][:100]!r}"
    elif "jsonPath" in p:
        result.error = _json_mismatch(body, p["jsonPath"], p["jsonValue"])
        result.ok = result.error is None
    return result


def _next_url(current: str, location: str, policy: NetPolicy | None) -> str:
    """A redirect's target, absolute; only to http(s), and judged by the policy's names (its addresses
    are judged again when the client connects)."""
    url = urljoin(current, location)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CheckFailed("redirect to a URL that is not http(s)")
    if policy is not None:
        policy.check_name(parts.hostname)
    return url


def _peer_expiry(resp: aiohttp.ClientResponse, ctx: Context) -> float | None:
    # A small answer read with its headers has already handed its connection back to the pool; the
    # response's protocol still holds the (kept-alive) TLS transport then.
    conn = resp.connection
    protocol = conn.protocol if conn is not None else getattr(resp, "_protocol", None)
    transport = protocol.transport if protocol is not None else None
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return ctx.http.cert_expiry(der) if der else None


async def _read_limited(resp: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < MAX_BODY_BYTES:
        chunk = await resp.content.read(MAX_BODY_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _expected(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{lo // 100}xx" if hi - lo == 99 else str(lo) for lo, hi in ranges)


def _json_mismatch(body: bytes, path: str, expected: Any) -> str | None:
    try:
        value: Any = json.loads(body)
    except (ValueError, RecursionError):
        return "the body is not JSON" if len(body) < MAX_BODY_BYTES else "the JSON body is larger than the limit"
    for index, key in _TOKEN_RE.findall(path.removeprefix("$")):
        if index:
            i = int(index)
            value = value[i] if isinstance(value, list) and i < len(value) else _MISSING
        else:
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            return f"{path} is not in the JSON body"
    if value != expected or isinstance(value, bool) != isinstance(expected, bool):
        shown = json.dumps(value)[:100] if not isinstance(value, (dict, list)) else type(value).__name__
        return f"{path} is {shown}, expected {json.dumps(expected)[:100]}"
    return None
