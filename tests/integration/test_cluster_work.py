"""Work sharing between replicas on a real redis-server: scrape targets and health checks divided by
rendezvous hashing, each run by exactly one replica (the recording server says which one called:
each replica's config sends its own name), re-divided after a SIGKILL; every replica stores every
target's samples and shows every check's results; each replica's host metrics carry its own
``instance``."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter, defaultdict

import httpx
import pytest
from aiohttp import web

from server.runner import start_server
from tests.integration.conftest import make_settings
from tests.integration.receivers import Recorder
from tests.integration.replicas import Replica, until
from tests.integration.test_cluster import agreed

TARGETS = 6
CHECKS = 6
NAMES = ("a", "b", "c")


class Exporter(Recorder):
    """Records every request; a target's path answers one sample naming it, a check's ``ok``."""

    async def _handle(self, request: web.Request) -> web.Response:
        await super()._handle(request)
        if request.path.startswith("/target/"):
            return web.Response(text=f'work_sample{{path="{request.path}"}} 1\n')
        return web.Response(text="ok")


@pytest.fixture
async def recorder():
    server = await Exporter().start()
    yield server
    await server.stop()


def work_env(name: str, url: str) -> dict[str, str]:
    """The same targets and checks on every replica; only the credentials name the caller."""
    address = url.removeprefix("http://")
    scrape = [{"job_name": f"job{i}", "scrape_interval": "1s", "metrics_path": f"/target/{i}",
               "bearer_token": name, "static_configs": [{"targets": [address]}]} for i in range(TARGETS)]
    checks = [{"name": f"check{i}", "type": "http", "url": f"{url}/check/{i}", "interval": "1s",
               "headers": {"X-Replica": name}} for i in range(CHECKS)]
    return {"SCRAPE_CONFIGS": json.dumps(scrape), "HEALTH_CHECKS": json.dumps(checks)}


def expected_keys(url: str) -> set[str]:
    return {f"target:job{i}:{url}/target/{i}" for i in range(TARGETS)} | {f"check:check{i}" for i in range(CHECKS)}


def path_of(key: str, url: str) -> str:
    """The recorder's path a key's target or check requests."""
    kind, rest = key.split(":", 1)
    return rest.split(url, 1)[1] if kind == "target" else f"/check/{rest.removeprefix('check')}"


def callers(recorder: Recorder, start: int) -> dict[str, list[str]]:
    """Who requested each path since request number ``start``."""
    seen: dict[str, list[str]] = defaultdict(list)
    for request in recorder.requests[start:]:
        who = request.headers.get("X-Replica") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        seen[request.path].append(who)
    return seen


async def divided(members: list[Replica], keys: set[str]) -> dict[str, str] | None:
    """The assignments, once every member lists exactly these members and acts on the same division
    of every key among them."""
    if await agreed(members) is None:
        return None
    views = [(await m.cluster())["assignments"] for m in members]
    ids = {m.id for m in members}
    if all(v == views[0] for v in views) and set(views[0]) == keys and set(views[0].values()) <= ids:
        return views[0]
    return None


async def each_ran_by_its_owner(recorder: Recorder, assignment: dict[str, str], names: dict[str, str],
                                url: str, runs: int) -> None:
    """From now on, until every target and check has been requested ``runs`` times: each request
    came from the key's owner only."""
    start = len(recorder.requests)
    paths = {path_of(key, url): names[owner] for key, owner in assignment.items()}

    async def enough() -> bool:
        seen = callers(recorder, start)
        return all(len(seen[p]) >= runs for p in paths)
    await until(enough, f"every target and check requested {runs} times")
    seen = callers(recorder, start)
    assert {p: set(seen[p]) for p in paths} == {p: {owner} for p, owner in paths.items()}


async def test_three_replicas_divide_the_work_and_redivide_it_after_a_sigkill(replicas, recorder):
    members = [replicas(name, **work_env(name, recorder.url)) for name in NAMES]
    keys = expected_keys(recorder.url)
    assignment = await until(lambda: divided(members, keys), "three replicas dividing the work")
    names = {m.id: name for m, name in zip(members, NAMES, strict=True)}
    assert len(set(assignment.values())) >= 2, "one replica took every key"
    await each_ran_by_its_owner(recorder, assignment, names, recorder.url, runs=3)

    killed = next(m for m in members if m.id in assignment.values())
    survivors = [m for m in members if m is not killed]
    killed.stop()  # SIGKILL: its heartbeat expires rather than being removed
    after = await until(lambda: divided(survivors, keys), "the survivors dividing the work again")
    assert set(after.values()) <= {m.id for m in survivors}
    assert {k: o for k, o in after.items() if assignment[k] != killed.id} == \
        {k: o for k, o in assignment.items() if o != killed.id}, "a survivor's key moved"
    await each_ran_by_its_owner(recorder, after, names, recorder.url, runs=2)


async def test_a_replica_that_joins_takes_keys_only_for_itself(replicas, recorder):
    keys = expected_keys(recorder.url)
    members = [replicas(name, **work_env(name, recorder.url)) for name in NAMES[:2]]
    before = await until(lambda: divided(members, keys), "two replicas dividing the work")
    members.append(replicas(NAMES[2], **work_env(NAMES[2], recorder.url)))
    after = await until(lambda: divided(members, keys), "three replicas dividing the work")
    newcomer = members[2].id
    assert all(after[k] in (before[k], newcomer) for k in keys), "a key moved between the first two"
    names = {m.id: name for m, name in zip(members, NAMES, strict=True)}
    await each_ran_by_its_owner(recorder, after, names, recorder.url, runs=2)


async def test_every_replica_stores_every_targets_samples_and_shows_every_checks_results(replicas, recorder):
    members = [replicas(name, **work_env(name, recorder.url)) for name in NAMES[:2]]
    assignment = await until(lambda: divided(members, expected_keys(recorder.url)), "two replicas dividing the work")
    checks = {f"check{i}" for i in range(CHECKS)}
    paths = {f"/target/{i}" for i in range(TARGETS)}

    async def all_checked(member: Replica) -> bool:
        services = (await member.get("/api/health/services"))["services"]
        return {s["name"] for s in services if s["state"] == "up" and s["lastCheck"]} == checks

    async def all_probed(member: Replica) -> bool:
        result = (await member.get("/api/v1/query?query=probe_success"))["data"]["result"]
        return {s["metric"]["service"] for s in result if s["value"][1] == "1"} == checks

    async def all_scraped(member: Replica) -> bool:
        samples = (await member.get("/api/v1/query?query=work_sample"))["data"]["result"]
        up = (await member.get("/api/v1/query?query=up"))["data"]["result"]
        return {s["metric"]["path"] for s in samples} == paths and \
            {s["metric"]["job"] for s in up if s["value"][1] == "1"} == {f"job{i}" for i in range(TARGETS)}

    for member in members:
        owned = {k for k, o in assignment.items() if o == member.id and k.startswith("check:")}
        assert len(owned) < CHECKS or member is members[0], "both replicas own every check"
        await until(lambda m=member: all_checked(m), f"{member.id} showing every check up")
        await until(lambda m=member: all_probed(m), f"{member.id} storing every check's probe_success")
        await until(lambda m=member: all_scraped(m), f"{member.id} storing every target's samples and up")
        dropped = (await member.get("/api/v1/query?query=cluster_work_results_dropped_total"))["data"]["result"]
        assert [s["value"][1] for s in dropped] == ["0"]


async def test_each_replica_labels_its_host_metrics_with_its_own_instance(replicas):
    members = [replicas(name) for name in NAMES[:2]]

    async def instances(member: Replica) -> set[str] | None:
        result = (await member.get("/api/v1/query?query=node_load1"))["data"]["result"]
        return {s["metric"].get("instance", "") for s in result} or None

    for member in members:
        assert await until(lambda m=member: instances(m), "host metrics") == {f"{socket.gethostname()}:{member.port}"}


async def test_alone_the_process_runs_every_target_and_check(tmp_path, recorder):
    running = await start_server(make_settings(tmp_path, **work_env("solo", recorder.url)))
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            view = (await client.get("/api/cluster")).json()
        assert view["assignments"] == dict.fromkeys(sorted(expected_keys(recorder.url)), view["self"])
        await each_ran_by_its_owner(recorder, view["assignments"], {view["self"]: "solo"}, recorder.url, runs=1)
    finally:
        await running.stop()


async def test_remote_write_sends_each_sample_once_from_the_replica_that_did_the_work(replicas, recorder):
    """Every replica stores every target's samples and every check's probe_success (relayed), but
    only the replica that scraped or probed sends them out: the receiver gets each sample once, not
    once per replica."""
    from engine.ingest.remote_write import Decoder
    from tests.integration.test_remote_write_out import remote

    receiver = await Recorder().start()
    try:
        members = [replicas(name, **work_env(name, recorder.url), REMOTE_WRITE=remote(f"{receiver.url}/write"))
                   for name in NAMES[:2]]

        async def both_working() -> bool:
            assignment = await divided(members, expected_keys(recorder.url))
            return assignment is not None and len(set(assignment.values())) == 2
        await until(both_working, "two replicas dividing the work between them")
        settled_ms = time.time() * 1000 + 2000  # a division change lasts up to a step (README, Work sharing)

        def sent() -> list[tuple[tuple[tuple[str, str], ...], int]]:
            """(labels, timestamp) of every work_sample and probe_success sample received since the work
            was divided, stale markers aside."""
            decoder, out = Decoder(), []
            for request in list(receiver.accepted):
                for labels, ts, vals in decoder.decode(request.body).series:
                    if dict(labels).get("__name__") in ("work_sample", "probe_success"):
                        out.extend((tuple(labels), t) for t, v in zip(ts, vals, strict=True)
                                   if v == v and t > settled_ms)
            return out

        async def three_of_each() -> bool:
            per_series = Counter(labels for labels, _ in sent())
            names = Counter(dict(labels)["__name__"] for labels in per_series if per_series[labels] >= 3)
            return names == {"work_sample": TARGETS, "probe_success": CHECKS}

        await until(three_of_each, "three samples of every target's and check's series at the receiver")
        twice = [key for key, n in Counter(sent()).items() if n > 1]
        assert twice == []
    finally:
        await receiver.stop()
