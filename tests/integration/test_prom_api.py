"""The Prometheus-compatible API (/api/v1/...) over a real socket, on a fixed data set.

Error texts and status codes are the ones Prometheus 2.42 answers for the same requests (checked
against a running Prometheus by hand); query results are checked against Prometheus itself by
handing them to ``promtool test rules`` as expectations over the same input series.
"""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest
import yaml

from engine import __version__
from engine.clock import FixedClock
from engine.tsdb.types import Family
from server.runner import start_server
from tests.conftest import promtool_path
from tests.integration.conftest import make_settings

STEP_S = 15
STEPS = 40  # samples at 0s, 15s, ... 585s
NOW_S = 3600  # the server's clock: an hour after the data, so flushing moves all of it to disk


def _counter(per_step: float, reset_at: int | None = None, start: int = 0, stop: int = STEPS) -> list:
    values: list[float | None] = []
    for k in range(STEPS):
        if not start <= k < stop:
            values.append(None)
        elif reset_at is not None and k >= reset_at:
            values.append(3 + per_step * (k - reset_at))
        else:
            values.append(per_step * (k - start))
    return values


# (family, type, unit, series name, labels, one value per step; None: not exposed at that step)
SERIES = [
    ("http_requests_total", "counter", "", "http_requests_total",
     {"service": "api", "method": "GET", "route": "/book", "status": "200"}, _counter(10, reset_at=25)),
    ("http_requests_total", "counter", "", "http_requests_total",
     {"service": "api", "method": "POST", "route": "/book", "status": "500"}, _counter(1)),
    ("http_requests_total", "counter", "", "http_requests_total",  # goes away at 300s: stale marker
     {"service": "web", "method": "GET", "route": "/", "status": "200"}, _counter(5, stop=20)),
    ("bookings_total", "counter", "", "bookings_total",  # appears at 450s
     {"service": "api", "status": "confirmed"}, _counter(2, start=30)),
    ("node_load1", "gauge", "", "node_load1", {}, [(0.5, 1.25, 2.0, 0.75)[k % 4] for k in range(STEPS)]),
    ("customer_satisfaction_score", "untyped", "", "customer_satisfaction_score", {"service": "api"},
     [4.5] * STEPS),
] + [
    ("http_request_duration_seconds", "histogram", "seconds", "http_request_duration_seconds_bucket",
     {"service": "api", "le": le}, _counter(rate)) for le, rate in (("0.1", 3), ("0.5", 7), ("1.0", 9), ("+Inf", 10))
] + [
    ("http_request_duration_seconds", "histogram", "seconds", "http_request_duration_seconds_count",
     {"service": "api"}, _counter(10)),
    ("http_request_duration_seconds", "histogram", "seconds", "http_request_duration_seconds_sum",
     {"service": "api"}, _counter(2.5)),
]


def ingest(store) -> None:
    """One collection cycle per step, so series that stop being exposed get Prometheus's stale marker."""
    for k in range(STEPS):
        families: dict[str, Family] = {}
        for family, kind, unit, name, labels, values in SERIES:
            fam = families.setdefault(family, Family(family, kind, f"Help for {family}.", unit))
            if values[k] is not None:
                fam.samples.append((name, labels, values[k]))
        store.ingest("app", list(families.values()), k * STEP_S * 1000)


def promtool_values(values: list) -> str:
    """The same samples in promtool's series notation: a stale marker where a series went away."""
    out, seen = [], False
    for v in values:
        if v is None:
            out.append("stale" if seen else "_")
            seen = False
        else:
            out.append(repr(float(v)))
            seen = True
    return " ".join(out)


def selector(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())) + "}"


@pytest.fixture(params=["head", "disk"])
async def server(request, tmp_path):
    """A server whose store holds SERIES in memory, or only on disk after a flush emptied the head."""
    settings = make_settings(tmp_path, head_retention="60")
    running = await start_server(settings, clock=FixedClock(NOW_S), collect_system=False, start_schedules=False)
    try:
        ingest(running.engine.store)
        if request.param == "disk":
            running.engine.store.flush(NOW_S * 1000)
            assert all(not running.engine.store.series(r).ts for r in running.engine.store.select_refs(()))
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


async def call(client: httpx.AsyncClient, method: str, path: str, params) -> httpx.Response:
    """GET with a query string or POST with a form body: the same answer either way."""
    if method == "GET":
        return await client.get(path, params=params)
    return await client.post(path, data=params)


def ok(response: httpx.Response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "success" and "error" not in body, body
    return body["data"]


def error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["errorType"] == error_type, body
    assert "data" not in body
    return body["error"]


BOTH = pytest.mark.parametrize("method", ["GET", "POST"])
ALL_NAMES = ["bookings_total", "customer_satisfaction_score", "http_request_duration_seconds_bucket",
             "http_request_duration_seconds_count", "http_request_duration_seconds_sum", "http_requests_total",
             "node_load1"]


# -- buildinfo, metadata ------------------------------------------------------------------------


@BOTH
async def test_buildinfo(client, method):
    data = ok(await call(client, method, "/api/v1/status/buildinfo", {}))
    assert set(data) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    assert data["version"] == __version__ and data["goVersion"].startswith("python3.")


@BOTH
async def test_metadata_of_every_family_with_prometheus_type_names(client, method):
    data = ok(await call(client, method, "/api/v1/metadata", {}))
    assert data == {
        "bookings_total": [{"type": "counter", "help": "Help for bookings_total.", "unit": ""}],
        "customer_satisfaction_score": [{"type": "unknown", "help": "Help for customer_satisfaction_score.",
                                         "unit": ""}],
        "http_request_duration_seconds": [{"type": "histogram", "help": "Help for http_request_duration_seconds.",
                                           "unit": "seconds"}],
        "http_requests_total": [{"type": "counter", "help": "Help for http_requests_total.", "unit": ""}],
        "node_load1": [{"type": "gauge", "help": "Help for node_load1.", "unit": ""}],
    }


@pytest.mark.parametrize("params,names", [
    ({"metric": "node_load1"}, ["node_load1"]),
    ({"metric": "nope"}, []),
    ({"limit": "2"}, ["bookings_total", "customer_satisfaction_score"]),
    ({"limit": "0"}, []),
    ({"limit": "-1"}, ["bookings_total", "customer_satisfaction_score", "http_request_duration_seconds",
                       "http_requests_total", "node_load1"]),
])
async def test_metadata_metric_and_limit(client, params, names):
    assert sorted(ok(await client.get("/api/v1/metadata", params=params))) == names


async def test_metadata_bad_limit(client):
    assert error(await client.get("/api/v1/metadata?limit=abc"), 400, "bad_data") == "limit must be a number"


# -- labels and label values --------------------------------------------------------------------


@BOTH
async def test_labels(client, method):
    assert ok(await call(client, method, "/api/v1/labels", {})) == [
        "__name__", "le", "method", "route", "service", "status"]
    assert ok(await call(client, method, "/api/v1/labels", {"match[]": ["node_load1", "bookings_total"]})) == [
        "__name__", "service", "status"]


@BOTH
async def test_labels_within_a_time_range(client, method):
    """The web service's series ends at 300s (stale marker); bookings_total starts at 450s."""
    early = ok(await call(client, method, "/api/v1/label/service/values", {"start": "0", "end": "400"}))
    late = ok(await call(client, method, "/api/v1/label/status/values", {"start": "301", "end": "2000"}))
    assert early == ["api", "web"]
    assert late == ["200", "500", "confirmed"]
    assert ok(await call(client, method, "/api/v1/labels", {"start": "900", "end": "2000"})) == []
    assert ok(await call(client, method, "/api/v1/labels", {"end": "300", "match[]": "bookings_total"})) == []


@BOTH
async def test_label_values(client, method):
    assert ok(await call(client, method, "/api/v1/label/__name__/values", {})) == ALL_NAMES
    assert ok(await call(client, method, "/api/v1/label/service/values",
                         {"match[]": 'http_requests_total{status="200"}'})) == ["api", "web"]
    assert ok(await call(client, method, "/api/v1/label/nope/values", {})) == []


@pytest.mark.parametrize("path", ["/api/v1/labels", "/api/v1/label/job/values"])
async def test_label_lookups_refuse_bad_selectors_and_times(client, path):
    text = error(await client.get(path, params={"match[]": "up{"}), 400, "bad_data")
    assert text == "1:4: parse error: unexpected end of input inside braces"
    text = error(await client.get(path, params={"match[]": "{}"}), 400, "bad_data")
    assert "at least one non-empty matcher" in text
    text = error(await client.get(path, params={"start": "abc"}), 400, "bad_data")
    assert text == ("""invalid parameter "start": Invalid time value for 'start': """
                    'cannot parse "abc" to a valid timestamp')


async def test_label_values_refuses_an_invalid_label_name(client):
    assert error(await client.get("/api/v1/label/1bad/values"), 400, "bad_data") == 'invalid label name: "1bad"'


# -- series -------------------------------------------------------------------------------------


@BOTH
async def test_series(client, method):
    data = ok(await call(client, method, "/api/v1/series",
                         {"match[]": ['http_requests_total{status=~"2.."}', "node_load1", "node_load1"]}))
    assert data == [
        {"__name__": "http_requests_total", "method": "GET", "route": "/", "service": "web", "status": "200"},
        {"__name__": "http_requests_total", "method": "GET", "route": "/book", "service": "api", "status": "200"},
        {"__name__": "node_load1"},
    ]


@BOTH
async def test_series_within_a_time_range(client, method):
    def names(data):
        return [(s["__name__"], s.get("service")) for s in data]

    params = {"match[]": ['{__name__=~"http_requests_total|bookings_total"}']}
    everything = [("bookings_total", "api"), ("http_requests_total", "web"), ("http_requests_total", "api"),
                  ("http_requests_total", "api")]  # sorted by label set: method="GET", route="/" first
    assert names(ok(await call(client, method, "/api/v1/series", params))) == everything
    assert names(ok(await call(client, method, "/api/v1/series", {**params, "start": "290", "end": "310"}))) == \
        everything[1:]
    assert names(ok(await call(client, method, "/api/v1/series",
                               {**params, "start": "1970-01-01T00:04:59Z", "end": "1970-01-01T00:07:30Z"}))) == \
        everything
    without_web = [everything[0]] + everything[2:]
    assert names(ok(await call(client, method, "/api/v1/series", {**params, "start": "301"}))) == without_web
    assert ok(await call(client, method, "/api/v1/series", {**params, "start": "586"})) == []


@BOTH
async def test_series_needs_a_match(client, method):
    assert error(await call(client, method, "/api/v1/series", {}), 400, "bad_data") == "no match[] parameter provided"


@pytest.mark.parametrize("match,problem", [
    ("up{", "1:4: parse error: unexpected end of input inside braces"),
    ("sum(up)", 'parse error: expected a series selector such as up{job="api"}, got "sum(up)"'),
    ("up[5m]", 'parse error: expected a series selector such as up{job="api"}, got "up[5m]"'),
    ("up offset 5m", 'parse error: expected a series selector such as up{job="api"}, got "up offset 5m"'),
    ('{job=""}', "parse error: vector selector must contain at least one non-empty matcher"),
])
async def test_series_refuses_what_is_not_a_series_selector(client, match, problem):
    text = error(await client.get("/api/v1/series", params={"match[]": match}), 400, "bad_data")
    assert text == f'invalid parameter "match[]": {problem}'


async def test_series_bad_time(client):
    text = error(await client.get("/api/v1/series", params={"match[]": "up", "end": "2023-02-30T00:00:00Z"}),
                 400, "bad_data")
    assert text == ("""invalid parameter "end": Invalid time value for 'end': """
                    'cannot parse "2023-02-30T00:00:00Z" to a valid timestamp')


async def test_form_body_wins_over_the_url_and_match_comes_from_both(client):
    r = await client.post("/api/v1/series?match[]=node_load1&start=abc", data={"match[]": "bookings_total",
                                                                              "start": "0"})
    assert [s["__name__"] for s in ok(r)] == ["bookings_total", "node_load1"]


# -- queries: errors Prometheus gives before evaluating -----------------------------------------


@pytest.mark.parametrize("params,text", [
    ({"query": "1", "time": "abc"},
     """invalid parameter "time": Invalid time value for 'time': cannot parse "abc" to a valid timestamp"""),
    ({"query": "1", "time": "2023-01-01T00:00:00"},
     """invalid parameter "time": Invalid time value for 'time': cannot parse "2023-01-01T00:00:00" to a valid """
     """timestamp"""),
    ({"query": "1", "timeout": "abc"}, 'invalid parameter "timeout": cannot parse "abc" to a valid duration'),
])
async def test_instant_query_bad_parameters(client, params, text):
    assert error(await client.get("/api/v1/query", params=params), 400, "bad_data") == text


ZERO_STEP = ('invalid parameter "step": zero or negative query resolution step widths are not accepted. '
             "Try a positive integer")


@pytest.mark.parametrize("params,text", [
    ({"query": "1"}, 'invalid parameter "start": cannot parse "" to a valid timestamp'),
    ({"query": "1", "start": "abc", "end": "1", "step": "1"},
     'invalid parameter "start": cannot parse "abc" to a valid timestamp'),
    ({"query": "1", "start": "0", "end": "NaN", "step": "1"},
     'invalid parameter "end": cannot parse "NaN" to a valid timestamp'),
    ({"query": "1", "start": "10", "end": "0", "step": "1"},
     'invalid parameter "end": end timestamp must not be before start time'),
    ({"query": "1", "start": "0", "end": "10"}, 'invalid parameter "step": cannot parse "" to a valid duration'),
    ({"query": "1", "start": "0", "end": "10", "step": "-15s"},
     'invalid parameter "step": cannot parse "-15s" to a valid duration'),
    ({"query": "1", "start": "0", "end": "10", "step": "1 m"},
     'invalid parameter "step": cannot parse "1 m" to a valid duration'),
    ({"query": "1", "start": "0", "end": "10", "step": "1e300"},
     'invalid parameter "step": cannot parse "1e300" to a valid duration. It overflows int64'),
    ({"query": "1", "start": "0", "end": "10", "step": "1e400"},  # ParseFloat's range error: not a float
     'invalid parameter "step": cannot parse "1e400" to a valid duration'),
    ({"query": "1", "start": "0", "end": "10", "step": "293y"},
     'invalid parameter "step": cannot parse "293y" to a valid duration'),
    ({"query": "1", "start": "0", "end": "10", "step": "0"}, ZERO_STEP),
    ({"query": "1", "start": "0", "end": "10", "step": "-15"}, ZERO_STEP),
    ({"query": "1", "start": "0", "end": "1", "step": "0.0005"}, ZERO_STEP),  # Prometheus: divide by zero
    ({"query": "1", "start": "0", "end": "10", "step": "0.0001"},
     "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"),
    ({"query": "1", "start": "0", "end": "11001", "step": "1s"},
     "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"),
    ({"query": "1", "start": "0", "end": "10", "step": "1", "timeout": "1x"},
     'invalid parameter "timeout": cannot parse "1x" to a valid duration'),
])
async def test_range_query_bad_parameters(client, params, text):
    assert error(await client.get("/api/v1/query_range", params=params), 400, "bad_data") == text


# -- queries: answers and evaluation errors (need the PromQL evaluator) --------------------------


@BOTH
async def test_instant_query_result_types(client, method):
    at = {"time": "300"}
    vector = ok(await call(client, method, "/api/v1/query", {"query": "node_load1", **at}))
    assert vector == {"resultType": "vector", "result": [{"metric": {"__name__": "node_load1"},
                                                          "value": [300, "0.5"]}]}
    assert ok(await call(client, method, "/api/v1/query", {"query": "1 + 1", **at})) == {
        "resultType": "scalar", "result": [300, "2"]}
    assert ok(await call(client, method, "/api/v1/query", {"query": '"hello"', **at})) == {
        "resultType": "string", "result": [300, "hello"]}
    matrix = ok(await call(client, method, "/api/v1/query", {"query": "node_load1[30s]", **at}))
    assert matrix == {"resultType": "matrix", "result": [{"metric": {"__name__": "node_load1"},
                                                          "values": [[285, "0.75"], [300, "0.5"]]}]}


async def test_instant_query_time_defaults_to_the_server_clock_and_accepts_rfc3339(server, client):
    server.engine.clock.set(301.5)
    assert ok(await client.get("/api/v1/query", params={"query": "time()"}))["result"] == [301.5, "301.5"]
    data = ok(await client.get("/api/v1/query", params={"query": "time()", "time": "1970-01-01T01:00:00.25+01:00"}))
    assert data["result"] == [0.25, "0.25"]


@BOTH
async def test_range_query_result(client, method):
    data = ok(await call(client, method, "/api/v1/query_range",
                         {"query": "node_load1 * 2", "start": "0", "end": "60", "step": "30s"}))
    assert data == {"resultType": "matrix", "result": [{"metric": {}, "values": [[0, "1"], [30, "4"], [60, "1"]]}]}


async def test_a_step_in_milliseconds_is_kept(client):
    params = {"query": "time()", "start": "0", "end": "3", "step": "1001ms"}
    data = ok(await client.get("/api/v1/query_range", params=params))
    assert [t for t, _ in data["result"][0]["values"]] == [0, 1.001, 2.002]  # what Prometheus answers


async def test_a_bad_expression_is_bad_data_with_the_parsers_message(client):
    text = error(await client.get("/api/v1/query", params={"query": "sum(rate(x[5m])"}), 400, "bad_data")
    assert text.startswith('invalid parameter "query": ') and "unclosed left parenthesis" in text
    text = error(await client.post("/api/v1/query", data={"query": "nope(x)"}), 400, "bad_data")
    assert "unknown function with name" in text
    assert error(await client.get("/api/v1/query"), 400, "bad_data").endswith("no expression found in input")
    params = {"query": "x{", "start": "0", "end": "60", "step": "15"}
    text = error(await client.get("/api/v1/query_range", params=params), 400, "bad_data")
    assert "unexpected end of input inside braces" in text and not text.startswith("invalid parameter")


OUT_OF_RANGE = ["up offset 293y", "max_over_time(up[1m:293y])", "up offset 3000000y", "up offset -10000000y",
                "rate(up[3000000y])", "max_over_time(up[10000000y:1m])", "max_over_time(up[1m:10000000y])",
                "max_over_time(up[1m:1m] offset -10000000y)"]


async def test_a_duration_out_of_range_is_a_parse_error_as_promtool_says(client, tmp_path):
    """Durations the parser accepts but a timedelta cannot hold were a 500 on every route that parses."""
    rules = tmp_path / "rules.yml"
    for expr in OUT_OF_RANGE:
        rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r", "expr": expr}]}]}))
        check = subprocess.run([promtool_path(), "check", "rules", str(rules)], capture_output=True, text=True,
                               timeout=60)
        assert "parse error: duration out of range" in check.stdout + check.stderr, expr
        text = error(await client.get("/api/v1/query", params={"query": expr}), 400, "bad_data")
        assert text.endswith("parse error: duration out of range"), text
    for path in ("/api/v1/series", "/api/v1/labels"):
        for match in ("up offset 293y", "up offset -10000000y"):
            text = error(await client.get(path, params={"match[]": match}), 400, "bad_data")
            assert text.endswith("parse error: duration out of range"), text


async def test_an_at_time_out_of_int64_is_a_parse_error_as_promtool_says(client, tmp_path):
    """A subquery at such a time was a 500 (its steps overflow an int64 array)."""
    expr = "max_over_time(up[1m:1m] @ 1e300)"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r", "expr": expr}]}]}))
    check = subprocess.run([promtool_path(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert "parse error: timestamp out of bounds for @ modifier" in check.stdout + check.stderr
    for path, params in (("/api/v1/query", {"query": expr}),
                         ("/api/v1/query_range", {"query": expr, "start": "0", "end": "60", "step": "15"})):
        text = error(await client.get(path, params=params), 400, "bad_data")
        assert "parse error: timestamp out of bounds for @ modifier" in text, text


async def test_a_range_query_needs_a_scalar_or_instant_vector(client):
    params = {"query": "node_load1[1m]", "start": "0", "end": "60", "step": "15"}
    text = error(await client.get("/api/v1/query_range", params=params), 400, "bad_data")
    assert text == 'invalid expression type "range vector" for range query, must be Scalar or instant Vector'


async def test_an_evaluation_error_is_422_execution(client):
    params = {"query": "http_requests_total + on(service) http_requests_total", "time": "100"}
    text = error(await client.get("/api/v1/query", params=params), 422, "execution")
    assert "many-to-many matching not allowed" in text


async def test_an_expired_timeout_is_503_timeout(client):
    params = {"query": "node_load1", "time": "100", "timeout": "0s"}
    text = error(await client.get("/api/v1/query", params=params), 503, "timeout")
    assert text == "query timed out in query execution"


async def test_the_sample_limit_is_422_execution(tmp_path):
    settings = make_settings(tmp_path, query_max_samples="20")
    running = await start_server(settings, clock=FixedClock(NOW_S), collect_system=False, start_schedules=False)
    try:
        ingest(running.engine.store)
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as c:
            params = {"query": "http_requests_total", "start": "0", "end": "600", "step": "15"}
            text = error(await c.get("/api/v1/query_range", params=params), 422, "execution")
            assert text == "query processing would load too many samples into memory in query execution"
            assert ok(await c.get("/api/v1/query", params={"query": "node_load1", "time": "100"}))["result"]
    finally:
        await running.stop()


# Evaluation times sit between samples (7s past a 15s step): Prometheus 2.x, the promtool we check
# against, closes range windows on the left ([t-r, t]) where 3.x and we leave them open.
INSTANT_CASES = [
    ("http_requests_total", 292),
    ("http_requests_total", 307),  # the web series is stale
    ('http_requests_total{status=~"2.."}', 607),
    ("sum by (service) (rate(http_requests_total[1m]))", 427),
    ('increase(http_requests_total{status="200"}[5m])', 487),  # across the counter reset at 375s
    ("histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[2m])))", 502),
    ("node_load1 > 1", 337),
    ("count(http_requests_total) by (status)", 202),
    ("scalar(sum(node_load1))", 52),
    ("bookings_total", 397),  # not there yet
    ("max_over_time(node_load1[1m]) - min_over_time(node_load1[1m])", 112),
]
RANGE_CASES = [
    ("rate(http_requests_total[1m])", 247, 427, 30),
    ("sum(bookings_total) or vector(0)", 427, 507, 20),
]


def expectations(data: dict) -> list[tuple[int, list[dict]]]:
    """A query answer as promtool exp_samples, per evaluation time."""
    if data["resultType"] == "scalar":
        t, v = data["result"]
        return [(t, [{"labels": "", "value": float(v)}])]
    if data["resultType"] == "vector":
        return [(None, [{"labels": selector(s["metric"]), "value": float(s["value"][1])} for s in data["result"]])]
    per_time: dict[float, list[dict]] = {}
    for s in data["result"]:
        for t, v in s["values"]:
            per_time.setdefault(t, []).append({"labels": selector(s["metric"]), "value": float(v)})
    return sorted(per_time.items())


async def test_query_answers_are_prometheus_answers(client, tmp_path):
    """Our answers become the expectations of a promtool test over the same input: promtool passes
    only if Prometheus's own engine computes exactly the same values and label sets."""
    promtool = promtool_path()
    tests, answered = [], 0
    for expr, t in INSTANT_CASES:
        data = ok(await client.get("/api/v1/query", params={"query": expr, "time": str(t)}))
        for _, samples in expectations(data):
            tests.append({"expr": expr, "eval_time": f"{t}s", "exp_samples": samples})
            answered += bool(samples)
    for expr, start, end, step in RANGE_CASES:
        params = {"query": expr, "start": str(start), "end": str(end), "step": str(step)}
        data = ok(await client.post("/api/v1/query_range", data=params))
        points = dict(expectations(data))
        for t in range(start, end + 1, step):  # a step without any point must be empty in Prometheus too
            samples = points.get(t, [])
            tests.append({"expr": expr, "eval_time": f"{t}s", "exp_samples": samples})
            answered += bool(samples)
    assert answered >= len(INSTANT_CASES) - 3  # most cases have something to compare
    input_series = [{"series": f"{name}{selector(labels)}", "values": promtool_values(values)}
                    for _, _, _, name, labels, values in SERIES]
    path = tmp_path / "api_answers_test.yml"
    path.write_text(yaml.safe_dump({
        "rule_files": [], "evaluation_interval": "1s",
        "tests": [{"interval": f"{STEP_S}s", "input_series": input_series, "promql_expr_test": tests}],
    }, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- routes that are not Prometheus's -----------------------------------------------------------


async def test_unknown_routes_and_methods_keep_our_error_envelope(client):
    r = await client.get("/api/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.put("/api/v1/query", params={"query": "1"})
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
