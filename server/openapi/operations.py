"""Every operation of the HTTP API, declared once: the OpenAPI document is rendered from this table and
requests are validated against it, and a test proves it names exactly the routes the app serves.

Each entry is keyed by the route's method and canonical pattern (as ``server/handlers`` register them);
who may call it comes from the role table of ``server/auth``, not from here.
"""

from __future__ import annotations

from engine.alerts.silences import MAX_MATCHERS
from engine.charts import CHART_TYPES
from server.openapi.assets import ASSETS
from server.openapi.model import FORM, Operation, Param, Schema
from server.openapi.schemas import (
    ALERT,
    CHANNEL,
    DURATION,
    LABELS,
    NOTIFICATION,
    NUMBER,
    OBJECT,
    RULE,
    SERVICE_CHECK,
    SILENCE,
    SINCE,
    STRING,
    TARGET_ENTRY,
    TIME,
    array,
    enum,
    obj,
    prom_success,
)

# -- request bodies --------------------------------------------------------------------------------

_STRINGS: Schema = array(STRING)
_COUNT: Schema = {"type": "integer", "minimum": 0}
_DURATION_OR_SECONDS: Schema = {"type": ["string", "number"]}
RULE_BODY: Schema = obj(optional={
    "name": STRING, "expr": STRING, "for": _DURATION_OR_SECONDS, "keepFiringFor": _DURATION_OR_SECONDS,
    "metricName": STRING, "condition": enum(">", "<", ">=", "<=", "==", "!="), "threshold": NUMBER,
    "duration": _DURATION_OR_SECONDS, "severity": STRING, "labels": LABELS, "annotations": LABELS,
    "notificationChannels": array(OBJECT), "enabled": {"type": "boolean"}, "group": STRING,
})
SILENCE_BODY: Schema = obj({"matchers": {"type": "array", "minItems": 1, "maxItems": MAX_MATCHERS,
                                         "items": {"type": ["string", "object"]}}},
                           {"startsAt": _DURATION_OR_SECONDS, "endsAt": _DURATION_OR_SECONDS,
                            "duration": _DURATION_OR_SECONDS, "comment": STRING, "createdBy": STRING})
ACK_BODY: Schema = obj(optional={"comment": STRING, "expiresIn": _DURATION_OR_SECONDS})
RESOLVE_BODY: Schema = obj(optional={"comment": STRING})
CHECK_BODY: Schema = obj(optional={"name": STRING, "type": STRING, "url": STRING, "interval": _DURATION_OR_SECONDS,
                                   "timeout": _DURATION_OR_SECONDS, "labels": LABELS})
CHANNEL_BODY: Schema = obj(optional={"name": STRING, "type": STRING, "enabled": {"type": "boolean"}})
TARGET_BODY: Schema = obj({"job": STRING}, {"url": STRING, "targets": _STRINGS, "labels": LABELS,
                                             "interval": _DURATION_OR_SECONDS, "timeout": _DURATION_OR_SECONDS})
PUSH_ITEM: Schema = obj({"name": STRING}, {"type": enum("counter", "gauge", "histogram", "summary"),
                                           "value": NUMBER, "labels": LABELS, "help": STRING})
BATCH_BODY: Schema = obj({"metrics": array(PUSH_ITEM)})
CHECK_NOW_BODY: Schema = obj(optional={"name": STRING})

ENGINE_IO_QUERY = (Param("EIO", enum("4"), "Engine.IO protocol version"),
                   Param("transport", enum("polling", "websocket")),
                   Param("sid", {"type": "string", "maxLength": 64}, "the session id the handshake gave"),
                   Param("t", {"type": "string", "maxLength": 64}, "a cache-buster the client adds"))

# -- answers ---------------------------------------------------------------------------------------

_DELETED: Schema = obj({"deleted": STRING}, {"reloadError": STRING})
_RULE_CHANGED: Schema = obj({"rule": RULE}, {"reloadError": STRING})
_SERIES: Schema = array(obj({"labels": LABELS, "points": array(array(NUMBER))}))
_PUSHED: Schema = obj({"accepted": {"type": "integer"}})
_PROM_RULES: Schema = prom_success(obj({"groups": array(OBJECT)}))
_HEALTH_JSON = "application/health+json"
_HEALTH: Schema = obj({"status": enum("pass", "warn", "fail")}, {"checks": OBJECT})

# -- parameters ------------------------------------------------------------------------------------

RANGE = Param("range", DURATION, "how far back, a duration")
AUDIT_FILTERS = ("actor", "role", "method", "route", "target", "result")
_ID = {"type": "string", "minLength": 1}


def _prometheus(path: str, operation_id: str, summary: str, data: Schema, params: tuple[Param, ...] = ()) -> list[
        Operation]:
    """A Prometheus-compatible read endpoint: GET with query parameters, or POST with the same as a form."""
    form: Schema = obj(optional={p.name: p.schema for p in params})
    return [
        Operation("GET", path, operation_id, summary, "prometheus", prom_success(data), query=params,
                  prometheus=True),
        Operation("POST", path, f"{operation_id}Post", f"{summary} (form POST)", "prometheus", prom_success(data),
                  body=form, body_media=(FORM,), body_required=False, prometheus=True),
    ]


_TIME_PARAM: Schema = {"type": "string", "description": "Unix seconds or RFC 3339"}
_MATCH = Param("match[]", {"type": "string"}, "a series selector (repeatable)")
_WINDOW = (Param("start", _TIME_PARAM), Param("end", _TIME_PARAM))
_LIMIT = Param("limit", {"type": "string"}, "at most this many entries")

OPERATIONS: tuple[Operation, ...] = (
    # -- metrics and views -------------------------------------------------------------------------
    Operation("GET", "/metrics", "exposition", "Every live series, Prometheus text 0.0.4 or OpenMetrics 1.0",
              "metrics", {"type": "string"}, media=("text/plain", "application/openmetrics-text")),
    Operation("GET", "/api/metrics/summary", "metricsSummary", "Service, store and host headline figures",
              "metrics", obj({"service": STRING, "store": OBJECT})),
    Operation("GET", "/api/metrics/system", "metricsSystem", "Host figures of the last collection", "metrics",
              obj({"timestamp": TIME})),
    Operation("GET", "/api/metrics/processes", "metricsProcesses", "The host's top processes, read now", "metrics",
              obj({"timestamp": TIME}), query=(Param("sort", enum("cpu", "memory")),
                                               Param("limit", {"type": "integer", "minimum": 1, "maximum": 500}))),
    Operation("GET", "/api/metrics/application", "metricsApplication", "Per-service request, latency and error "
              "figures", "metrics", OBJECT, query=(RANGE,)),
    Operation("GET", "/api/metrics/business", "metricsBusiness", "Bookings, revenue, users and funnels",
              "metrics", OBJECT, query=(RANGE,)),
    Operation("GET", "/api/dashboard/charts/{type}", "dashboardChart", "One chart's series over a range",
              "dashboard", obj({"type": STRING, "series": _SERIES}), path_schemas={"type": enum(*CHART_TYPES)},
              query=(RANGE, Param("step", DURATION, "resolution, a duration; like range, at most METRICS_TTL"))),
    Operation("GET", "/api/dashboard/summary", "dashboardSummary", "The front page's figures", "dashboard", OBJECT),
    Operation("GET", "/api/dashboard/realtime", "dashboardRealtime", "The console's top figures", "dashboard",
              OBJECT),
    Operation("GET", "/api/dashboards", "listDashboards", "The Grafana dashboard files", "dashboard",
              obj({"dashboards": array(obj({"uid": {"type": ["string", "null"]}}))})),
    Operation("GET", "/api/dashboards/{uid}", "getDashboard", "One dashboard's JSON, as Grafana imports it",
              "dashboard", OBJECT),
    Operation("GET", "/livez", "livez", "Liveness", "probes", _HEALTH, media=(_HEALTH_JSON,)),
    Operation("GET", "/readyz", "readyz", "Readiness (503 when the store cannot answer or the disk is full)",
              "probes", _HEALTH, media=(_HEALTH_JSON,)),
    Operation("GET", "/ws", "stream", "WebSocket stream of metrics, alerts and health events (upgrade required)",
              "stream", None, status=101),
    *(Operation(method, "/socket.io/", f"socketIo{method.title()}",
                "Socket.IO (Engine.IO 4 polling and WebSocket upgrade) for the seed's JavaScript client", "stream",
                {"type": "string"}, media=("text/plain",), query=ENGINE_IO_QUERY, body={"type": "string"},
                body_media=("text/plain", "application/octet-stream"), body_required=False, validate_body=False)
      for method in ("GET", "POST")),
    # -- alerts, silences, rules -------------------------------------------------------------------
    Operation("GET", "/api/alerts", "listAlerts", "Alert instances", "alerts", obj({"alerts": array(ALERT)}), query=(
        Param("state", {"type": "string", "maxLength": 64}, "comma-separated: pending, firing, resolved"),
        Param("severity", {"type": "string"}, "comma-separated severities"),
        Param("since", SINCE),
        Param("sort", enum("severity", "age")))),
    Operation("GET", "/api/alerts/{id}", "getAlert", "One alert instance with its timeline", "alerts",
              obj({"alert": ALERT})),
    Operation("POST", "/api/alerts/{id}/acknowledge", "acknowledgeAlert", "Acknowledge an alert", "alerts",
              obj({"alert": ALERT}), body=ACK_BODY, body_required=False, extra={409: "already resolved"}),
    Operation("POST", "/api/alerts/{id}/resolve", "resolveAlert", "Resolve an alert by hand", "alerts",
              obj({"alert": ALERT}), body=RESOLVE_BODY, body_required=False, extra={409: "already resolved"}),
    Operation("GET", "/api/alerts/silences", "listSilences", "Silences", "alerts",
              obj({"silences": array(SILENCE)})),
    Operation("POST", "/api/alerts/silences", "createSilence", "Create a silence", "alerts",
              obj({"silence": SILENCE, "silencedAlerts": _COUNT}), status=201, body=SILENCE_BODY,
              body_code="invalid_silence", extra={409: "too many silences in force"}),
    Operation("PUT", "/api/alerts/silences/{id}", "updateSilence", "Replace a silence", "alerts",
              obj({"silence": SILENCE, "silencedAlerts": _COUNT}), body=SILENCE_BODY, body_code="invalid_silence",
              extra={409: "too many silences in force"}),
    Operation("DELETE", "/api/alerts/silences/{id}", "expireSilence", "Expire a silence", "alerts",
              obj({"silence": SILENCE}), extra={409: "already expired"}),
    Operation("GET", "/api/alerts/rules", "listRules", "Alerting and recording rules", "rules",
              obj({"rules": array(RULE), "lastReload": TIME, "lastReloadError": {"type": ["string", "null"]}})),
    Operation("POST", "/api/alerts/rules", "createRule", "Create a rule (simple or full form)", "rules",
              _RULE_CHANGED, status=201, body=RULE_BODY, body_code="invalid_rule"),
    Operation("POST", "/api/alerts/rules/reload", "reloadRules", "Reload the rule files", "rules",
              obj({"status": STRING})),
    Operation("GET", "/api/alerts/rules/{id}", "getRule", "One rule", "rules", obj({"rule": RULE})),
    Operation("PUT", "/api/alerts/rules/{id}", "updateRule", "Replace an API rule", "rules", _RULE_CHANGED,
              body=RULE_BODY, body_code="invalid_rule", extra={409: "a rule from a file is read-only"}),
    Operation("DELETE", "/api/alerts/rules/{id}", "deleteRule", "Delete an API rule", "rules", _DELETED,
              extra={409: "a rule from a file is read-only"}),
    # -- health checks -----------------------------------------------------------------------------
    Operation("GET", "/api/health", "healthOverview", "Every check's state in one answer", "health", OBJECT),
    Operation("GET", "/api/health/services", "listHealthChecks", "Health checks", "health",
              obj({"services": array(SERVICE_CHECK)})),
    Operation("POST", "/api/health/services", "createHealthCheck", "Add a health check", "health",
              obj({"service": SERVICE_CHECK}), status=201, body=CHECK_BODY, body_code="invalid_check",
              extra={409: "the name is taken"}),
    Operation("GET", "/api/health/services/{name}", "getHealthCheck", "One health check", "health",
              obj({"service": SERVICE_CHECK})),
    Operation("PUT", "/api/health/services/{name}", "updateHealthCheck", "Replace a health check", "health",
              obj({"service": SERVICE_CHECK}), body=CHECK_BODY,
              body_code="invalid_check", extra={409: "a check from the config file"}),
    Operation("DELETE", "/api/health/services/{name}", "deleteHealthCheck", "Delete a health check", "health",
              _DELETED, extra={409: "a check from the config file"}),
    Operation("POST", "/api/health/check", "runHealthChecks", "Run one check (name) or all now", "health",
              obj({"services": array(OBJECT)}), body=CHECK_NOW_BODY, body_required=False,
              query=(Param("name", {"type": "string"}, "the check to run; all when absent"),)),
    # -- notifications -----------------------------------------------------------------------------
    Operation("GET", "/api/notifications", "listNotifications", "The delivery log", "notifications",
              obj({"notifications": array(NOTIFICATION)}), query=(
                  Param("status", enum("pending", "sent", "failed")),
                  Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                  Param("since", SINCE), Param("channel", STRING), Param("alert", STRING))),
    Operation("GET", "/api/notifications/{id}", "getNotification", "One delivery", "notifications",
              obj({"notification": NOTIFICATION}), path_schemas={"id": {"type": "string", "pattern": r"^\d{1,18}$"}}),
    Operation("GET", "/api/notifications/routing", "notificationRouting", "The routing tree", "notifications",
              OBJECT),
    Operation("GET", "/api/notifications/channels", "listChannels", "Notification channels (secrets masked)",
              "notifications", obj({"channels": array(CHANNEL)})),
    Operation("POST", "/api/notifications/channels", "createChannel", "Add a channel", "notifications",
              obj({"channel": CHANNEL}), status=201, body=CHANNEL_BODY, extra={409: "the name is taken"}),
    Operation("GET", "/api/notifications/channels/{name}", "getChannel", "One channel", "notifications",
              obj({"channel": CHANNEL})),
    Operation("PUT", "/api/notifications/channels/{name}", "updateChannel", "Replace a channel", "notifications",
              obj({"channel": CHANNEL}), body=CHANNEL_BODY),
    Operation("DELETE", "/api/notifications/channels/{name}", "deleteChannel", "Delete a channel",
              "notifications", _DELETED),
    Operation("POST", "/api/notifications/channels/{name}/test", "testChannel", "Send a test notification",
              "notifications", OBJECT),
    # -- scrape targets ----------------------------------------------------------------------------
    Operation("GET", "/api/targets", "listTargets", "Scrape entries and their targets", "targets", OBJECT),
    Operation("POST", "/api/targets", "addTarget", "Add a scrape entry", "targets", obj({"entry": TARGET_ENTRY}),
              status=201, body=TARGET_BODY, extra={403: "the URL is not allowed", 409: "too many targets"}),
    Operation("DELETE", "/api/targets/{id}", "deleteTarget", "Remove a scrape entry", "targets",
              obj({"entry": TARGET_ENTRY})),
    # -- ingestion ---------------------------------------------------------------------------------
    Operation("POST", "/api/metrics/custom", "pushMetric", "Push one metric", "ingest", _PUSHED, body=PUSH_ITEM,
              validate_body=False, extra={409: "conflicts with what is stored"}),
    Operation("POST", "/api/metrics/business", "pushBusinessMetric", "Push one business metric", "ingest", _PUSHED,
              body=PUSH_ITEM, validate_body=False, extra={409: "conflicts with what is stored"}),
    Operation("POST", "/api/metrics/batch", "pushBatch", "Push up to 10,000 metrics", "ingest",
              obj({"accepted": {"type": "integer"}, "rejected": array(OBJECT)}), body=BATCH_BODY, validate_body=False,
              query=(Param("atomic", enum("true", "false", "1", "0"), "one refusal means none is applied"),)),
    Operation("PUT", "/metrics/{grouping}", "pushgatewayPut", "Pushgateway: replace a group", "ingest",
              body={"type": "string"}, body_media=("text/plain", "application/vnd.google.protobuf"),
              validate_body=False),
    Operation("POST", "/metrics/{grouping}", "pushgatewayPost", "Pushgateway: add to a group", "ingest",
              body={"type": "string"}, body_media=("text/plain", "application/vnd.google.protobuf"),
              validate_body=False),
    Operation("DELETE", "/metrics/{grouping}", "pushgatewayDelete", "Pushgateway: delete a group", "ingest",
              status=202),
    Operation("POST", "/api/v1/write", "remoteWrite", "Prometheus remote write 1.0 (snappy protobuf)", "ingest",
              status=204, body={"type": "string", "contentEncoding": "base64"}, body_media=("application/x-protobuf",),
              validate_body=False),
    # -- Prometheus-compatible ---------------------------------------------------------------------
    *_prometheus("/api/v1/query", "promQuery", "PromQL instant query", obj({"resultType": STRING, "result": {}}), (
        Param("query", {"type": "string"}, "PromQL", required=True), Param("time", _TIME_PARAM),
        Param("timeout", {"type": "string"}), Param("limit", {"type": "string"}))),
    *_prometheus("/api/v1/query_range", "promQueryRange", "PromQL range query",
                 obj({"resultType": STRING, "result": array(OBJECT)}), (
                     Param("query", {"type": "string"}, "PromQL", required=True), *_WINDOW,
                     Param("step", {"type": "string"}, "duration or float seconds", required=True),
                     Param("timeout", {"type": "string"}), _LIMIT)),
    *_prometheus("/api/v1/series", "promSeries", "Series matching selectors", array(LABELS),
                 (_MATCH, *_WINDOW, _LIMIT)),
    *_prometheus("/api/v1/labels", "promLabels", "Label names", array(STRING), (_MATCH, *_WINDOW, _LIMIT)),
    *_prometheus("/api/v1/label/{name}/values", "promLabelValues", "One label's values", array(STRING),
                 (_MATCH, *_WINDOW, _LIMIT)),
    *_prometheus("/api/v1/metadata", "promMetadata", "Metric metadata", OBJECT,
                 (Param("metric", {"type": "string"}), _LIMIT, Param("limit_per_metric", {"type": "string"}))),
    *_prometheus("/api/v1/status/buildinfo", "promBuildinfo", "Build information", OBJECT),
    Operation("GET", "/api/v1/rules", "promRules", "Rule groups, Prometheus's shape", "prometheus", _PROM_RULES),
    Operation("GET", "/api/v1/alerts", "promAlerts", "Active alerts, Prometheus's shape", "prometheus",
              prom_success(obj({"alerts": array(OBJECT)}))),
    Operation("GET", "/api/v1/targets", "promTargets", "Scrape targets, Prometheus's shape", "prometheus",
              prom_success(obj({"activeTargets": array(OBJECT), "droppedTargets": array(OBJECT)})),
              query=(Param("state", enum("active", "dropped", "any", "")),)),
    # -- who is asking, and what was done --------------------------------------------------------------
    Operation("GET", "/api/auth/me", "whoAmI", "The caller's subject, role and kind", "auth",
              obj({"subject": STRING, "role": STRING, "kind": STRING, "authEnabled": {"type": "boolean"}})),
    Operation("GET", "/api/audit", "listAudit", "The audit log of mutating requests", "auth",
              obj({"entries": array(OBJECT)}), query=(
                  *(Param(name, {"type": "string", "maxLength": 500}) for name in AUDIT_FILTERS),
                  Param("since", SINCE), Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}))),
    # -- replicas --------------------------------------------------------------------------------------
    Operation("GET", "/api/cluster", "cluster", "This replica, the leader and the live replicas (REDIS_URL)",
              "cluster", obj({"self": STRING, "leader": {"type": ["string", "null"]},
                              "replicas": array(obj({"id": STRING, "address": STRING, "startedAt": STRING,
                                                     "lastSeen": STRING})),
                              "assignments": OBJECT})),
    # -- this document -----------------------------------------------------------------------------
    Operation("GET", "/api-docs", "swaggerUi", "Swagger UI for this API", "docs", {"type": "string"},
              media=("text/html",)),
    Operation("GET", "/api-docs/openapi.json", "openapi", "This OpenAPI 3.1 document", "docs", OBJECT),
    Operation("GET", "/api-docs/assets/{asset}", "swaggerUiAsset", "Swagger UI's scripts, styles and icons",
              "docs", {"type": "string"}, media=("text/css", "text/javascript"),
              path_schemas={"asset": enum(*ASSETS)}),
)
"""The whole API, grouped as the README presents it."""

INDEX: dict[tuple[str, str], Operation] = {op.key: op for op in OPERATIONS}
