"""OpenTelemetry tracing end to end: our server sends its spans over OTLP/HTTP to a real receiver on
127.0.0.1 that decodes the protobuf export requests, and the test checks names, attributes and links."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from engine.logs import JsonFormatter
from engine.settings import SettingsError
from engine.tracing import OtelTracer, jaeger_otlp_endpoint, traces_endpoint
from server.runner import start_server
from tests.integration.conftest import make_settings
from tests.integration.receivers import first_match

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER
ERROR = 2  # Status.STATUS_CODE_ERROR


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    status: int
    message: str
    service: str
    trace_state: str


def _value(v: Any) -> Any:
    return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None


class OtlpReceiver:
    """An OTLP/HTTP trace receiver: POST /v1/traces with an ExportTraceServiceRequest body; also serves
    a small /metrics page for the scrape test."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.paths: list[str] = []
        self.content_types: set[str] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _export(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        self.content_types.add(request.content_type)
        export = ExportTraceServiceRequest.FromString(await request.read())
        for rs in export.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    self.spans.append(ReceivedSpan(s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                                                   s.kind, {a.key: _value(a.value) for a in s.attributes},
                                                   s.status.code, s.status.message, resource.get("service.name"),
                                                   s.trace_state))
        self._changed.set()
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text="# TYPE tracing_test_up gauge\ntracing_test_up 1\n")

    async def start(self) -> OtlpReceiver:
        app = web.Application()
        app.router.add_post("/v1/traces", self._export)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def span(self, match: Callable[[ReceivedSpan], bool], timeout: float = 30.0) -> ReceivedSpan:
        """The first span received that matches, waiting for exports (woken by each) up to ``timeout``."""
        return await first_match(lambda: self.spans, match, self._changed, timeout)


@pytest.fixture
async def receiver():
    rec = await OtlpReceiver().start()
    yield rec
    await rec.stop()


@pytest.fixture
async def traced(tmp_path, receiver):
    servers = []

    async def start(**env: Any) -> tuple[Any, httpx.AsyncClient]:
        env = {"otel_enabled": "true", "otel_exporter_otlp_endpoint": receiver.url, **env}
        server = await start_server(make_settings(tmp_path, **env), collect_system=False)
        client = httpx.AsyncClient(base_url=server.url, timeout=15)
        servers.append((server, client))
        return server, client
    yield start
    for server, client in servers:
        await client.aclose()
        await server.stop()


async def test_a_request_span_is_the_child_of_the_callers_traceparent(traced, receiver):
    _, client = await traced(otel_service_name="booking-monitor")
    r = await client.get("/api/v1/query", params={"query": "vector(1)"},
                         headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert r.status_code == 200
    span = await receiver.span(lambda s: s.attributes.get("http.route") == "/api/v1/query")
    assert span.name == "GET /api/v1/query" and span.kind == SERVER_KIND
    assert (span.trace_id, span.parent_id) == (TRACE_ID, PARENT_ID)
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["url.path"] == "/api/v1/query"
    assert span.service == "booking-monitor"
    assert receiver.paths[0] == "/v1/traces" and receiver.content_types == {"application/x-protobuf"}

    r = await client.get("/api/v1/query", params={"query": "sum("})
    assert r.status_code == 400
    bad = await receiver.span(lambda s: s.attributes.get("http.response.status_code") == 400)
    assert bad.parent_id == "" and bad.trace_id != TRACE_ID  # no traceparent: a trace of its own
    assert bad.status != ERROR  # a client's mistake is not the server's error
    r = await client.get("/no/such/path")
    missing = await receiver.span(lambda s: s.attributes.get("url.path") == "/no/such/path")
    assert missing.attributes["http.response.status_code"] == 404 and "http.route" not in missing.attributes
    assert missing.status != ERROR


async def test_the_callers_sampling_decision_is_obeyed_and_a_malformed_traceparent_starts_a_new_trace(
        traced, receiver):
    _, client = await traced()
    unsampled = "a" * 32
    await client.get("/api/v1/labels", headers={"traceparent": f"00-{unsampled}-{PARENT_ID}-00"})
    await client.get("/api/v1/labels", headers={"traceparent": f"00-{'0' * 32}-{PARENT_ID}-01"})
    await client.get("/api/v1/labels", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
                                                "tracestate": "vendor=abc"})
    sampled = await receiver.span(lambda s: s.trace_id == TRACE_ID)
    assert sampled.attributes["http.route"] == "/api/v1/labels" and sampled.parent_id == PARENT_ID
    assert sampled.trace_state == "vendor=abc"
    labels = [s for s in receiver.spans if s.attributes.get("http.route") == "/api/v1/labels"]
    assert all(s.trace_id != unsampled for s in receiver.spans)
    assert [s.parent_id for s in labels] == ["", PARENT_ID]  # the all-zero trace id: a trace of its own


async def test_health_checks_and_channel_tests_are_spans_inside_their_request(traced, receiver):
    checks = json.dumps([{"name": "booking-api", "url": f"{receiver.url}/metrics"},
                         {"name": "payments", "url": f"{receiver.url}/missing"}])
    _, client = await traced(health_checks=checks, webhook_url=f"{receiver.url}/hook")
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    assert (await client.post("/api/health/check", json={"name": "booking-api"}, headers=headers)).status_code == 200
    request = await receiver.span(lambda s: s.name == "POST /api/health/check")
    check = await receiver.span(lambda s: s.name == "health_check" and s.parent_id == request.span_id)
    assert check.trace_id == TRACE_ID
    assert check.attributes["health.check"] == "booking-api" and check.attributes["health.type"] == "http"
    assert check.attributes["health.ok"] is True and check.attributes["http.response.status_code"] == 200

    await client.post("/api/health/check", json={"name": "payments"})
    failed = await receiver.span(lambda s: s.name == "health_check" and s.attributes["health.check"] == "payments"
                                 and s.parent_id != "")
    assert failed.attributes["health.ok"] is False and failed.status == ERROR and "404" in failed.message

    r = await client.post("/api/notifications/channels/webhook/test")
    assert r.status_code == 200 and r.json()["status"] == 404  # the receiver has no /hook: a failed delivery
    request = await receiver.span(lambda s: s.name == "POST /api/notifications/channels/{name}/test")
    delivery = await receiver.span(lambda s: s.name == "notification.deliver" and s.parent_id == request.span_id)
    assert (delivery.attributes["notify.channel"], delivery.attributes["notify.channel_type"]) == ("webhook", "webhook")
    assert delivery.attributes["notify.ok"] is False and delivery.attributes["http.response.status_code"] == 404
    assert delivery.status == ERROR


async def test_rule_groups_and_scrapes_are_traced_and_jaeger_endpoint_finds_its_otlp_port(traced, receiver, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups:\n- name: tracing-test\n  interval: 1s\n  rules:\n"
                     "  - alert: AlwaysFiring\n    expr: vector(1)\n")
    scrape = f"[{{job_name: booking, scrape_interval: 1s, static_configs: [{{targets: ['{receiver.url[7:]}']}}]}}]"
    await traced(otel_exporter_otlp_endpoint="", jaeger_endpoint=f"{receiver.url}/api/traces",
                 rules_files=str(rules), scrape_configs=scrape)
    group = await receiver.span(lambda s: s.name == "rule_group.evaluate"
                                and s.attributes["rule_group.name"] == "tracing-test")
    assert group.attributes["rule_group.file"] == str(rules) and group.attributes["rule_group.rules"] == 1
    assert group.attributes["rule_group.errors"] == 0 and group.parent_id == ""
    await receiver.span(lambda s: s.name == "rule_group.evaluate" and s.attributes["rule_group.name"] == "tracing-test"
                        and s.attributes["rule_group.alerts_active"] == 1)
    scraped = await receiver.span(lambda s: s.name == "scrape")
    assert scraped.attributes["scrape.job"] == "booking"
    assert scraped.attributes["scrape.target"] == f"{receiver.url}/metrics"
    assert scraped.attributes["scrape.up"] is True and scraped.attributes["scrape.samples"] >= 1
    assert set(receiver.paths) == {"/v1/traces"}


async def test_log_lines_written_inside_a_span_carry_its_ids(receiver):
    tracer = OtelTracer("metrics-service", receiver.url + "/v1/traces")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("metrics-service"))
    log = logging.getLogger("tests.tracing")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("outside")
        with tracer.span("outer"):
            log.warning("inside")
    finally:
        log.removeHandler(handler)
        await asyncio.to_thread(tracer.shutdown)
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert "trace_id" not in outside and "span_id" not in outside
    span = await receiver.span(lambda s: s.name == "outer")
    assert (inside["trace_id"], inside["span_id"]) == (span.trace_id, span.span_id)


def test_with_tracing_off_the_exporter_is_never_imported(tmp_path):
    code = ("import sys\n"
            "from engine.engine import Engine\n"
            "from engine.settings import load_settings\n"
            "from server.app import create_app\n"
            f"engine = Engine(load_settings(env={{'DATA_DIR': {str(tmp_path)!r}}}, dotenv_path=None))\n"
            "create_app(engine)\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry') or m == 'engine.otlp'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_the_exporter_endpoint_follows_the_otlp_spec_and_jaeger_maps_to_its_otlp_port(tmp_path):
    assert traces_endpoint(make_settings(tmp_path)) == "http://localhost:4318/v1/traces"
    assert traces_endpoint(make_settings(tmp_path, otel_exporter_otlp_endpoint="http://otel:4318/")) == \
        "http://otel:4318/v1/traces"
    assert traces_endpoint(make_settings(tmp_path, otel_exporter_otlp_endpoint="https://c.example/v1/traces",
                                         jaeger_endpoint="http://j:14268/api/traces")) == "https://c.example/v1/traces"
    assert jaeger_otlp_endpoint("http://localhost:14268/api/traces") == "http://localhost:4318/v1/traces"
    assert jaeger_otlp_endpoint("http://jaeger") == "http://jaeger:4318/v1/traces"
    assert jaeger_otlp_endpoint("https://[::1]:8443/api/traces") == "https://[::1]:8443/v1/traces"


@pytest.mark.parametrize(("env", "named"), [
    ({"otel_exporter_otlp_protocol": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported"),
    ({"otel_exporter_otlp_protocol": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' is not supported"),
    ({"otel_exporter_otlp_endpoint": "localhost:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT: "),
    ({"jaeger_endpoint": "udp://localhost:6831"}, "JAEGER_ENDPOINT: "),
    ({"otel_enabled": "maybe"}, "OTEL_ENABLED: "),
])
def test_wrong_tracing_settings_stop_start_up_naming_them(tmp_path, env, named):
    with pytest.raises(SettingsError) as raised:
        make_settings(tmp_path, **env)
    assert str(raised.value).startswith(named)
