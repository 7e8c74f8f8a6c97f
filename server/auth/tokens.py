"""JWT bearer tokens: verified against JWT_SECRET (HS256), JWT_PUBLIC_KEY or JWT_JWKS_URL (RS256,
ES256), and made by ``metrics-service token create`` (HS256 only: RS256/ES256 tokens come from the
identity provider that holds the private key).

Each algorithm has its own key, so an RS256 public key is never tried as an HS256 secret (the
algorithm-confusion forgery), and ``none`` or any other algorithm is refused outright.

PyJWT and cryptography (~9 MB and ~0.1 s to import) are loaded when a token or key is first handled:
a server that checks no tokens (auth off, or API keys only) never loads them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.settings import Settings, SettingsError
from server.auth.principal import ROLES, Principal

if TYPE_CHECKING:
    import jwt

JWKS_CACHE_S = 300
JWKS_TIMEOUT_S = 5
MAX_SUBJECT = 200
MAX_VERIFIED = 10_000
"""Tokens remembered as verified; past it the memory starts empty (only validly signed tokens enter)."""


class TokenError(Exception):
    """A token that does not authenticate anyone; the message says why, fit for the 401 answer."""


class TokenVerifier:
    """Checks signature, algorithm, exp/nbf (with JWT_LEEWAY), iss and aud when configured, sub and role."""

    def __init__(self, settings: Settings) -> None:
        self.secret = settings.jwt_secret
        self.public_key, self.public_alg = _public_key(settings.jwt_public_key)
        self.jwks: jwt.PyJWKClient | None = None
        if settings.jwt_jwks_url:
            import jwt

            self.jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=JWKS_CACHE_S,
                                        timeout=JWKS_TIMEOUT_S)
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.leeway = settings.jwt_leeway
        self._verified: dict[str, tuple[Principal, float]] = {}
        """token -> (principal, exp): a client sends the same token on every request, and checking its
        signature and claims again (~0.2 ms) was most of what authentication cost a request. Until
        ``exp`` (plus leeway) the answer cannot change: nbf and iat only ever become more valid."""

    @property
    def configured(self) -> bool:
        return bool(self.secret or self.public_key or self.jwks)

    async def verify(self, token: str) -> Principal:
        """The token's principal, or TokenError."""
        known = self._verified.get(token)
        if known is not None:
            if time.time() <= known[1] + self.leeway:
                return known[0]
            del self._verified[token]
        principal, exp = await self._verify(token)
        if len(self._verified) >= MAX_VERIFIED:
            self._verified.clear()
        self._verified[token] = (principal, exp)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        import jwt

        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError:
            raise TokenError("the token is not a JWT") from None
        key = await self._key(alg, token)
        try:
            claims = jwt.decode(token, key, algorithms=[alg], issuer=self.issuer, audience=self.audience,
                                leeway=self.leeway, options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("the token is not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise TokenError("the token is not for this audience (aud)") from None
        except jwt.InvalidIssuerError:
            raise TokenError("the token is from another issuer (iss)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenError("the token's signature does not verify") from None
        except jwt.InvalidTokenError:
            raise TokenError("the token is malformed") from None
        exp = float(claims["exp"])
        return _principal(claims, exp + self.leeway), exp

    async def _key(self, alg: Any, token: str) -> Any:
        if alg == "HS256" and self.secret:
            return self.secret
        if alg in ("RS256", "ES256"):
            if self.public_key is not None and alg == self.public_alg:
                return self.public_key
            if self.jwks is not None:
                return await self._jwks_key(alg, token)
        raise TokenError(f"tokens signed with {alg!r} are not accepted here")

    async def _jwks_key(self, alg: str, token: str) -> Any:
        import jwt

        assert self.jwks is not None
        try:
            found = await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError:
            raise TokenError("the key set (JWT_JWKS_URL) cannot be fetched") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError):
            raise TokenError("no key in the key set (JWT_JWKS_URL) matches the token's kid") from None
        if found.algorithm_name != alg:
            raise TokenError(f"the key set's key is for {found.algorithm_name}, not {alg}")
        return found.key


def _principal(claims: dict[str, Any], expires_at: float | None = None) -> Principal:
    subject, role = claims.get("sub"), claims.get("role")
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT or not subject.isprintable():
        raise TokenError(f"the token's sub must be printable text of 1 to {MAX_SUBJECT} characters")
    if role not in ROLES:
        raise TokenError(f"the token's role must be one of {', '.join(ROLES)}")
    return Principal(subject, role, "token", expires_at)


def _public_key(text: str | None) -> tuple[Any, str | None]:
    """JWT_PUBLIC_KEY (PEM text, or a file holding it) and the algorithm it verifies."""
    if text is None:
        return None, None
    pem = text
    if "-----BEGIN" not in text:
        try:
            pem = Path(text).expanduser().read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"JWT_PUBLIC_KEY: {text} cannot be read: {exc}", "JWT_PUBLIC_KEY") from None
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode("ascii", "replace"))
    except ValueError:
        raise SettingsError("JWT_PUBLIC_KEY: not a PEM public key", "JWT_PUBLIC_KEY") from None
    if isinstance(key, rsa.RSAPublicKey):
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return key, "ES256"
    raise SettingsError("JWT_PUBLIC_KEY: expected an RSA key (RS256) or a P-256 key (ES256)", "JWT_PUBLIC_KEY")


def create_token(settings: Settings, subject: str, role: str, ttl_s: float, now: float) -> str:
    """An HS256 token signed with JWT_SECRET (SettingsError without one; TokenError for a subject or role
    the server would refuse)."""
    if not settings.jwt_secret:
        raise SettingsError("JWT_SECRET is not set: tokens are signed with it (RS256/ES256 tokens come from your "
                            "identity provider)", "JWT_SECRET")
    _principal({"sub": subject, "role": role})  # the same rules as the server's
    claims: dict[str, Any] = {"sub": subject, "role": role, "iat": int(now), "nbf": int(now),
                              "exp": int(now + ttl_s), "jti": secrets.token_hex(8)}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    import jwt

    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
