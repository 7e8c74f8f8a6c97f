"""Remote write in: the real Prometheus forwarding its own metrics to us, and bad payloads refused."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess

import cramjam
import httpx
import pytest

from engine.ingest.remote_write import message_types
from tests.integration.test_ingest_push import exposition, query

PROTO = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
         "X-Prometheus-Remote-Write-Version": "0.1.0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def payload(*series: tuple[dict[str, str], list[tuple[int, float]]]) -> bytes:
    req = message_types()["WriteRequest"]()
    for labels, samples in series:
        ts = req.timeseries.add()
        for k, v in labels.items():
            lb = ts.labels.add()
            lb.name, lb.value = k, v
        for t, v in samples:
            s = ts.samples.add()
            s.timestamp, s.value = t, v
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


async def now_ms(client: httpx.AsyncClient) -> int:
    r = await client.get("/api/v1/query", params={"query": "time()"})
    return int(float(r.json()["data"]["result"][0]) * 1000)


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the prometheus binary (Debian prometheus)")
async def test_real_prometheus_remote_writes_its_own_metrics_to_us(server, client, tmp_path):
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
remote_write:
  - url: {server.url}/api/v1/write
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
""")
    proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             "--storage.remote.flush-deadline=1s"],  # its shutdown waits on this (1m by default)
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            up = await query(client, 'up{job="prometheus"} == 1')  # a first scrape may time out on a busy machine
            head = await query(client, 'prometheus_tsdb_head_series{job="prometheus"}')
            if up and head:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert asyncio.get_running_loop().time() < deadline, "no remote-written samples within 60 s"
            await asyncio.sleep(0.2)
        assert up == {f"instance=127.0.0.1:{port},job=prometheus": 1.0}, up
        text = await exposition(client)
        assert 'ingested_samples_total{source="remote_write"}' in text
        sent = await query(client, "prometheus_remote_storage_samples_failed_total")
        assert all(v == 0 for v in sent.values()), sent  # Prometheus saw no refusal from us
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never leave it running; the assertion above says what failed
            proc.kill()
            proc.wait()
        proc.stderr.close()


async def test_samples_are_stored_and_a_retry_is_not_an_error(client):
    t = await now_ms(client)
    body = payload(({"__name__": "rw_g", "job": "x"}, [(t - 2000, 1.0), (t - 1000, 2.0)]))
    r = await client.post("/api/v1/write", content=body, headers=PROTO)
    assert r.status_code == 204, r.text
    r = await client.post("/api/v1/write", content=body, headers=PROTO)
    assert r.status_code == 204  # a batch delivered twice (the sender timed out) is fine
    assert await query(client, "rw_g") == {"job=x": 2.0}


@pytest.mark.parametrize(("body", "code"), [
    (b"", "invalid_payload"),
    (b"\x05abc", "invalid_payload"),
    (bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff")), "invalid_payload"),
    (b"\xff\xff\xff\xff\x0f" + b"x" * 10, "invalid_payload"),  # announces 4 GiB decoded
])
async def test_undecodable_payloads_are_400(client, body, code):
    r = await client.post("/api/v1/write", content=body, headers=PROTO)
    assert r.status_code == 400 and r.json()["error"]["code"] == code


async def test_refused_series_are_400_and_the_others_stored(client):
    t = await now_ms(client)
    body = payload(({"__name__": "rw_ok"}, [(t, 1.0)]), ({"__name__": "rw_bad", "__x": "1"}, [(t, 1.0)]),
                   ({"__name__": "rw_future"}, [(t + 3600_000, 1.0)]), ({"job": "noname"}, [(t, 1.0)]))
    r = await client.post("/api/v1/write", content=body, headers=PROTO)
    assert r.status_code == 400
    details = r.json()["error"]["details"]
    assert details["accepted"] == 1
    assert [x["reason"] for x in details["refused"]] == ["reserved_label_name", "too_far_in_future",
                                                         "invalid_metric_name"]
    assert await query(client, "rw_ok") == {"": 1.0}
    r = await client.post("/api/v1/write", content=payload(({"__name__": "rw_ok"}, [(t - 60_000, 1.0)])), headers=PROTO)
    assert r.status_code == 400 and r.json()["error"]["code"] == "out_of_order"


async def test_content_type_and_size_are_checked(client):
    r = await client.post("/api/v1/write", content=b"x", headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    r = await client.post("/api/v1/write", content=b"\x00" * (9 << 20), headers=PROTO)
    assert r.status_code == 413
