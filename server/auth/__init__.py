"""Authentication and roles (issue 14, items 1-3). The interface other parts build on:

- ``Authenticator(settings)``: built once per app (``AUTHENTICATOR`` app key); SettingsError at
  start-up when auth is on and nothing can authenticate.
- ``await authenticator.authenticate(request) -> Principal | None``: ANONYMOUS (role admin) when auth
  is off; None when no credential was sent; raises ``AuthError`` (an ApiError, 401) for a wrong one.
  Credentials: ``Authorization: Bearer <JWT or msk_ API key>``, ``X-API-Key``, or ``?access_token=``
  on a WebSocket upgrade. ``await authenticator.verify(credential)`` checks a bare credential
  (e.g. a Socket.IO ``auth`` payload).
- ``Principal(subject, role, kind)``, kind ``token | apikey | anonymous``; ``principal.may(role)``.
- The middleware stores the caller in ``request[PRINCIPAL]`` (a RequestKey) on every non-public
  route; ``principal_of(request)`` reads it (None on public routes).
- ``ROUTE_ROLES`` (server/auth/routes.py): the role of every route. ADD EVERY NEW ROUTE THERE: an
  undeclared one needs admin, is logged at start-up, and fails the route/role walk test.
"""

from __future__ import annotations

from aiohttp import web

from server.auth.authenticator import ANONYMOUS, PRINCIPAL, Authenticator, AuthError, auth_enabled
from server.auth.principal import GRANTS, ROLES, Principal
from server.auth.routes import AUTHENTICATED, PUBLIC, ROUTE_ROLES, SCRAPE, route_role, route_role_problems

AUTHENTICATOR = web.AppKey("authenticator", Authenticator)


def principal_of(request: web.BaseRequest) -> Principal | None:
    """The caller the middleware authenticated (None on a public route)."""
    return request.get(PRINCIPAL)


__all__ = ["ANONYMOUS", "AUTHENTICATED", "AUTHENTICATOR", "GRANTS", "PRINCIPAL", "PUBLIC", "ROLES", "ROUTE_ROLES",
           "SCRAPE", "AuthError", "Authenticator", "Principal", "auth_enabled", "route_role_problems", "principal_of",
           "route_role"]
