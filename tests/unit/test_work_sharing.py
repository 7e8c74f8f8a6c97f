"""Work sharing: rendezvous hashing gives the same answer everywhere, about 1/n each, and moves only a
leaver's keys; relayed results arrive intact, and a frame that cannot be read is skipped."""

from __future__ import annotations

from collections import Counter

from engine.cluster.results import WorkResults
from engine.cluster.work import assignments, check_key, owner, target_key
from engine.health.checkers.base import Result

KEYS = [target_key("node", f"http://10.0.0.{i}:9100/metrics") for i in range(600)] + \
       [check_key(f"service-{i}") for i in range(600)]
MEMBERS = ["web-0-17", "web-1-23", "web-2-31"]


def test_the_owner_does_not_depend_on_the_members_order():
    assert assignments(KEYS, MEMBERS) == assignments(KEYS, list(reversed(MEMBERS)))


def test_each_member_gets_about_a_third():
    shares = Counter(assignments(KEYS, MEMBERS).values())
    assert set(shares) == set(MEMBERS)
    assert all(0.25 < n / len(KEYS) < 0.42 for n in shares.values()), shares


def test_only_the_keys_of_a_member_that_left_move():
    before = assignments(KEYS, MEMBERS)
    after = assignments(KEYS, MEMBERS[:2])
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == MEMBERS[2]}
    assert set(after.values()) == set(MEMBERS[:2])


def test_a_member_that_joins_takes_keys_only_for_itself():
    before = assignments(KEYS, MEMBERS)
    after = assignments(KEYS, [*MEMBERS, "web-3-41"])
    assert all(after[k] in (before[k], "web-3-41") for k in KEYS)
    assert 0.15 < Counter(after.values())["web-3-41"] / len(KEYS) < 0.35


def test_alone_a_member_owns_everything():
    assert {owner(k, ["solo"]) for k in KEYS} == {"solo"}


def test_a_relayed_scrape_keeps_its_body_and_a_bad_frame_is_skipped():
    checks: list[tuple] = []
    scrapes: list[tuple] = []
    other = WorkResults("redis://127.0.0.1:1/0", "b-2", lambda *a: checks.append(a), lambda *a: scrapes.append(a))
    me = WorkResults("redis://127.0.0.1:1/0", "a-1", lambda *a: checks.append(a), lambda *a: scrapes.append(a))
    body = b'# TYPE x gauge\nx{a="1\\n2"} 1\n\nx 2\n'
    other.scrape_result("target:job:http://h/metrics", 1700000000.5, 0.01, body, "text/plain", "")
    other.scrape_result("target:job:http://h/metrics", 1700000001.5, 0.02, None, "", "connection refused")
    other.check_result("db", Result(ok=False, duration=0.2, error="timed out", details={"n": 1}), 1700000002.0)
    frames = [other._queue.get_nowait() for _ in range(3)]
    for frame in [*frames, b"garbage", b"b-2\n{not json}\n", b"b-2\n{}\n"]:
        me.receive(frame)
    for frame in frames:
        other.receive(frame)  # its own: already recorded where it ran
    assert scrapes == [("target:job:http://h/metrics", 1700000000.5, 0.01, body, "text/plain", ""),
                       ("target:job:http://h/metrics", 1700000001.5, 0.02, None, "", "connection refused")]
    assert checks == [("db", Result(ok=False, duration=0.2, error="timed out", details={"n": 1}), 1700000002.0)]
