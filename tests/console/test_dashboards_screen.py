"""Dashboards (0): the four shipped Grafana dashboards and a dropped-in node_exporter one, drawn from
a real server holding the host model's hour and the platform of tests/service_data.py (plus health
probes and firing alerts), at fixed times; and the keys: dashboard list, variables, range, refresh,
row folding."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.screens.dashboard_dialogs import VariablesDialog
from console.screens.dashboards import DashboardsScreen
from console.widgets.dashboard_panels import DashPanel, RowHeader, UnknownPanel
from engine.clock import to_ms
from tests.console.conftest import T0, make_app, settled, wait_for
from tests.console.test_services_screens import PlatformServer
from tests.service_data import EVAL_OFFSET_S, INTERVAL_S, SAMPLES, _g, families

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
DROPPED_IN = Path(__file__).parent / "dashboards"
UIDS = {"system": "metrics-service-system", "business": "metrics-service-business",
        "application": "metrics-service-application", "alerts": "metrics-service-alerts-health",
        "node": "rYdddlPWk"}


def health_and_alerts() -> list:
    """Probes for two services (payment down) and two firing alerts, over the platform's 20 minutes."""
    return [
        _g("probe_success", 1, service="booking", type="http"),
        _g("probe_success", 0, service="payment", type="http"),
        _g("probe_duration_seconds", 0.12, service="booking", type="http"),
        _g("probe_duration_seconds", 2.5, service="payment", type="http"),
        _g("ALERTS", 1, alertname="ServiceDown", alertstate="firing", severity="critical", service="payment"),
        _g("ALERTS", 1, alertname="HighErrorRate", alertstate="firing", severity="warning", service="booking"),
        _g("ALERTS", 1, alertname="SlowRequests", alertstate="pending", severity="warning", service="booking"),
    ]


class DashServer(PlatformServer):
    def start(self) -> DashServer:
        super().start()
        self.call(self._feed_health)
        return self

    def _feed_health(self) -> None:
        defs, first = health_and_alerts(), T0 - EVAL_OFFSET_S
        for k in range(SAMPLES):
            self.embedded.running.engine.store.ingest("health", families(defs, k), to_ms(first + INTERVAL_S * k))


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory):
    server = DashServer(tmp_path_factory.mktemp("dash-data"), env={"DASHBOARDS_DIR": str(DROPPED_IN)}).start()
    yield server
    server.stop()


def drawn(screen: DashboardsScreen) -> bool:
    """The dashboard is open and every panel on screen shows the answer to the latest queries."""
    return screen.doc is not None and screen.settled


async def open_screen(pilot) -> DashboardsScreen:
    await wait_for(pilot, lambda: settled(pilot.app), "the first data")
    await pilot.press("0")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DashboardsScreen), "the Dashboards screen")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.query_one("#dash-list").option_count >= 5, "the dashboard list")
    return screen


def showing(uid: str):
    async def run_before(pilot) -> DashboardsScreen:
        screen = await open_screen(pilot)
        screen.open_dashboard(uid)
        await wait_for(pilot, lambda: drawn(screen) and screen.uid == uid, f"dashboard {uid}", attempts=1500)
        return screen

    return run_before


@SIZES
@pytest.mark.parametrize("name", ["system", "business", "application", "alerts"])
def test_shipped_dashboard(snap_compare, dash_server, name, size):
    assert snap_compare(make_app(dash_server.url), terminal_size=size, run_before=showing(UIDS[name]))


@SIZES
def test_dropped_in_node_exporter_dashboard(snap_compare, dash_server, size):
    """A node-exporter-full-like file in DASHBOARDS_DIR: ${DS_PROMETHEUS}, $node/$job with no values
    here (our collector's series carry no instance), [[var]], a legacy graph panel, a heatmap."""
    assert snap_compare(make_app(dash_server.url), terminal_size=size, run_before=showing(UIDS["node"]))


def test_the_list(snap_compare, dash_server):
    async def run_before(pilot) -> None:
        await open_screen(pilot)

    assert snap_compare(make_app(dash_server.url), terminal_size=(80, 24), run_before=run_before)


# -- keys -----------------------------------------------------------------------------------------------


def panel(screen: DashboardsScreen, title: str) -> DashPanel:
    return next(p for p in screen.query(DashPanel) if p.spec.title == title)


def text(widget) -> str:
    return "\n".join(line.plain for line in widget.draw(widget.size.width, widget.size.height))


async def test_enter_on_the_list_opens_a_dashboard_and_d_goes_back(dash_server):
    app = make_app(dash_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(pilot)
        listing = screen.query_one("#dash-list")
        titles = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
        listing.highlighted = next(i for i, t in enumerate(titles) if t.startswith("Business"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: drawn(screen), "the Business dashboard", attempts=1500)
        assert screen.uid == UIDS["business"]
        assert "5.0k" not in text(panel(screen, "Bookings created"))  # big digits, not one line
        assert "EUR       payment" in text(panel(screen, "Revenue over the range"))
        await pilot.press("d")
        assert not screen.has_class("-open") and listing.has_focus
        await pilot.press("escape")
        assert screen.has_class("-open")
        message = screen.query_one("#message")
        assert not message.display
        screen.open_dashboard("no-such-uid")
        await wait_for(pilot, lambda: message.display, "the error line")
        assert "Cannot open no-such-uid: server answered 404" in message.render().plain
        assert screen.uid == UIDS["business"]  # the open dashboard stays
        await pilot.press("1", "0")  # away and back: the keys still go to the dashboard, not the hidden list
        await wait_for(pilot, lambda: app.screen is screen, "the Dashboards screen again")
        assert screen.has_class("-open") and app.focused is screen.query_one("#dash-body")
        assert not message.display  # the error went with the visit elsewhere, and so did its row


async def test_variable_selector_narrows_the_queries(dash_server):
    app = make_app(dash_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await showing(UIDS["application"])(pilot)
        service = next(v for v in screen.variables if v.name == "service")
        assert service.options == ["booking", "payment"] and service.is_all
        assert "● booking  ● payment" in text(panel(screen, "Request rate per service"))
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, VariablesDialog), "the selector")
        dialog = app.screen
        values = dialog.query_one("#values")
        assert [values.get_option_at_index(i).value for i in range(values.option_count)] == [
            "$__all", "booking", "payment"]
        values.highlighted = 2
        await pilot.press("space")  # payment: replaces All
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, "the dashboard again")
        assert service.current == ["payment"]
        await wait_for(pilot, lambda: drawn(screen), "the panels again", 1500)
        chart = text(panel(screen, "Request rate per service"))
        assert "● payment" in chart and "booking" not in chart
        assert "Service: payment" in screen.query_one("#dash-bar").render().plain


async def test_range_keys_change_the_queries_and_u_the_refresh(dash_server):
    app = make_app(dash_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await showing(UIDS["system"])(pilot)
        bar = screen.query_one("#dash-bar")
        assert "last 1h · refresh 30s" in bar.render().plain
        chart = panel(screen, "CPU usage per core")
        assert chart.span.range_s == 3600
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: drawn(screen) and chart.span.range_s == 1800, "the 30m range", 1500)
        assert "last 30m" in bar.render().plain
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: drawn(screen) and chart.span.range_s == 3 * 3600, "the 3h range", 1500)
        assert chart.span.step_s == 60
        await pilot.press("u")
        assert screen.refresh_s == 60 and "refresh 1m" in bar.render().plain
        assert chart.region.x == 40 and chart.region.width == 39  # Grafana's x 8, w 8 of 24 columns
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: chart.region.width == 79, "one panel column")
        assert chart.region.x == 0


async def test_unknown_panel_type_says_so_and_rows_fold(dash_server):
    app = make_app(dash_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await showing(UIDS["node"])(pilot)
        heatmap = panel(screen, "Disk latency [/dev/*] heatmap")  # brackets: not markup
        assert isinstance(heatmap, UnknownPanel)
        assert " ".join(text(heatmap).split()) == "heatmap panel: not drawable here"
        assert heatmap.border_title == r"Disk latency \[/dev/*] heatmap"  # as markup, escaped
        assert panel(screen, "CPU Basic").data.frames  # the $node/$job queries answered
        folded = next(h for h in screen.query(RowHeader) if h.section.row.title == "CPU / Memory / Net / Disk")
        inner = panel(screen, "Disk IOps")
        assert folded.section.collapsed and inner.region.height == 0 and inner.data is None
        folded.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: inner.region.height > 0, "the row to unfold")
        screen.query_one("#dash-body").scroll_to_widget(inner, animate=False)
        await wait_for(pilot, lambda: drawn(screen) and inner.data is not None, "the unfolded panels' data", 1500)
        assert inner.data.frames and "nvme0n1 - Reads completed" in text(inner)
        await pilot.press("enter")
        await wait_for(pilot, lambda: inner.region.height == 0, "the row to fold again")
        meminfo = next(h for h in screen.query(RowHeader) if h.section.row.title == "Memory Meminfo")
        broken = panel(screen, "Memory Committed")  # a query our server refuses: the error, in the panel
        meminfo.focus()
        await pilot.press("space")
        screen.query_one("#dash-body").scroll_to_widget(broken, animate=False)
        await wait_for(pilot, lambda: drawn(screen) and broken.data is not None, "the broken panel's answer", 1500)
        assert broken.data.error.startswith("A: bad_data:") and "bad_data" in text(broken)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, VariablesDialog), "the selector")
        app.screen.query_one("#vars").highlighted = 2  # "Instance [/host:port]": brackets, not markup
        await pilot.pause()
        assert str(app.screen.query_one("#values").border_title).endswith("[/host:port]")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "the dashboard again")


async def test_the_list_starts_on_the_first_dashboard_keeps_its_place_and_j_k_move(dash_server):
    """On arrival enter opens the first row (no ↓ first); j/k move like ↓/↑; the highlight survives
    the list's reload (d); at 80 columns each dashboard keeps one line (its tags cut, not wrapped)."""
    app = make_app(dash_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        listing = screen.query_one("#dash-list")
        await wait_for(pilot, lambda: listing.virtual_size.height > 0, "the list drawn")
        assert listing.virtual_size.height == listing.option_count  # one line per dashboard
        first = next(i for i in range(listing.option_count) if not listing.get_option_at_index(i).disabled)
        assert listing.highlighted == first
        await pilot.press("j")
        assert listing.highlighted == first + 1
        await pilot.press("k")
        assert listing.highlighted == first
        await pilot.press("j")
        second = listing.get_option_at_index(first + 1).id
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.uid == second, "the second dashboard")
        await pilot.press("d")
        await wait_for(pilot, lambda: not any(w.group == "dash-list" and w.is_running for w in app.workers),
                       "the list again")
        assert listing.highlighted is not None and listing.get_option_at_index(listing.highlighted).id == second
