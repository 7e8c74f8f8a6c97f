"""Who is asking (a Principal) and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["token", "apikey", "anonymous"]

ROLES = ("viewer", "ingest", "operator", "admin")
"""The roles a token or an API key can carry."""

GRANTS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"viewer"}),
    "ingest": frozenset({"ingest"}),
    "operator": frozenset({"viewer", "operator"}),
    "admin": frozenset({"viewer", "ingest", "operator", "admin"}),
}
"""The route roles (server/auth/routes.py) each role satisfies: ingest only pushes, operator is viewer
plus the alert actions, admin is everything."""


@dataclass(frozen=True)
class Principal:
    """The caller. ``kind`` anonymous is only ever seen with auth off (the caller then has every right)."""

    subject: str
    role: str
    kind: Kind
    expires_at: float | None = field(default=None, compare=False)
    """Unix time after which the credential is refused (a token's exp plus JWT_LEEWAY); None: it does
    not expire. What is held open on it (a WebSocket) is closed then."""

    def may(self, route_role: str) -> bool:
        """Does this principal satisfy a route's role (one of ROLES)?"""
        return route_role in GRANTS.get(self.role, frozenset())

    def to_json(self) -> dict[str, str]:
        return {"subject": self.subject, "role": self.role, "kind": self.kind}
