"""The audit middleware: every mutating request to a route that changes something is written to the
audit log (engine/audit.py) with who, role, what, target, result, when and from where.

Audited: POST/PUT/PATCH/DELETE on routes whose role is operator or admin, whatever the outcome; on
ingest routes (metric pushes, remote write: thousands a minute) only the refused ones (401/403),
which is what an audit of the data plane is for. Read-only POSTs (PromQL forms) are not audited.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from engine.audit import AuditEntry
from server.auth import AUTHENTICATOR, principal_of
from server.errors import CLIENT_GONE, log_unhandled, status_for
from server.guards import MUTATING
from server.keys import ENGINE
from server.requestids import request_id

AUDITED_ROLES = frozenset({"operator", "admin", "ingest"})
TARGET_PARAMS = ("id", "name", "uid", "grouping")
MAX_TEXT = 500
log = logging.getLogger(__name__)


@web.middleware
async def audit_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.method not in MUTATING or request.match_info.http_exception is not None:
        return await handler(request)
    role = request.app[AUTHENTICATOR].required_role(request)
    if role not in AUDITED_ROLES:
        return await handler(request)
    status = CLIENT_GONE
    try:
        response = await handler(request)
        status = response.status
        return response
    except Exception as exc:  # what the client is answered (server/errors.py)
        status = status_for(exc, request)
        raise
    finally:
        if role != "ingest" or status in (401, 403):
            try:
                _record(request, status)
            except Exception as exc:  # the action is done either way: say so in the log, keep its answer
                log_unhandled(request, exc, log)


def _record(request: web.Request, status: int) -> None:
    principal = principal_of(request)
    resource = request.match_info.route.resource
    target = next((request.match_info[p] for p in TARGET_PARAMS if p in request.match_info), None)
    engine = request.app[ENGINE]
    engine.record_audit(AuditEntry(
        ts=engine.clock.now(), actor=_actor(request),
        role=principal.role if principal else "", kind=principal.kind if principal else "",
        method=request.method, route=resource.canonical if resource is not None else "",
        path=_clip(request.path), target=None if target is None else _clip(target), status=status,
        remote=request.remote or "", request_id=request_id(request)))


def _actor(request: web.Request) -> str:
    """The principal's subject; with auth off, what the caller says in X-User (kind "anonymous" marks
    it unverified); "unauthenticated" for a request refused for want of credentials."""
    principal = principal_of(request)
    if principal is None:
        return "unauthenticated"
    if principal.kind == "anonymous":
        return _clip(request.headers.get("X-User", "").strip()[:200]) or principal.subject
    return principal.subject


def _clip(text: str) -> str:
    """At most MAX_TEXT characters, with what is not valid UTF-8 (lone surrogates) replaced."""
    return text[:MAX_TEXT].encode("utf-8", "replace").decode("utf-8")
