"""The console's pure parts: formatting, plots, chart history, URLs, backoff, row filters."""

from __future__ import annotations

import errno

import aiohttp
import httpx
import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from console import format as fmt
from console.client import Backoff, Link, LinkState, describe_error, normalise_url
from console.history import RANGE_BY_NAME, Chart, HistoryBook, live_values
from console.plot import BRAILLE_BASE, bar, braille, level
from console.screens.alerts import alert_row, sort_alerts
from console.state import LiveData
from console.widgets.panel import nice_top
from console.widgets.table import Column, LiveTable, RowFilter
from console.widgets.topbar import TopBar


def test_sizes_rates_and_ages_read_at_a_glance():
    assert [fmt.size(v) for v in (0, 512, 1536, 10 * 2**20, 250 * 2**30, None)] == [
        "0 B", "512 B", "1.50 KiB", "10.0 MiB", "250 GiB", "–"]
    assert fmt.rate(2**20) == "1.00 MiB/s" and fmt.count_rate(1234.5) == "1,234/s"
    assert [fmt.age(s) for s in (0.4, 59, 185, 7500, 200000)] == ["0s", "59s", "3m05s", "2h05m", "2d07h"]
    assert fmt.percent(12.345) == "12.3%" and fmt.number(None) == "–"


def test_braille_plots_time_left_to_right_and_leaves_holes():
    rows = braille([(0, 0.0), (10, 100.0)], 0, 10, 2, 1, 100.0, gap=20)
    assert len(rows) == 1 and len(rows[0]) == 2
    assert rows[0][0] != " " and ord(rows[0][1]) >= BRAILLE_BASE  # low on the left, high on the right
    apart = braille([(0, 50.0), (10, 50.0)], 0, 10, 5, 1, 100.0, gap=5)
    assert apart[0][1:4] == "   "  # too far apart in time to be joined
    assert braille([], 0, 10, 3, 2, 1.0, gap=1) == ["   ", "   "]


def test_bars_and_levels():
    assert bar(0.5, 4) == ("██", "  ") and bar(None, 3) == ("", "   ")
    assert bar(0.5, 1) == ("▌", "")
    assert level(0.0) == "▁" and level(1.0) == "█" and level(None) == "·"


@pytest.mark.parametrize("peak,binary,top", [(0, False, 1.0), (0.3, False, 0.5), (7, False, 10), (88, False, 100),
                                             (101, False, 200), (1500, True, 2048), (3 * 2**20, True, 5 * 2**20)])
def test_chart_scales_are_round(peak, binary, top):
    assert nice_top(peak, binary) == top


def payload(end: float, step: float, n: int, value: float = 1.0) -> dict:
    points = [[end - step * i, value] for i in reversed(range(n))]
    return {"end": end, "series": [{"labels": {"cpu": "total"}, "points": points},
                                   {"labels": {"cpu": "0"}, "points": points}]}


def test_chart_history_is_extended_live_one_point_per_step():
    chart = Chart("cpu", RANGE_BY_NAME["1h"])
    chart.load(payload(1800.0, 15, 10))
    assert len(chart.line("total")) == 10 and chart.end == 1800.0
    chart.extend(1805.0, {"total": 5.0, "0": None})  # same 15 s step as 1800: replaces it
    chart.extend(1815.0, {"total": 7.0})  # next step: appended
    assert chart.line("total")[-2:] == [(1805.0, 5.0), (1815.0, 7.0)] and len(chart.line("total")) == 11
    assert chart.line("0")[-1] == (1800.0, 1.0)
    chart.extend(1810.0, {"total": 1.0})  # late: ignored
    assert chart.latest("total") == 7.0 and chart.end == 1815.0


def test_loading_history_keeps_newer_live_points_and_trims_to_the_range():
    chart = Chart("cpu", RANGE_BY_NAME["5m"])
    chart.extend(2000.0, {"total": 9.0})
    chart.load(payload(1995.0, 5, 100))
    assert chart.line("total")[-1] == (2000.0, 9.0)
    assert chart.line("total")[0][0] >= chart.start == 2000.0 - 300
    version = chart.version
    chart.extend(2005.0, {"total": 1.0})
    assert chart.version > version


def test_totals_add_lines_point_by_point():
    chart = Chart("network", RANGE_BY_NAME["5m"])
    chart.extend(100.0, {"eth0/receive": 1.0, "lo/receive": 10.0, "eth0/transmit": 5.0})
    chart.extend(105.0, {"eth0/receive": 2.0, "lo/receive": 20.0})
    assert chart.total(lambda k: k.endswith("/receive")) == [(100.0, 11.0), (105.0, 22.0)]


def test_live_values_match_the_chart_series_keys():
    system = {"cpu": {"usage_percent": 12.0, "cores": [{"cpu": "0", "usage_percent": 10.0}]},
              "memory": {"used_bytes": 5.0, "total_bytes": 10.0}, "swap": {"used_bytes": 1.0},
              "load": {"load1": 0.5}, "network": [{"device": "eth0", "receive_bytes_per_second": 3.0}],
              "disks": [{"device": "sda", "write_bytes_per_second": 4.0}]}
    assert live_values("cpu", system) == {"total": 12.0, "0": 10.0}
    assert live_values("memory", system)["used"] == 5.0 and live_values("load", system)["1m"] == 0.5
    assert live_values("network", system) == {"eth0/receive": 3.0, "eth0/transmit": None}
    assert live_values("disk", system)["sda/write"] == 4.0
    assert live_values("disk", {"disks": "garbage"}) == {}


def test_history_book_reloads_after_a_gap():
    book = HistoryBook()
    book.chart("cpu", "1h").load(payload(100.0, 15, 3))
    assert book.missing(["cpu", "load"], "1h") == ["load"]
    book.invalidate()
    assert book.missing(["cpu"], "1h") == ["cpu"]


def test_live_data_learns_the_interval_from_updates_only():
    live = LiveData()
    live.update("snapshot", 100.0, {}, now=1000.0)
    live.update("update", 101.0, {}, now=1001.0)
    live.update("update", 111.0, {}, now=1011.0)
    assert live.interval == 10.0 and live.age(1013.5) == 2.5
    assert not live.is_late(1040.0) and live.is_late(1043.0)


def test_server_urls():
    assert normalise_url("localhost:3000") == "http://localhost:3000"
    assert normalise_url("https://mon.example/metrics/") == "https://mon.example/metrics"
    for bad in ("ftp://x", "http://", "http://host:99999"):
        with pytest.raises(ValueError):
            normalise_url(bad)


def test_backoff_doubles_up_to_its_cap():
    assert [Backoff(0.5, 10).delay(a) for a in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]


async def test_errors_are_described_in_words():
    refused = aiohttp.ClientConnectorError(None, OSError(errno.ECONNREFUSED, "Connection refused"))
    assert describe_error(refused) == "connection refused"
    assert describe_error(TimeoutError()) == "timed out"
    assert describe_error(httpx.ConnectError("boom")) == "cannot connect: boom"


def test_row_filter_is_a_case_insensitive_regex_or_substring_and_inverts():
    rows = {"eth0": [Text("eth0"), Text("1 MiB/s")], "lo": [Text("lo"), Text("2 KiB/s")]}

    def kept(text: str) -> list[str]:
        f = RowFilter(text)
        return [key for key, cells in rows.items() if f.keeps(cells)]

    assert kept("ETH") == ["eth0"] and kept("^l") == ["lo"] and kept("!eth") == ["lo"]
    assert kept("mib/s") == ["eth0"] and kept("[") == []  # not a valid regex: a plain substring
    assert not RowFilter("") and RowFilter("x")


@pytest.mark.parametrize("active_at", ["garbage", 1_800_000_000, ["2027-01-15T08:00:00Z"], "2027-13-45T99:00:00Z"])
def test_an_alert_whose_time_cannot_be_read_shows_a_question_mark(active_at):
    good = {"id": "b", "name": "Disk", "state": "firing", "severity": "warning", "activeAt": "2027-01-15T08:00:00Z"}
    odd = {**good, "id": "a", "activeAt": active_at}
    assert alert_row(odd, 1_800_000_000.0)[3] == "?"
    assert alert_row({**odd, "activeAt": ""}, 1_800_000_000.0)[3] == fmt.DASH
    assert alert_row({**odd, "activeAt": None}, 1_800_000_000.0)[3] == fmt.DASH
    assert [a["id"] for a in sort_alerts([good, odd], "age")] == ["b", "a"]  # unreadable sorts as oldest
    assert [a["id"] for a in sort_alerts([good, odd], "severity")] == ["a", "b"]


class _OneTable(App):
    def compose(self) -> ComposeResult:
        yield LiveTable("Items", (Column("name", "Name"),), id="items")


async def test_the_highlighted_item_is_found_by_its_row_key_after_a_re_sort():
    items = [{"id": "a", "name": "first"}, {"id": 2, "name": "second"}]
    async with _OneTable().run_test() as pilot:
        table = pilot.app.query_one(LiveTable)
        assert table.highlighted_item(items) is None  # no rows yet
        table.show([("a", ["first"]), ("2", ["second"])])
        await pilot.press("down")
        assert table.highlighted_item(items) is items[1]
        table.show([("2", ["second"]), ("a", ["first"])])
        await pilot.pause()
        assert table.highlighted_item(items) is items[1]
        assert table.highlighted_item(items[:1]) is None  # gone from the list the screen acts on


class _OneBar(App):
    def compose(self) -> ComposeResult:
        yield TopBar(Link(LinkState.CONNECTING))


async def test_the_top_bar_shows_the_connection_word_from_its_first_frame():
    """No status update has come yet (the app sends one per refresh tick): the word is already there."""
    async with _OneBar().run_test(size=(80, 1)) as pilot:
        assert "●&#160;connecting" in pilot.app.export_screenshot()


class _Bar(App):
    def compose(self) -> ComposeResult:
        yield TopBar(Link(LinkState.RECONNECTING))


async def test_at_80_columns_the_counts_keep_their_room_before_the_other_tabs_titles():
    """When even the keys alone leave the counts too little room, the counts get all that is left: the
    other tabs' titles take only room nothing else needs (they were shown while the counts read ``✖ …``)."""
    tabs = [("1", "Overview"), ("2", "System"), ("3", "Alerts"), ("4", "Rules"), ("5", "Explore"), ("6", "Services")]
    async with _Bar().run_test(size=(80, 1)) as pilot:
        bar = pilot.app.query_one(TopBar)
        bar.show_tabs(tabs, "Alerts")
        bar.show_address("remote 10.0.0.1:3000")
        bar.show_counts(12, 11, 3, 1)
        await pilot.pause()
        line = "".join(strip.text for strip in pilot.app.screen._compositor.render_strips())
        assert "✖ 3 down  12 firing · 11 unacked · 1 si" in line
        assert "3 Alerts" in line and "● reconnecting" in line
        assert not any(title in line for _, title in tabs if title != "Alerts")


class _NarrowTable(App):
    def compose(self) -> ComposeResult:
        yield LiveTable("Alerts", (Column("name", "Alert", shrinks=True), Column("value", "Value", True),
                                   Column("ack", "Ack by")), id="items")


async def test_a_shrinking_column_is_cut_so_the_columns_after_it_stay_on_screen():
    long_name = "DiskSeen " + ",".join(f"label{i}=value{i}" for i in range(12))
    async with _NarrowTable().run_test(size=(60, 6)) as pilot:
        table = pilot.app.query_one(LiveTable)
        table.show([("a", [long_name, "1.95 TiB", "alice"])])
        await pilot.pause()
        shown = "".join(strip.text for strip in pilot.app.screen._compositor.render_strips())
        assert "1.95 TiB" in shown and "alice" in shown and "DiskSeen label0=value0" in shown and "…" in shown
        await pilot.resize_terminal(400, 6)  # room for everything: nothing is cut
        await pilot.pause()
        shown = "".join(strip.text for strip in pilot.app.screen._compositor.render_strips())
        assert long_name in shown and "…" not in shown


async def test_the_filter_finds_a_value_behind_a_shrunk_columns_ellipsis():
    rows = [(str(i), [f"DiskSeen device=/dev/sda{i},fstype=ext4,mountpoint=/srv/{i},region=eu-west-{i}", "1 GiB",
                      "alice"]) for i in (1, 2, 3)]
    async with _NarrowTable().run_test(size=(60, 8)) as pilot:
        table = pilot.app.query_one(LiveTable)
        table.show(rows)
        await pilot.pause()
        assert "region" not in "".join(strip.text for strip in pilot.app.screen._compositor.render_strips())
        table.set_filter(RowFilter("eu-west-2"))
        assert table.visible_keys == ["2"] and table.row_count == 1
        table.set_filter(RowFilter("!eu-west-2"))
        assert table.visible_keys == ["1", "3"]
