"""Explore (key 5) against a real server fed fixed samples: queries, parse errors, completion,
history, the range chart, and snapshots at both sizes."""

from __future__ import annotations

import pytest

from console.promql_functions import COMMON, SIGNATURES
from console.query_history import QueryHistory
from console.screens.explore import ExploreScreen
from console.widgets.promql_input import PromqlInput
from console.widgets.series_chart import SeriesChart
from console.widgets.table import LiveTable
from tests.console.conftest import make_app, settled, wait_for

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
BY_MODE = "sum by (mode) (rate(node_cpu_seconds_total[1m]))"


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    """The query history goes to a fresh XDG state dir, never the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


async def open_explore(pilot) -> ExploreScreen:
    await wait_for(pilot, lambda: settled(pilot.app), "the first data")
    await pilot.press("5")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ExploreScreen), "the Explore screen")
    return pilot.app.screen


def table_rows(screen: ExploreScreen) -> list[list[str]]:
    table = screen.query_one(LiveTable)
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def error_text(screen: ExploreScreen) -> str:
    field = screen.query_one("#query-error")
    return str(field.render()) if field.has_class("-shown") else ""


async def run(pilot, screen: ExploreScreen, expr: str) -> None:
    """Type ``expr`` and press enter (``e`` first when the result has the keys); wait for both results."""
    field = screen.query_one(PromqlInput)
    if not field.has_focus:
        await pilot.press("e")
    field.value = ""
    await pilot.press(*expr, "enter")
    await wait_for(pilot, lambda: screen._expr == expr and not any(
        w.group in ("instant", "range") and w.is_running for w in pilot.app.workers), f"the results of {expr}")


async def test_typing_and_running_an_expression_fills_the_table(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        await run(pilot, screen, "node_load1")
        rows = table_rows(screen)
        assert len(rows) == 1 and rows[0][0] == "node_load1"
        assert 0.4 <= float(rows[0][1]) <= 3.2

        await run(pilot, screen, BY_MODE)
        assert sorted(r[0] for r in table_rows(screen)) == [
            '{mode="idle"}', '{mode="iowait"}', '{mode="steal"}', '{mode="system"}', '{mode="user"}']
        total = sum(float(r[1]) for r in table_rows(screen))
        assert total == pytest.approx(4.0, rel=0.01)  # four cores, each in some mode all the time

        await pilot.press("slash", "i", "d", "l", "e", "enter")  # the result has the keys after a run
        assert [r[0] for r in table_rows(screen)] == ['{mode="idle"}']


async def test_a_parse_error_is_shown_inline_as_the_server_words_it(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        await pilot.press(*"node_load1)")
        await wait_for(pilot, lambda: error_text(screen).startswith("bad_data:"), "the parse error")
        await pilot.press("backspace")
        await wait_for(pilot, lambda: error_text(screen) == "", "the error to clear on a valid expression")

        await run(pilot, screen, "sum(")  # enter before the check: the run's own error is shown
        assert error_text(screen).startswith("bad_data:")
        assert table_rows(screen) == []


async def test_an_unfinished_expression_shows_its_error_only_when_run_and_only_accepted_ones_are_kept(
        fed_server, state_dir):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        field = screen.query_one(PromqlInput)
        await pilot.press(*"rat")
        await wait_for(pilot, lambda: field._suggestion == "rate(", "the function's completion")
        await pilot.press("tab")
        await screen._check(field.value).wait()  # the check typing pauses for
        assert error_text(screen) == ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: "unclosed left parenthesis" in error_text(screen), "the run's error")
        await run(pilot, screen, "node_load1")
        await run(pilot, screen, "node_cpu_seconds_total + on() node_cpu_seconds_total")  # valid, fails to run
        await wait_for(pilot, lambda: error_text(screen).startswith("execution:"), "the execution error")
    assert QueryHistory().queries == ["node_load1", "node_cpu_seconds_total + on() node_cpu_seconds_total"]


async def test_the_footer_offers_slash_only_when_the_query_does_not_have_the_focus(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        assert screen.query_one(PromqlInput).has_focus
        assert "slash" not in screen.active_bindings  # the query types it (as it types v, h, r…)
        await run(pilot, screen, "node_load1")
        assert isinstance(screen.focused, LiveTable)
        assert "slash" in screen.active_bindings and "r" in screen.active_bindings


async def test_metric_names_and_label_values_are_completed(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        field = screen.query_one(PromqlInput)
        await pilot.press(*"node_lo")
        await wait_for(pilot, lambda: field._suggestion == "node_load1", "a metric name suggestion")
        await pilot.press("tab")
        assert field.value == "node_load1"

        field.value = ""
        await pilot.press(*'node_cpu_seconds_total{mode="id')
        await wait_for(pilot, lambda: field._suggestion.endswith('mode="idle"'), "a label value suggestion")
        await pilot.press("tab")
        assert field.value == 'node_cpu_seconds_total{mode="idle"'

        field.value = ""
        await pilot.press(*"sum by (mo")
        await wait_for(pilot, lambda: field._suggestion == "sum by (mode", "a label name suggestion")


async def test_history_is_recalled_listed_and_kept_between_runs(fed_server, state_dir):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        await run(pilot, screen, "node_load1")
        await run(pilot, screen, "node_load5")
        field = screen.query_one(PromqlInput)
        await pilot.press("e")
        field.value = ""
        await pilot.press("up")
        assert field.value == "node_load5"
        await pilot.press("up")
        assert field.value == "node_load1"
        await pilot.press("down", "down")
        assert field.value == ""

    assert QueryHistory().queries == ["node_load1", "node_load5"]
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        await pilot.press("ctrl+r", "down", "enter")  # the list is newest first: the second is node_load1
        await wait_for(pilot, lambda: screen._expr == "node_load1" and table_rows(screen), "the picked query")
        assert table_rows(screen)[0][0] == "node_load1"
        assert QueryHistory().queries == ["node_load5", "node_load1"]


async def test_a_range_result_is_drawn_as_a_chart_over_the_chosen_range(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        await run(pilot, screen, BY_MODE)
        await pilot.press("v")
        chart = screen.query_one(SeriesChart)
        assert chart.display and not screen.query_one(LiveTable).display
        assert [s.label for s in chart._series] == [
            '{mode="idle"}', '{mode="iowait"}', '{mode="steal"}', '{mode="system"}', '{mode="user"}']
        assert chart._span[1] - chart._span[0] == 3600
        text = chart.render().plain
        assert '● {mode="idle"}' in text and "-1h" in text and any("⠀" < ch <= "⣿" for ch in text)

        await pilot.press("r")  # the console's chart range: 1h -> 6h
        await wait_for(pilot, lambda: chart._span[1] - chart._span[0] == 21600, "the 6h range")
        assert "-6h" in chart.render().plain


def explore_with(expr: str, chart: bool = False):
    async def run_before(pilot) -> None:
        screen = await open_explore(pilot)
        field = screen.query_one(PromqlInput)
        field.value = expr
        screen.run_query(expr)
        await wait_for(pilot, lambda: screen.query_one(LiveTable).row_count and screen.query_one(SeriesChart)._series,
                       "the results")
        if chart:
            await pilot.press("escape", "v")

    return run_before


@SIZES
def test_explore_table(snap_compare, fed_server, size):
    assert snap_compare(make_app(fed_server.url), terminal_size=size, run_before=explore_with(BY_MODE))


@SIZES
def test_explore_chart(snap_compare, fed_server, size):
    assert snap_compare(make_app(fed_server.url), terminal_size=size, run_before=explore_with(BY_MODE, chart=True))


async def test_after_enter_the_result_has_the_keys_and_esc_returns_to_the_query_as_typed(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        await run(pilot, screen, BY_MODE)
        assert isinstance(screen.focused, LiveTable)
        await pilot.press("v")  # the hint's keys act at once: v chart, h history
        assert screen.has_class("-chart")
        await pilot.press("v", "h")
        assert screen.query_one("#history").has_class("-shown")
        assert screen.query_one("#history").border_title == "History · enter runs · esc closes"
        await pilot.press("escape")  # the history closes, back to the query
        field = screen.query_one(PromqlInput)
        assert field.has_focus and field.selection.is_empty and field.cursor_position == len(BY_MODE)
        await pilot.press("escape")
        assert isinstance(screen.focused, LiveTable)
        await pilot.press("escape", "space")  # back to the query: nothing selected, typing adds
        assert field.value == BY_MODE + " "


async def test_functions_are_completed_with_their_signatures(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        field = screen.query_one(PromqlInput)
        info = screen.query_one("#result-info")
        await pilot.press(*"histogram_q")
        await wait_for(pilot, lambda: field._suggestion == "histogram_quantile(", "a function suggestion")
        await wait_for(pilot, lambda: "histogram_quantile(φ scalar, b instant-vector)" in str(info.render()),
                       "its signature")
        await pilot.press("tab", *"0.9, sum by (le) (rate(")
        await wait_for(pilot, lambda: str(info.render()) == "rate(v range-vector)", "the signature of the open call")


async def test_label_values_are_those_of_the_metric_being_typed(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        field = screen.query_one(PromqlInput)
        await pilot.press(*'node_disk_read_bytes_total{device="')  # devices of every metric start with /dev/…
        await wait_for(pilot, lambda: field._suggestion.endswith('device="nvme0n1"'), "a disk device")
        field.value = ""
        await pilot.press(*'node_network_receive_bytes_total{device="w')
        await wait_for(pilot, lambda: field._suggestion.endswith('device="wlan0"'), "an interface")


async def test_tab_with_nothing_to_complete_stays_in_the_line(fed_server):
    """The letters typed after it still go to the query, not to the screen's keys (p paused the console)."""
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        field = screen.query_one(PromqlInput)
        await pilot.press(*"node_load1 ", "tab", *"pv")
        assert field.has_focus and field.value == "node_load1 pv"
        assert not app.client.paused and not screen.has_class("-chart")


async def suggests(pilot, field: PromqlInput, typed: str, completion: str) -> None:
    """Type ``typed`` on an empty line and wait for ``completion`` to be offered."""
    field.value = ""
    await pilot.press(*typed)
    await wait_for(pilot, lambda: field._suggestion == typed + completion, f"{typed!r} completed with {completion!r}")


async def test_common_functions_are_completed_first(fed_server):
    """``ra`` gives ``rate(`` (not ``rad(`` or ``range(``), ``ma`` ``max(`` (not ``mad_over_time(``);
    the others still come, alphabetically."""
    assert set(COMMON) <= set(SIGNATURES)
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        field = (await open_explore(pilot)).query_one(PromqlInput)
        for typed, completion in (("ra", "te("), ("ma", "x("), ("rad", "("), ("su", "m(")):
            await suggests(pilot, field, typed, completion)


async def test_label_names_are_those_of_the_metric_being_typed(fed_server):
    """The filesystem series have device, fstype and mountpoint: ``{m`` gives mountpoint, not CPU's mode."""
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        field = (await open_explore(pilot)).query_one(PromqlInput)
        await suggests(pilot, field, "node_filesystem_size_bytes{m", "ountpoint")
        await suggests(pilot, field, 'rate(node_cpu_seconds_total{cpu="0", m', "ode")


async def test_the_signature_line_follows_the_cursor_and_gives_the_result_line_back(fed_server):
    """The signature of the call being typed or the cursor is in; none (``foo(``, ``up{``, the cursor
    outside every call): the result line as it was."""
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        field = screen.query_one(PromqlInput)
        info = screen.query_one("#result-info")
        await run(pilot, screen, "node_load1")
        result = str(info.render())
        assert result.startswith("vector · 1 series")

        def shows(text: str):
            return lambda: str(info.render()) == text

        await pilot.press("e")
        field.value = ""
        await pilot.press("f")
        await wait_for(pilot, shows("first_over_time(v range-vector)"), "the signature of the completion")
        await pilot.press(*"oo(")
        await wait_for(pilot, shows(result), "the result line back after foo(")
        field.value = ""
        await pilot.press(*"rate(")
        await wait_for(pilot, shows("rate(v range-vector)"), "the signature of rate(")
        await pilot.press(*"x) + up{")
        await wait_for(pilot, shows(result), "the result line back after the call closed")

        field.value = "sum(rate(node_load1[5m]))"
        await pilot.press("home")
        await wait_for(pilot, shows(result), "the result line with the cursor before every call")
        await pilot.press(*["right"] * 6)
        await wait_for(pilot, shows("sum(v instant-vector) by|without (labels…)"), "the signature of sum")
        await pilot.press(*["right"] * 4)
        await wait_for(pilot, shows("rate(v range-vector)"), "the signature of rate")


def test_values_read_in_full_without_exponents_where_they_fit():
    from console.screens.explore import value_text

    assert [value_text(v) for v in ("257050812", "257050812.5", "0.0123", "2.93310546875", "1e-07", "NaN",
                                    "+Inf", "-3", "1e+20")] == \
        ["257050812", "257050812", "0.0123", "2.933105", "1e-07", "NaN", "+Inf", "-3", "1e+20"]


async def test_the_result_line_names_the_view_v_switches_to(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_explore(pilot)
        await run(pilot, screen, "node_load1")
        info = screen.query_one("#result-info")
        assert "· v chart ·" in str(info.render())
        await pilot.press("v")
        assert screen.has_class("-chart") and "· v table ·" in str(info.render())
        await pilot.press("/")  # the filter acts on the table: back to it, and the line says so
        assert not screen.has_class("-chart") and "· v chart ·" in str(info.render())
