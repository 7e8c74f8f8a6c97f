"""Input series fed tick by tick, like promtool's lazy loader, and moved to disk in --from-disk runs."""

from __future__ import annotations

import pytest

from engine.unittest.inputs import input_store

SERIES = {(("__name__", "x"),): [1.0, None, 3.0, 4.0]}


def head_times(inputs) -> list[int]:
    return list(inputs.store.series(inputs.store.ref((("__name__", "x"),))).ts)


@pytest.mark.parametrize("from_disk", [False, True], ids=["head", "disk"])
def test_samples_arrive_only_up_to_each_tick(from_disk):
    with input_store(SERIES, 60_000, 60_000, from_disk) as inputs:
        ref = inputs.store.ref((("__name__", "x"),))
        inputs.load_until(60_000)
        assert list(inputs.store.samples(ref, -1, 10**9)[0]) == [0]
        inputs.load_until(120_000)
        assert list(inputs.store.samples(ref, -1, 10**9)[0]) == [0, 120_000]
        # --from-disk: everything before the tick is in SQLite chunks, the head keeps the tick itself.
        assert head_times(inputs) == ([120_000] if from_disk else [0, 120_000])
        inputs.load_until(10**6)
        inputs.loading_done()
        assert list(inputs.store.samples(ref, -1, 10**9)[1]) == [1.0, 3.0, 4.0]
        assert head_times(inputs) == ([] if from_disk else [0, 120_000, 180_000])


def test_without_an_interval_every_sample_is_at_time_0_and_the_first_wins():
    with input_store(SERIES, 0, 60_000, False) as inputs:
        inputs.load_until(0)
        ref = inputs.store.ref((("__name__", "x"),))
        assert [list(a) for a in inputs.store.samples(ref, -1, 10**9)] == [[0], [1.0]]
