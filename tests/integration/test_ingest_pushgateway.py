"""Pushgateway-compatible paths on a real server, driven by prometheus_client's own push functions."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import urllib.error

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import delete_from_gateway, push_to_gateway, pushadd_to_gateway

from server.runner import start_server
from tests.integration.conftest import make_settings
from tests.integration.test_ingest_push import exposition, query
from tests.integration.test_ingest_remote_write import free_port


def gateway(server) -> str:
    return server.url.removeprefix("http://")


def registry_with(**gauges: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    for name, value in gauges.items():
        Gauge(name, f"{name} help", registry=registry).set(value)
    return registry


async def test_push_pushadd_delete_with_the_real_client(server, client):
    registry = CollectorRegistry()
    Gauge("batch_last_success", "Last success.", registry=registry).set(1234)
    Counter("batch_records", "Records.", ["kind"], registry=registry).labels("a").inc(7)
    Histogram("batch_seconds", "Duration.", buckets=(1, 5), registry=registry).observe(3)
    await asyncio.to_thread(push_to_gateway, gateway(server), job="nightly", registry=registry,
                            grouping_key={"instance": "db 1", "path": "/var/x"})
    key = "instance=db 1,job=nightly,path=/var/x"
    assert await query(client, "batch_last_success") == {key: 1234.0}
    assert await query(client, "batch_records_total") == {"instance=db 1,job=nightly,kind=a,path=/var/x": 7.0}
    bucket = "instance=db 1,job=nightly,le=5.0,path=/var/x"
    assert await query(client, 'batch_seconds_bucket{le="5.0"}') == {bucket: 1.0}
    assert list(await query(client, "push_time_seconds")) == [key]
    assert await query(client, "push_failure_time_seconds") == {key: 0.0}
    text = await exposition(client)
    assert "# TYPE batch_records_total counter" in text and "# TYPE batch_seconds histogram" in text

    # pushadd (POST) replaces only the families it sends; push (PUT) replaces the group
    await asyncio.to_thread(pushadd_to_gateway, gateway(server), job="nightly", registry=registry_with(extra=1),
                            grouping_key={"instance": "db 1", "path": "/var/x"})
    assert await query(client, "batch_last_success") == {key: 1234.0}
    assert await query(client, "extra") == {key: 1.0}
    await asyncio.to_thread(push_to_gateway, gateway(server), job="nightly", registry=registry_with(only=2),
                            grouping_key={"instance": "db 1", "path": "/var/x"})
    assert await query(client, "batch_last_success") == {}  # a stale marker ends it at once
    assert await query(client, "only") == {key: 2.0}

    await asyncio.to_thread(delete_from_gateway, gateway(server), job="nightly",
                            grouping_key={"instance": "db 1", "path": "/var/x"})
    assert await query(client, "only") == {}
    assert await query(client, "push_time_seconds") == {}


async def test_groups_are_separate_and_grouping_labels_win(server, client):
    await asyncio.to_thread(push_to_gateway, gateway(server), job="a", registry=registry_with(jobs_done=1))
    await asyncio.to_thread(push_to_gateway, gateway(server), job="b", registry=registry_with(jobs_done=2))
    body = '# TYPE jobs_done gauge\njobs_done{job="other",x="1"} 3\n'
    r = await client.put("/metrics/job/c", content=body, headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    assert await query(client, "jobs_done") == {"job=a": 1.0, "job=b": 2.0, "job=c,x=1": 3.0}
    await asyncio.to_thread(delete_from_gateway, gateway(server), job="a")
    assert await query(client, "jobs_done") == {"job=b": 2.0, "job=c,x=1": 3.0}
    r = await client.delete("/metrics/job/never-pushed")
    assert r.status_code == 202


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/metrics/job/j/odd", "x 1\n", "path"),
    ("/metrics/job/j/__x/1", "x 1\n", "path.__x"),
    ("/metrics/job/j/a-b/1", "x 1\n", "path.a-b"),
    ("/metrics/job@base64/%%%", "x 1\n", "path"),
    ("/metrics/job/j", "x{ 1\n", "body"),
    ("/metrics/job/j", "x 1 1234\n", "body"),
    ("/metrics/job/j", 'x{a="1"} 1\nx{a="1"} 2\n', "body"),
    ("/metrics/job/j", b'x{a="\xff"} 1\n', "body"),
])
async def test_bad_pushes_are_400_naming_the_field(client, path, body, field):
    r = await client.put(path, content=body, headers={"Content-Type": "text/plain"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == field


async def test_a_type_change_refuses_the_push_and_records_the_failure(server, client):
    await asyncio.to_thread(push_to_gateway, gateway(server), job="t", registry=_counter_registry("hits"))
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(push_to_gateway, gateway(server), job="u", registry=registry_with(hits_total=5))
    assert refused.value.code == 409
    r = await client.put("/metrics/job/t", content="# TYPE hits_total gauge\nhits_total 1\n",
                         headers={"Content-Type": "text/plain"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "type_conflict"
    assert list(await query(client, "push_failure_time_seconds > 0")) == ["job=t", "job=u"]
    assert await query(client, "hits_total") == {"job=t": 1.0}  # what was accepted is kept


def _counter_registry(name: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter(name, "c", registry=registry).inc()
    return registry


async def test_text_pushes_need_text_content_type_and_bounded_bodies(client):
    r = await client.put("/metrics/job/j", content="x 1\n", headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    r = await client.put("/metrics/job/j", content="x 1\n" * (2 << 20), headers={"Content-Type": "text/plain"})
    assert r.status_code == 413


async def test_groups_survive_a_restart(tmp_path):
    settings = make_settings(tmp_path)
    running = await start_server(settings, collect_system=False)
    try:
        await asyncio.to_thread(push_to_gateway, gateway(running), job="kept", registry=registry_with(saved=3))
    finally:
        await running.stop()
    running = await start_server(settings, collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            assert await query(client, "saved") == {"job=kept": 3.0}
            await asyncio.to_thread(pushadd_to_gateway, gateway(running), job="kept", registry=registry_with(more=1))
            assert await query(client, "saved") == {"job=kept": 3.0}
            assert await query(client, "more") == {"job=kept": 1.0}
    finally:
        await running.stop()


async def test_failed_pushes_cannot_create_groups_past_the_series_limit(tmp_path):
    running = await start_server(make_settings(tmp_path, max_series_per_metric=2), collect_system=False)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            for job in ("a", "b", "c", "d"):
                r = await client.put(f"/metrics/job/{job}", content="x{ 1\n", headers={"Content-Type": "text/plain"})
                assert r.status_code == 400
            assert sorted(await query(client, "push_failure_time_seconds")) == ["job=a", "job=b"]
            r = await client.put("/metrics/job/e", content="x 1\n", headers={"Content-Type": "text/plain"})
            assert r.status_code == 400 and r.json()["error"]["code"] == "metric_series_limit"
            assert sorted(await query(client, "push_time_seconds")) == ["job=a", "job=b"]
    finally:
        await running.stop()


PROTOBUF_ACCEPT = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
SAME_SHAPE = 'go_gc_duration_seconds|prometheus_build_info|prometheus_tsdb_compaction_chunk_range_seconds_bucket'


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the prometheus binary (Debian prometheus)")
async def test_protobuf_pushes_read_like_their_text_form(client, tmp_path):
    # the real Prometheus serves its own metrics in both formats (Go's client library encodes them)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {}\n")
    proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as prom:
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                try:
                    proto = await prom.get("/metrics", headers={"Accept": PROTOBUF_ACCEPT})
                    break
                except httpx.TransportError:
                    assert asyncio.get_running_loop().time() < deadline and proc.poll() is None
                    await asyncio.sleep(0.1)
            text = await prom.get("/metrics")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proto.headers["Content-Type"].startswith("application/vnd.google.protobuf")
    r = await client.put("/metrics/job/proto", content=proto.content,
                         headers={"Content-Type": proto.headers["Content-Type"]})
    assert r.status_code == 200, r.text
    r = await client.put("/metrics/job/text", content=text.content, headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text

    async def shape(job: str) -> set[str]:
        got = await query(client, f'{{job="{job}", __name__=~"{SAME_SHAPE}"}}')
        return {labels.replace(f"job={job}", "") for labels in got}

    from_proto = await shape("proto")
    assert len(from_proto) > 15 and any("quantile=0.25" in s for s in from_proto)  # Go's float format
    assert from_proto == await shape("text")
    assert await query(client, 'prometheus_build_info{job="proto"}') != {}
    r = await client.put("/metrics/job/proto", content=b"\x10\x0a\x03abc",  # longer than the body
                         headers={"Content-Type": proto.headers["Content-Type"]})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "body"
