"""The event bus: bounded per-subscriber queues that coalesce by topic."""

from __future__ import annotations

import json

from engine.events import EventBus


async def test_subscriber_gets_only_its_topics_in_order():
    bus = EventBus()
    sub = bus.subscribe(["system"])
    bus.publish("system", 1.0, {"n": 1})
    bus.publish("alerts", 2.0, {"n": 2})
    bus.publish("system", 3.0, {"n": 3})
    assert [(await sub.get()).data["n"] for _ in range(2)] == [1, 3]
    assert sub.pending() == 0


async def test_full_queue_keeps_the_newest_state_per_topic():
    bus = EventBus(maxsize=3)
    sub = bus.subscribe(["system", "metrics"])
    bus.publish("metrics", 0.0, "m0")
    for i in range(10):
        bus.publish("system", float(i), f"s{i}")
    assert sub.pending() <= 3
    got = [(await sub.get()).data for _ in range(sub.pending())]
    assert got[-1] == "s9" and "m0" in got  # the other topic's state was not pushed out
    assert sub.dropped > 0


async def test_a_paced_stream_counts_the_updates_it_skips():
    bus = EventBus()
    sub = bus.subscribe(["system", "alerts"])
    for i in range(4):
        bus.publish("system", float(i), i)
    bus.publish("alerts", 9.0, "a")
    first = await sub.get()
    assert sub.newest(first).data == 3 and sub.dropped == 3  # updates 0, 1 and 2 are never sent
    assert (await sub.get()).data == "a" and sub.pending() == 0


async def test_full_queue_of_other_topics_drops_the_oldest():
    bus = EventBus(maxsize=2)
    sub = bus.subscribe(["a", "b", "c"])
    for topic in ("a", "b", "c"):
        bus.publish(topic, 0.0, topic)
    assert [(await sub.get()).topic for _ in range(2)] == ["b", "c"]


def test_publish_encodes_once_for_all_subscribers():
    bus = EventBus()
    subs = [bus.subscribe(["system"]) for _ in range(3)]
    bus.publish("system", 5.0, {"cpu": 1})
    events = [s._queue[0] for s in subs]
    assert all(e is events[0] for e in events)
    assert json.loads(events[0].encoded()) == {"type": "update", "topic": "system", "ts": 5.0, "data": {"cpu": 1}}
    assert events[0].encoded() is events[0].encoded()


def test_closed_subscription_receives_nothing_and_wants_tracks_topics():
    bus = EventBus()
    sub = bus.subscribe(["system"])
    assert bus.wants("system") and not bus.wants("alerts")
    sub.close()
    assert not bus.wants("system")
    bus.publish("system", 1.0, None)
    assert sub.pending() == 0
