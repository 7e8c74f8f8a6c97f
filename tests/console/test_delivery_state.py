"""Delivery times as the Notifications screen and an alert's details show them, whatever a server sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console import format as fmt
from console.widgets.delivery_state import clock_time, deliveries_text

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()


def test_a_readable_time_reads_as_a_clock_today_and_a_date_before():
    assert clock_time("2026-12-03T11:59:58Z", NOW) == "11:59:58"
    assert clock_time("2026-12-03T13:30:00+02:00", NOW) == "11:30:00"
    assert clock_time("2026-12-01T08:30:00Z", NOW) == "12-01 08:30"
    assert clock_time(None, NOW) == fmt.DASH


@pytest.mark.parametrize("value", ["yesterday", "2026-13-45T00:00:00Z", "9999-12-31T23:59:59-05:00", 1764763200,
                                   ["2026-12-03T11:59:58Z"]])
def test_a_time_we_cannot_read_shows_a_question_mark(value):
    assert clock_time(value, NOW) == "?"


def test_an_unreadable_delivery_time_leaves_the_rest_of_the_deliveries_shown():
    entries = [{"id": 2, "sentAt": "<html>", "channel": "pager", "status": "failed", "alertStatus": "firing",
                "attempts": 3, "lastError": "HTTP 502"},
               {"id": 1, "sentAt": "2026-12-03T11:00:00Z", "channel": "ops", "status": "sent",
                "alertStatus": "firing", "attempts": 1}]
    lines = deliveries_text(entries, NOW).plain.splitlines()
    assert lines[1].split() == ["11:00:00", "ops", "✔", "sent", "firing", "1", "attempt"]
    assert lines[2].split()[:4] == ["?", "pager", "✖", "failed"]
