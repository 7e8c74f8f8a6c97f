"""Turning a request's credentials into a Principal, and the middleware that enforces route roles."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.settings import Settings, SettingsError
from server.auth.apikeys import PREFIX, ApiKeyError, ApiKeys
from server.auth.principal import Principal
from server.auth.routes import AUTHENTICATED, PUBLIC, SCRAPE, route_role
from server.auth.tokens import TokenError, TokenVerifier
from server.errors import ApiError, error_response
from server.guards import is_loopback

PRINCIPAL = web.RequestKey("principal", Principal)
"""``request[PRINCIPAL]``: the caller, set on every request to a route that is not public."""
QUERY_TOKEN = "access_token"
"""Query parameter carrying the credential of a WebSocket upgrade (browsers cannot set its headers)."""
ANONYMOUS = Principal("anonymous", "admin", "anonymous")


class AuthError(ApiError):
    """401: credentials were sent but authenticate no one."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "invalid_credentials", message)


def auth_enabled(settings: Settings) -> bool:
    """AUTH_ENABLED, or when unset: on unless the server listens on a loopback address only."""
    return settings.auth_enabled if settings.auth_enabled is not None else not is_loopback(settings.host)


class Authenticator:
    """One server's authentication (built at start-up; SettingsError when auth is on with nothing to check)."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = auth_enabled(settings)
        if not self.enabled and settings.node_env == "production" and not is_loopback(settings.host):
            raise SettingsError(f"NODE_ENV=production: authentication cannot be off on HOST {settings.host}, "
                                "which is not loopback (unset AUTH_ENABLED=false)", "AUTH_ENABLED")
        self.metrics_auth = settings.metrics_auth
        self.tokens = TokenVerifier(settings)
        self.keys = ApiKeys(settings.api_keys_file)
        try:
            self.keys.load()
        except ApiKeyError as exc:
            raise SettingsError(str(exc), "API_KEYS_FILE") from None
        if self.enabled and not self.tokens.configured and not len(self.keys):
            why = "AUTH_ENABLED is true" if settings.auth_enabled else f"HOST {settings.host} is not loopback"
            raise SettingsError(
                f"authentication is on ({why}) but nothing can authenticate: set JWT_SECRET, JWT_PUBLIC_KEY or "
                "JWT_JWKS_URL, or add a key with 'metrics-service apikey create' (API_KEYS_FILE); "
                "AUTH_ENABLED=false turns authentication off", "AUTH_ENABLED")

    async def verify(self, credential: str) -> Principal:
        """The principal of a bearer token or API key (AuthError when it authenticates no one)."""
        if credential.startswith(PREFIX):
            principal = self.keys.lookup(credential)
            if principal is None:
                raise AuthError("unknown API key")
            return principal
        try:
            return await self.tokens.verify(credential)
        except TokenError as exc:
            raise AuthError(str(exc)) from None

    async def authenticate(self, request: web.BaseRequest) -> Principal | None:
        """The caller: ANONYMOUS (every right) with auth off; None when no credential was sent; AuthError
        when one was sent and is wrong. Credentials: ``Authorization: Bearer <jwt or API key>``,
        ``X-API-Key: <key>``, or ``?access_token=`` on a WebSocket upgrade."""
        if not self.enabled:
            return ANONYMOUS
        credential = _credential(request)
        return None if credential is None else await self.verify(credential)

    def required_role(self, request: web.Request) -> str:
        resource = request.match_info.route.resource
        role = route_role(resource.canonical, request.method) if resource is not None else None
        if role == SCRAPE:
            return "viewer" if self.metrics_auth else PUBLIC
        return role or "admin"  # undeclared: the safe answer (route_role_problems reports it)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.match_info.http_exception is not None:  # 404/405: nothing to protect
            return await handler(request)
        role = self.required_role(request)
        if role == PUBLIC:
            return await handler(request)
        try:
            principal = await self.authenticate(request)
        except AuthError as exc:
            return _unauthorized(exc.code, exc.message, {"required": role}, 'error="invalid_token"')
        if principal is None:
            return _unauthorized("unauthorized", f"{request.method} {request.path} needs a bearer token or an API key",
                                 {"required": role})
        request[PRINCIPAL] = principal
        if role != AUTHENTICATED and not principal.may(role):
            raise ApiError(403, "forbidden", f"{request.method} {request.path} needs the {role} role; "
                           f"{principal.subject} has {principal.role}", {"required": role, "role": principal.role})
        return await handler(request)


def _unauthorized(code: str, message: str, details: dict[str, str], error: str = "") -> web.Response:
    """401 with the ``WWW-Authenticate`` challenge RFC 9110 asks for (RFC 6750's ``error`` when a
    token was sent)."""
    challenge = 'Bearer realm="metrics-service"' + (f", {error}" if error else "")
    return error_response(401, code, message, details, headers={"WWW-Authenticate": challenge})


def _credential(request: web.BaseRequest) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("the Authorization header must be 'Bearer <token or API key>'")
        return value.strip()
    key = request.headers.get("X-API-Key")
    if key is not None:
        return key.strip()
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return request.query.get(QUERY_TOKEN)
    return None
