"""The WebSocket message budget: a token bucket on an injected clock."""

from __future__ import annotations

from server.handlers.ws import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=4, now=clock)
    assert [bucket.take() for _ in range(5)] == [True, True, True, True, False]
    clock.t += 0.5  # one token back
    assert bucket.take() and not bucket.take()


def test_savings_never_exceed_the_burst_and_a_refused_take_spends_nothing():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=4, now=clock)
    clock.t += 3600
    assert not bucket.take(5)
    assert bucket.take(4) and not bucket.take()
