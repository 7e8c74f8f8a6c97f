"""Alerts, silences and rules: our JSON API (seed paths) and Prometheus's /api/v1/rules and /api/v1/alerts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.alerts.book import AlertActionError
from engine.alerts.silences import SilenceError
from engine.compat.strconv import NOT_UTF8, is_valid_utf8
from engine.engine import Engine
from engine.rulefiles.managed import ReadOnlyRuleError, RuleNotFoundError, RuleValidationError
from engine.timefmt import rfc3339
from server.auth import principal_of
from server.bodies import json_body
from server.errors import ApiError, bad_parameter
from server.keys import ENGINE
from server.params import since_param

routes = web.RouteTableDef()

STATES = ("pending", "firing", "resolved")


def _engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


def requester(request: web.Request) -> str:
    """Who acts: the token's or API key's subject; with auth off, the X-User header (the console sends
    user@host), else the peer address."""
    principal = principal_of(request)
    if principal is not None and principal.kind != "anonymous":
        return principal.subject
    user = request.headers.get("X-User", "").strip()
    if not is_valid_utf8(user):  # aiohttp keeps bytes that are not UTF-8 as lone surrogates
        raise ApiError(400, "invalid_header", f"X-User: {NOT_UTF8}", {"field": "X-User"})
    if user:
        return user[:200]
    peer = request.remote or "unknown"
    return f"anonymous@{peer}"


def _action_error(exc: AlertActionError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, None if exc.field is None else {"field": exc.field})


# -- alerts ----------------------------------------------------------------------------------------

@routes.get("/api/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    engine = _engine(request)
    q = request.query
    states = [s for s in q.get("state", "pending,firing").split(",") if s]
    for s in states:
        if s not in STATES:
            raise bad_parameter("state", q["state"], f"unknown state {s!r} (expected {', '.join(STATES)})")
    since = since_param(q.get("since"), engine.clock.now())
    sort = q.get("sort", "severity")  # severity or age: checked against the operation's schema
    severities = q["severity"].split(",") if "severity" in q else None
    return web.json_response({"alerts": await engine.alerts(states, since, severities, sort)})


@routes.get("/api/alerts/silences")
async def list_silences(request: web.Request) -> web.Response:
    return web.json_response({"silences": _engine(request).silences()})


@routes.post("/api/alerts/silences")
async def create_silence(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        silence = await _engine(request).add_silence(body, requester(request))
    except SilenceError as exc:
        raise ApiError(400, "invalid_silence", str(exc), {"field": exc.field}) from None
    except AlertActionError as exc:
        raise _action_error(exc) from None
    return web.json_response(_silence_reply(request, silence), status=201)


@routes.put("/api/alerts/silences/{id}")
async def update_silence(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        silence = await _engine(request).update_silence(request.match_info["id"], body, requester(request))
    except SilenceError as exc:
        raise ApiError(400, "invalid_silence", str(exc), {"field": exc.field}) from None
    except AlertActionError as exc:
        raise _action_error(exc) from None
    return web.json_response(_silence_reply(request, silence))


def _silence_reply(request: web.Request, silence: dict[str, Any]) -> dict[str, Any]:
    """A stored silence and how many alerts it silences now: matchers that select nothing (a typo)
    are said at once, not found at the next page."""
    return {"silence": silence, "silencedAlerts": _engine(request).silenced_count(silence["id"])}


@routes.delete("/api/alerts/silences/{id}")
async def delete_silence(request: web.Request) -> web.Response:
    try:
        silence = await _engine(request).expire_silence(request.match_info["id"])
    except AlertActionError as exc:
        raise _action_error(exc) from None
    return web.json_response({"silence": silence})


# -- rules -----------------------------------------------------------------------------------------

RULE_PATH = "/api/alerts/rules/{id:(?!reload$)[^/]+}"
"""One rule; "reload" is not an id (ids are hex), so a wrong method on /api/alerts/rules/reload is a 405
whose Allow header names POST alone, not the methods of a rule."""


def _not_found(rule_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no rule with id {rule_id!r}")


def _invalid(exc: RuleValidationError) -> ApiError:
    return ApiError(400, "invalid_rule", str(exc), {"field": exc.field, **exc.details})


def _read_only(exc: ReadOnlyRuleError) -> ApiError:
    return ApiError(409, "read_only_rule", str(exc), {"file": exc.file})


def _changed(rule: dict[str, Any], reload_error: str | None) -> dict[str, Any]:
    return {"rule": rule, **({"reloadError": reload_error} if reload_error else {})}


@routes.get("/api/alerts/rules")
async def list_rules(request: web.Request) -> web.Response:
    engine = _engine(request)
    last_reload, last_error = engine.rules_reload_status()
    return web.json_response({"rules": engine.rules(), "lastReloadError": last_error,
                              "lastReload": None if last_reload is None else rfc3339(last_reload)})


@routes.post("/api/alerts/rules/reload")
async def reload_rules(request: web.Request) -> web.Response:
    error = await _engine(request).reload_rules()
    if error is not None:
        raise ApiError(400, "rules_invalid", "reload failed; the previous rules keep running",
                       {"errors": error.splitlines()})
    return web.json_response({"status": "reloaded"})


@routes.get(RULE_PATH)
async def get_rule(request: web.Request) -> web.Response:
    rule_id = request.match_info["id"]
    try:
        return web.json_response({"rule": _engine(request).rule(rule_id)})
    except RuleNotFoundError:
        raise _not_found(rule_id) from None


@routes.post("/api/alerts/rules")
async def create_rule(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        rule, reload_error = await _engine(request).create_rule(body)
    except RuleValidationError as exc:
        raise _invalid(exc) from None
    except RuleNotFoundError as exc:  # saved, but a failed reload left it out of the running rules
        raise _not_found(str(exc)) from None
    return web.json_response(_changed(rule, reload_error), status=201)


@routes.put(RULE_PATH)
async def update_rule(request: web.Request) -> web.Response:
    rule_id = request.match_info["id"]
    body = await json_body(request)
    try:
        rule, reload_error = await _engine(request).update_rule(rule_id, body)
    except ReadOnlyRuleError as exc:
        raise _read_only(exc) from None
    except RuleValidationError as exc:
        raise _invalid(exc) from None
    except RuleNotFoundError:
        raise _not_found(rule_id) from None
    return web.json_response(_changed(rule, reload_error))


@routes.delete(RULE_PATH)
async def delete_rule(request: web.Request) -> web.Response:
    rule_id = request.match_info["id"]
    try:
        reload_error = await _engine(request).delete_rule(rule_id)
    except ReadOnlyRuleError as exc:
        raise _read_only(exc) from None
    except RuleNotFoundError:
        raise _not_found(rule_id) from None
    return web.json_response({"deleted": rule_id, **({"reloadError": reload_error} if reload_error else {})})


# -- one alert (after the fixed paths above, which its pattern would also match) -------------------

@routes.get("/api/alerts/{id}")
async def get_alert(request: web.Request) -> web.Response:
    alert_id = request.match_info["id"]
    alert = await _engine(request).alert(alert_id)
    if alert is None:
        raise ApiError(404, "not_found", f"no alert with id {alert_id!r}")
    return web.json_response({"alert": alert})


@routes.post("/api/alerts/{id}/acknowledge")
async def acknowledge(request: web.Request) -> web.Response:
    body = await json_body(request, required=False)
    try:
        alert = await _engine(request).acknowledge(request.match_info["id"], requester(request), body)
    except AlertActionError as exc:
        raise _action_error(exc) from None
    return web.json_response({"alert": alert})


@routes.post("/api/alerts/{id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    body = await json_body(request, required=False)
    try:
        alert = await _engine(request).resolve(request.match_info["id"], requester(request), body)
    except AlertActionError as exc:
        raise _action_error(exc) from None
    return web.json_response({"alert": alert})


# -- Prometheus-compatible ------------------------------------------------------------------------

@routes.get("/api/v1/rules")
async def prom_rules(request: web.Request) -> web.Response:
    return web.json_response({"status": "success", "data": _engine(request).prometheus_rules()})


@routes.get("/api/v1/alerts")
async def prom_alerts(request: web.Request) -> web.Response:
    return web.json_response({"status": "success", "data": {"alerts": _engine(request).prometheus_alerts()}})
