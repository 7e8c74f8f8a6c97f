"""The JSON push API on a real server: client-library semantics, refusals, batches, limits, restarts."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest

from server.runner import start_server
from tests.integration.conftest import make_settings


async def query(client: httpx.AsyncClient, expr: str) -> dict[str, float]:
    """Instant query: {labels-without-name as text: value}."""
    r = await client.get("/api/v1/query", params={"query": expr})
    assert r.status_code == 200, r.text
    out = {}
    for item in r.json()["data"]["result"]:
        labels = ",".join(f"{k}={v}" for k, v in sorted(item["metric"].items()) if k != "__name__")
        out[labels] = float(item["value"][1])
    return out


async def exposition(client: httpx.AsyncClient) -> str:
    r = await client.get("/metrics")
    assert r.status_code == 200
    return r.text


def counter_value(text: str, line_prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_seed_curl_example_works_as_written(client):
    # the seed README's example, byte for byte
    body = '''{
    "name": "custom_counter",
    "type": "counter",
    "value": 1,
    "labels": {"service": "booking", "endpoint": "/api/bookings"}
  }'''
    for _ in range(3):
        r = await client.post("/api/metrics/custom", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
    assert await query(client, "custom_counter") == {"endpoint=/api/bookings,service=booking": 3.0}
    text = await exposition(client)
    assert 'custom_counter{endpoint="/api/bookings",service="booking"} 3' in text
    assert "# TYPE custom_counter counter" in text


async def test_gauge_sets_and_histogram_and_summary_observe(client):
    for v in (5, 2):
        assert (await client.post("/api/metrics/custom", json={"name": "queue_depth", "type": "gauge",
                                                                "value": v})).status_code == 200
    for v in (0.3, 0.7, 3):
        r = await client.post("/api/metrics/custom", json={"name": "job_seconds", "type": "histogram", "value": v,
                                                           "buckets": [0.5, 1, 5], "help": "Job time."})
        assert r.status_code == 200, r.text
    r = await client.post("/api/metrics/custom", json={"name": "job_seconds", "type": "histogram", "value": 2})
    assert r.status_code == 200  # buckets were declared on first use
    for v in range(1, 101):
        await client.post("/api/metrics/custom", json={"name": "rt", "type": "summary", "value": v})
    assert await query(client, "queue_depth") == {"": 2.0}
    assert await query(client, "job_seconds_bucket") == {"le=0.5": 1, "le=1.0": 2, "le=5.0": 4, "le=+Inf": 4}
    assert await query(client, "job_seconds_sum") == {"": 6.0}
    assert await query(client, "rt") == {"quantile=0.5": 50, "quantile=0.9": 90, "quantile=0.99": 99}
    assert await query(client, "rt_count") == {"": 100}
    r = await client.post("/api/metrics/custom", json={"name": "job_seconds", "type": "histogram", "value": 2,
                                                       "buckets": [1, 2]})
    assert r.status_code == 409 and r.json()["error"]["details"]["field"] == "buckets"


@pytest.mark.parametrize(("item", "status", "code", "field"), [
    ({"name": "x", "type": "counter", "value": -1}, 400, "invalid_value", "value"),
    ({"name": "x", "type": "counter", "value": "1"}, 400, "invalid_value", "value"),
    ({"name": "x", "type": "counter", "value": True}, 400, "invalid_value", "value"),
    ({"name": "x", "type": "meter", "value": 1}, 400, "invalid_type", "type"),
    ({"name": "1x", "type": "gauge", "value": 1}, 400, "invalid_metric_name", "name"),
    ({"name": "__x", "type": "gauge", "value": 1}, 400, "reserved_name", "name"),
    ({"name": "x", "type": "gauge", "value": 1, "labels": {"a-b": "1"}}, 400, "invalid_label_name", "labels.a-b"),
    ({"name": "x", "type": "gauge", "value": 1, "labels": {"__a": "1"}}, 400, "reserved_label_name", "labels.__a"),
    ({"name": "x", "type": "gauge", "value": 1, "labels": {"a": 1}}, 400, "invalid_label_value", "labels.a"),
    ({"name": "x", "type": "gauge", "value": 1, "labels": {f"l{i}": "v" for i in range(31)}}, 400,
     "too_many_labels", "labels"),
    ({"name": "x", "type": "gauge", "value": 1, "labels": {"a": "v" * 3000}}, 400, "label_value_too_long", "labels.a"),
    ({"name": "x", "type": "histogram", "value": 1, "labels": {"le": "1"}}, 400, "reserved_label_name", "labels.le"),
    ({"name": "x", "type": "gauge", "value": 1, "colour": "red"}, 400, "unknown_field", "colour"),
    ({"name": "x", "type": "gauge", "value": 1, "timestamp": "yesterday"}, 400, "invalid_timestamp", "timestamp"),
    ({"name": "x", "type": "gauge", "value": 1, "buckets": [1]}, 400, "invalid_field", "buckets"),
    ({"name": "x", "type": "histogram", "value": 1, "buckets": ["a"]}, 400, "invalid_field", "buckets"),
    ({"name": "x", "type": "summary", "value": 1, "quantiles": [1.5]}, 400, "invalid_field", "quantiles"),
])
async def test_bad_items_are_refused_naming_the_field(client, item, status, code, field):
    r = await client.post("/api/metrics/custom", json=item)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert (error["code"], error["details"]["field"]) == (code, field)
    assert await query(client, "x") == {}


async def test_nan_only_where_prometheus_client_takes_it(client):
    for type_ in ("counter", "histogram", "summary"):
        body = f'{{"name": "n_{type_}", "type": "{type_}", "value": NaN}}'
        r = await client.post("/api/metrics/custom", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_value", type_
    r = await client.post("/api/metrics/custom", content='{"name": "n_gauge", "type": "gauge", "value": NaN}',
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    assert "n_gauge NaN" in await exposition(client)


async def test_type_change_refused_and_the_first_type_kept(client):
    r = await client.post("/api/metrics/custom", json={"name": "temp", "type": "gauge", "value": 3})
    assert r.status_code == 200
    r = await client.post("/api/metrics/custom", json={"name": "temp", "type": "counter", "value": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "type_conflict"
    r = await client.post("/api/metrics/custom", json={"name": "node_load1", "type": "counter", "value": 1})
    assert r.status_code == 409  # a system metric's type is not changed by a push either
    assert await query(client, "temp") == {"": 3.0}


async def test_business_endpoint_takes_the_business_names_only(client):
    r = await client.post("/api/metrics/business", json={"name": "bookings_total", "value": 1,
                                                         "labels": {"service": "booking", "status": "created"}})
    assert r.status_code == 200, r.text
    r = await client.post("/api/metrics/business", json={"name": "customer_satisfaction_score", "value": 4})
    assert r.status_code == 200
    assert await query(client, "customer_satisfaction_score_bucket") == {
        "le=1.0": 0, "le=2.0": 0, "le=3.0": 0, "le=4.0": 1, "le=5.0": 1, "le=+Inf": 1}
    r = await client.post("/api/metrics/business", json={"name": "booking_total", "value": 1})
    assert r.status_code == 400 and r.json()["error"]["code"] == "not_business_metric"
    r = await client.post("/api/metrics/business", json={"name": "active_users", "type": "counter", "value": 1})
    assert r.status_code == 409
    text = await exposition(client)
    assert counter_value(text, 'ingested_samples_total{source="business"}') > 0
    assert counter_value(text, 'rejected_samples_total{reason="not_business_metric",source="business"}') == 1


async def test_a_series_pushed_through_both_endpoints_has_one_state(client):
    labels = {"service": "booking", "status": "created"}
    await client.post("/api/metrics/custom", json={"name": "bookings_total", "type": "counter", "value": 1,
                                                   "labels": labels})
    await client.post("/api/metrics/business", json={"name": "bookings_total", "value": 2, "labels": labels})
    await client.post("/api/metrics/batch", json={"metrics": [{"name": "bookings_total", "type": "counter",
                                                               "value": 4, "labels": labels}]})
    assert await query(client, "bookings_total") == {"service=booking,status=created": 7.0}


async def test_batch_applies_the_valid_items_and_lists_the_others(client):
    items = [{"name": "b_total", "type": "counter", "value": 1, "labels": {"i": str(i % 3)}} for i in range(9)]
    items[4] = {"name": "b_total", "type": "counter", "value": -5}
    items[6] = {"name": "b_total", "type": "gauge", "value": 1}
    items.append("not an object")
    r = await client.post("/api/metrics/batch", json={"metrics": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 7
    assert [(x["index"], x["reason"], x["field"]) for x in body["rejected"]] == [
        (4, "invalid_value", "value"), (6, "type_conflict", "type"), (9, "invalid_item", "")]
    assert await query(client, "b_total") == {"i=0": 2.0, "i=1": 2.0, "i=2": 3.0}


async def test_a_known_series_still_gets_every_value_check(client):
    first = [{"name": "k_total", "type": "counter", "value": 1, "labels": {"a": "1"}},
             {"name": "k_g", "type": "gauge", "value": 1}]
    assert (await client.post("/api/metrics/batch", json={"metrics": first})).json()["accepted"] == 2
    again = [{"name": "k_total", "type": "counter", "value": v, "labels": {"a": "1"}} for v in (-1, "1", True, 2)]
    again.append({"name": "k_g", "type": "gauge", "value": -4.5})
    body = (await client.post("/api/metrics/batch", json={"metrics": again})).json()
    assert body["accepted"] == 2
    assert [(x["index"], x["reason"]) for x in body["rejected"]] == [(0, "invalid_value"), (1, "invalid_value"),
                                                                     (2, "invalid_value")]
    assert await query(client, "k_total") == {"a=1": 3.0}
    assert await query(client, "k_g") == {"": -4.5}


async def test_a_batch_of_plain_items_is_checked_like_any_other(client):
    # every item has the plain shape (decoded in one typed pass), yet each is checked
    items = [{"name": "p_total", "type": "counter", "value": 2, "labels": {"a": "1"}},
             {"name": "p_total", "type": "counter", "value": -2, "labels": {"a": "1"}},
             {"name": "p_total", "type": "counter", "value": 1, "labels": {"b-c": "1"}},
             {"name": "p_total", "type": "gauge", "value": 1, "labels": {"a": "2"}}]
    for _ in range(2):  # the second time the series is known
        body = (await client.post("/api/metrics/batch", json={"metrics": items})).json()
        assert [(x["index"], x["reason"]) for x in body["rejected"]] == [
            (1, "invalid_value"), (2, "invalid_label_name"), (3, "type_conflict")]
    assert await query(client, "p_total") == {"a=1": 4.0}


async def test_atomic_batch_applies_nothing_when_one_item_is_bad(client):
    items = [{"name": "a_total", "type": "counter", "value": 1}, {"name": "a_total", "type": "counter", "value": "x"}]
    r = await client.post("/api/metrics/batch", params={"atomic": "true"}, json={"metrics": items})
    assert r.status_code == 400
    details = r.json()["error"]["details"]
    assert details["accepted"] == 0 and details["rejected"][0]["index"] == 1
    assert await query(client, "a_total") == {}
    r = await client.post("/api/metrics/batch", params={"atomic": "true"}, json={"metrics": items[:1]})
    assert r.status_code == 200 and await query(client, "a_total") == {"": 1.0}
    r = await client.post("/api/metrics/batch", params={"atomic": "maybe"}, json={"metrics": items[:1]})
    assert r.status_code == 400 and r.json()["error"]["details"]["parameter"] == "atomic"


async def test_batch_size_limits(client):
    items = [{"name": "g", "type": "gauge", "value": i, "labels": {"i": str(i)}} for i in range(10_001)]
    r = await client.post("/api/metrics/batch", json={"metrics": items})
    assert r.status_code == 413 and r.json()["error"]["details"]["field"] == "metrics"
    r = await client.post("/api/metrics/batch", json={"metrics": items[:10_000]})
    assert r.status_code == 200 and r.json()["accepted"] == 10_000  # over 1 MiB: the route's own limit
    huge = json.dumps({"metrics": [{"name": "g", "type": "gauge", "value": 1, "help": "h" * 4000}] * 2500})
    r = await client.post("/api/metrics/batch", content=huge, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = await client.post("/api/metrics/custom", content=huge, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = await client.post("/api/metrics/batch", content="g 1", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


async def test_series_limits_refuse_new_series_and_keep_existing(tmp_path):
    running = await start_server(make_settings(tmp_path, max_series_per_metric=2), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            items = [{"name": "per", "type": "gauge", "value": i, "labels": {"i": str(i)}} for i in range(3)]
            r = await client.post("/api/metrics/batch", json={"metrics": items})
            assert [x["reason"] for x in r.json()["rejected"]] == ["metric_series_limit"]
            r = await client.post("/api/metrics/custom", json={"name": "per", "type": "gauge", "value": 9,
                                                               "labels": {"i": "0"}})
            assert r.status_code == 200
            assert await query(client, "per") == {"i=0": 9.0, "i=1": 1.0}
    finally:
        await running.stop()


async def test_timestamps_are_kept_and_order_enforced(client):
    now = (await client.get("/api/v1/query", params={"query": "time()"})).json()["data"]["result"][0]
    t = float(now) - 60
    r = await client.post("/api/metrics/custom", json={"name": "ts_g", "type": "gauge", "value": 1, "timestamp": t})
    assert r.status_code == 200
    r = await client.post("/api/metrics/custom", json={"name": "ts_g", "type": "gauge", "value": 2,
                                                       "timestamp": t - 10})
    assert r.status_code == 400 and r.json()["error"]["code"] == "out_of_order"
    r = await client.post("/api/metrics/custom", json={"name": "ts_g", "type": "gauge", "value": 2,
                                                       "timestamp": t + 7200})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "timestamp"
    r = await client.get("/api/v1/query", params={"query": "timestamp(ts_g)", "time": t + 1})
    assert float(r.json()["data"]["result"][0]["value"][1]) == pytest.approx(t, abs=0.001)


async def test_pushed_state_survives_a_restart(tmp_path):
    settings = make_settings(tmp_path)
    running = await start_server(settings, collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            for _ in range(2):
                await client.post("/api/metrics/custom", json={"name": "kept_total", "type": "counter", "value": 2})
            await client.post("/api/metrics/custom", json={"name": "h", "type": "histogram", "value": 0.3,
                                                           "buckets": [0.5]})
    finally:
        await running.stop()
    running = await start_server(settings, collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            r = await client.post("/api/metrics/custom", json={"name": "kept_total", "type": "counter", "value": 1})
            assert r.status_code == 200
            await client.post("/api/metrics/custom", json={"name": "h", "type": "histogram", "value": 0.7})
            assert await query(client, "kept_total") == {"": 5.0}
            assert await query(client, "h_bucket") == {"le=0.5": 1.0, "le=+Inf": 2.0}
    finally:
        await running.stop()


async def test_pushed_series_stay_current_between_pushes(client):
    await client.post("/api/metrics/custom", json={"name": "once", "type": "gauge", "value": 7})
    r = await client.get("/api/v1/query", params={"query": "timestamp(once)"})
    first = float(r.json()["data"]["result"][0]["value"][1])
    deadline = asyncio.get_running_loop().time() + 10
    while True:  # each collection cycle re-exposes pushed series, as a scrape of a Pushgateway would
        r = await client.get("/api/v1/query", params={"query": "timestamp(once)"})
        if float(r.json()["data"]["result"][0]["value"][1]) > first:
            break
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert not math.isnan(float(r.json()["data"]["result"][0]["value"][1]))
