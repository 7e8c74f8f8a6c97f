"""Rendezvous hashing for work sharing: same answer everywhere, about 1/n each, only a leaver's keys move."""

from __future__ import annotations

from collections import Counter

from engine.cluster.work import assignments, check_key, owner, target_key

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
