"""Remote write out: what our store appends reaches a real Prometheus (compared sample by sample), a
receiver outage across a restart of our server loses nothing, and refusals are counted, not retried."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess

import httpx
import pytest

from engine.ingest.remote_write import Decoder
from server.runner import start_server
from tests.integration.conftest import free_port, make_settings
from tests.integration.receivers import Recorder
from tests.integration.test_cli_process import Server
from tests.integration.test_ingest_push import exposition
from tests.integration.test_ingest_remote_write import PROTO, now_ms, payload


def remote(url: str, extra: str = "") -> str:
    return (f"[{{url: '{url}', name: out, queue_config: {{batch_send_deadline: 1s, min_backoff: 50ms, "
            f"max_backoff: 200ms, max_samples_per_send: 50}}{extra}}}]")


async def write_in(client: httpx.AsyncClient, name: str, samples: list[tuple[int, float]], **labels: str) -> None:
    r = await client.post("/api/v1/write", content=payload(({"__name__": name, **labels}, samples)), headers=PROTO)
    assert r.status_code == 204, r.text


async def range_samples(client: httpx.AsyncClient, expr: str, at: float | None = None,
                        ) -> dict[str, list[tuple[float, str]]]:
    r = await client.get("/api/v1/query", params={"query": expr, **({} if at is None else {"time": at})})
    assert r.status_code == 200, r.text
    return {",".join(f"{k}={v}" for k, v in sorted(s["metric"].items())): [(float(t), v) for t, v in s["values"]]
            for s in r.json()["data"]["result"]}


async def until(check, timeout: float = 60.0, what: str = ""):
    """Poll ``check`` (an awaitable factory) until it returns something truthy; the receivers here
    are other processes, so there is no event to wait on."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


@pytest.fixture
def prometheus(tmp_path):
    if shutil.which("prometheus") is None:
        pytest.skip("needs the prometheus binary (Debian prometheus)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1h}\n")
    proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'ptsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_a_real_prometheus_stores_what_we_stored(tmp_path, prometheus):
    relabel = (", write_relabel_configs: [{source_labels: [__name__], regex: 'rw_secret.*', action: drop}, "
               "{target_label: sender, replacement: ms}]")
    settings = make_settings(tmp_path, remote_write=remote(f"{prometheus}/api/v1/write", relabel))
    running = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=20) as ours, \
                httpx.AsyncClient(base_url=prometheus, timeout=20) as prom:
            await until(lambda: _ready(prom), what="prometheus to start")
            t = await now_ms(ours)
            samples = [(t - 60_000 + i * 1000, float(i * i)) for i in range(60)]
            await write_in(ours, "rw_probe", samples, job="probe")
            await write_in(ours, "rw_secret_token", samples[:5], job="probe")
            at = (t + 1) / 1000
            theirs = await until(lambda: _with_len(range_samples(prom, "rw_probe[5m]", at), 60),
                                 what="rw_probe in prometheus")
            mine = await range_samples(ours, "rw_probe[5m]", at)
            assert list(mine) == ["__name__=rw_probe,job=probe"]
            assert theirs == {"__name__=rw_probe,job=probe,sender=ms": mine["__name__=rw_probe,job=probe"]}
            # the host collector's samples go out too: the same samples up to the last one Prometheus has
            load = await until(lambda: _with_len(range_samples(prom, "node_load1[5m]"), 3),
                               what="node_load1 in prometheus")
            last = max(ts for ts, _ in next(iter(load.values())))
            mine_load = await range_samples(ours, "node_load1[5m]", last)
            theirs_load = await range_samples(prom, "node_load1[5m]", last)
            assert [v for v in theirs_load.values()] == [v for v in mine_load.values()]
            assert await range_samples(prom, "rw_secret_token[5m]", at) == {}
            text = await exposition(ours)
            assert 'prometheus_remote_storage_samples_dropped_total{reason="relabel",remote_name="out"' in text \
                or 'reason="relabel"' in text
            assert 'prometheus_remote_storage_samples_failed_total{remote_name="out"' in text
    finally:
        await running.stop()


async def _ready(prom: httpx.AsyncClient) -> bool:
    try:
        return (await prom.get("/-/ready")).status_code == 200
    except httpx.TransportError:
        return False


async def _with_len(result, n: int):
    got = await result
    return got if got and all(len(v) >= n for v in got.values()) else None


def received(recorder: Recorder, name: str) -> list[tuple[int, float]]:
    """Samples of series ``name`` in the requests the receiver accepted, in arrival order."""
    decoder = Decoder()
    out = []
    for req in recorder.accepted:
        import cramjam  # noqa: F401 (the decoder needs it; imported to fail clearly when missing)
        for labels, ts, vals in decoder.decode(req.body).series:
            if dict(labels).get("__name__") == name:
                out.extend(zip(ts, vals, strict=True))
    return out


async def test_an_outage_and_a_restart_lose_nothing(tmp_path):
    receiver = await Recorder(fail_first=10**9, fail_status=503).start()
    try:
        settings = make_settings(tmp_path, remote_write=remote(f"{receiver.url}/write"))
        running = await start_server(settings)
        try:
            async with httpx.AsyncClient(base_url=running.url, timeout=20) as ours:
                t = await now_ms(ours)
                first = [(t - 120_000 + i * 1000, float(i)) for i in range(60)]
                await write_in(ours, "rw_outage", first, job="o")
                await until(lambda: _count(receiver, 3), what="retries against the failing receiver")
                text = await exposition(ours)
                assert "prometheus_remote_storage_samples_retried_total" in text
        finally:
            await running.stop()
        assert receiver.accepted == []
        receiver.fail_first = 0  # the receiver is back
        running = await start_server(settings)
        try:
            async with httpx.AsyncClient(base_url=running.url, timeout=20) as ours:
                second = [(t - 60_000 + i * 1000, float(100 + i)) for i in range(60)]
                await write_in(ours, "rw_outage", second, job="o")
                expected = first + second
                got = await until(lambda: _samples(receiver, "rw_outage", len(expected)),
                                  what="every sample at the receiver")
        finally:
            await running.stop()
        assert sorted(got) == expected  # nothing lost, and no sample sent twice once accepted
        assert (tmp_path / "data" / "remote_write" / "out").is_dir()
    finally:
        await receiver.stop()


async def test_refused_batches_are_dropped_and_counted_not_retried(tmp_path):
    receiver = await Recorder(fail_first=10**9, fail_status=400).start()
    try:
        running = await start_server(make_settings(tmp_path, remote_write=remote(f"{receiver.url}/write")))
        try:
            async with httpx.AsyncClient(base_url=running.url, timeout=20) as ours:
                t = await now_ms(ours)
                await write_in(ours, "rw_refused", [(t - 1000, 1.0)], job="r")

                async def refused() -> float:
                    for line in (await exposition(ours)).splitlines():
                        if line.startswith('prometheus_remote_storage_samples_dropped_total{reason="rejected"'):
                            return float(line.rsplit(" ", 1)[1])
                    return 0.0
                await until(refused, what="a counted refusal")
                text = await exposition(ours)
                retried = [ln for ln in text.splitlines()
                           if ln.startswith("prometheus_remote_storage_samples_retried_total")]
                assert retried and all(float(ln.rsplit(" ", 1)[1]) == 0 for ln in retried), retried
        finally:
            await running.stop()
    finally:
        await receiver.stop()


async def _count(recorder: Recorder, n: int) -> bool:
    return len(recorder.requests) >= n


async def _samples(recorder: Recorder, name: str, n: int):
    got = received(recorder, name)
    return got if len(got) >= n else None


async def test_a_sigkill_during_the_outage_loses_nothing(tmp_path):
    receiver = await Recorder(fail_first=10**9, fail_status=503).start()
    env = {"REMOTE_WRITE": remote(f"{receiver.url}/write"), "RATE_LIMIT_INGEST": "off"}
    try:
        first = await asyncio.to_thread(Server, tmp_path / "d", free_port(), **env)
        try:
            async with httpx.AsyncClient(base_url=first.url, timeout=20) as ours:
                t = await now_ms(ours)
                samples = [(t - 60_000 + i * 1000, float(i)) for i in range(60)]
                await write_in(ours, "rw_kill", samples, job="k")
                after = await now_ms(ours)

                async def queued() -> bool:
                    """A sample appended after the write was fed to the queue, so the write's were too
                    (samples go to the queue's log in append order, a collection's after it)."""
                    for line in (await exposition(ours)).splitlines():
                        if line.startswith("prometheus_remote_storage_highest_timestamp_in_seconds{"):
                            return float(line.rsplit(" ", 1)[1]) * 1000 > after
                    return False
                await until(queued, what="the samples in the queue")
        finally:
            first.proc.kill()  # no shutdown: the queue's log on disk is all there is
            await asyncio.to_thread(first.proc.communicate, timeout=30)
        receiver.fail_first = 0
        second = await asyncio.to_thread(Server, tmp_path / "d", free_port(), **env)
        try:
            got = await until(lambda: _samples(receiver, "rw_kill", len(samples)), what="every sample after the kill")
        finally:
            second.stop(signal.SIGTERM)
        assert sorted(got) == samples
    finally:
        await receiver.stop()
