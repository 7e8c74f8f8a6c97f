"""Services (key 6): one row per service from the `application` topic; ``enter`` opens a service's
detail (latency percentiles, status codes, database, cache, its scrape targets), ``t`` the scrape
targets of every job. The table and the detail are live; targets are asked for while shown.

Rows are keyed by service name and the detail follows the name chosen, never the cursor position,
so a live re-sort never swaps the service being read.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable

from console import format as fmt
from console.plot import sparkline
from console.screens.alert_dialogs import parse_time
from console.screens.base import FilteredScreen
from console.widgets.field import Field
from console.widgets.filterbar import FilterBar
from console.widgets.table import Column, LiveTable
from engine.compat.durations import format_seconds

COLUMNS = (Column("service", "Service"), Column("up", "Up"), Column("rps", "Req/s", True),
           Column("errors", "5xx", True), Column("p95", "p95", True), Column("conn", "Conn", True),
           Column("trend", "Req/s trend"))
TARGET_COLUMNS = (Column("job", "Job"), Column("health", "Health"), Column("url", "URL"),
                  Column("last", "Last", True), Column("duration", "Took", True), Column("error", "Error"))
TREND_CELLS = 12
TARGETS_RELOAD_S = 5.0
"""Targets are asked for again this often while the detail or the targets view is shown."""


def up_text(service: dict[str, Any]) -> str:
    """``up``, ``DOWN`` or ``?`` (no target, probe or self), with ``n/m`` targets up when it has targets."""
    up = service.get("up")
    word = "?" if up is None else "up" if up else "DOWN"
    targets = service.get("targets")
    if isinstance(targets, dict) and targets.get("total", 0) > 1:
        word += f" {targets.get('up')}/{targets.get('total')}"
    return word


def service_row(service: dict[str, Any]) -> list[str]:
    history = [p[1] for p in (service.get("history") or {}).get("requests_per_second") or []
               if isinstance(p, list) and len(p) == 2]
    return [str(service.get("service", "")), up_text(service), fmt.number(service.get("requests_per_second")),
            fmt.ratio(service.get("error_ratio_5xx")),
            fmt.seconds((service.get("latency_seconds") or {}).get("p95")),
            fmt.number(service.get("active_connections"), 0), sparkline(history, TREND_CELLS)]


def target_row(target: dict[str, Any], now: float) -> list[str]:
    labels = target.get("labels") or {}
    last = _scraped_at(target.get("lastScrape"))
    duration = target.get("lastScrapeDuration")
    return [str(labels.get("job") or target.get("scrapePool") or ""), str(target.get("health", "unknown")),
            str(target.get("scrapeUrl", "")), fmt.DASH if last is None else f"{fmt.age(now - last)} ago",
            fmt.seconds(duration) if isinstance(duration, (int, float)) and last is not None else fmt.DASH,
            str(target.get("lastError") or "")]


def _scraped_at(value: Any) -> float | None:
    """Prometheus's ``lastScrape``; never scraped is Go's zero time (year 1)."""
    t = parse_time(value)
    return t if t is not None and t > 0 else None


def target_key(target: dict[str, Any]) -> str:
    return f"{target.get('scrapePool', '')}|{target.get('scrapeUrl', '')}"


def _rates(values: dict[str, Any], unit: str = "/s") -> str:
    return "  ".join(f"{k} {fmt.number(v)}{unit}" for k, v in values.items()) or fmt.DASH


def detail_text(service: dict[str, Any], targets: list[dict[str, Any]] | None, now: float,
                range_s: float) -> Text:
    """Everything known about one service, one titled line per subject, for any width (lines clip)."""
    lat = service.get("latency_seconds") or {}
    db = service.get("db") or {}
    cache = service.get("cache") or {}
    text = Text()

    def line(title: str, body: str | Text = "") -> None:
        if text:
            text.append("\n")
        text.append(f"{title:<11}", style="bold")
        text.append(body)

    source = service.get("up_source")
    line("State", f"{up_text(service)}" + (f" (from {source})" if source else " (no target or probe)"))
    line("Requests", f"{fmt.number(service.get('requests_per_second'))}/s over {format_seconds(range_s)}"
                     f" · {fmt.number(service.get('active_connections'), 0)} connections")
    line("Latency", "  ".join(f"{q} {fmt.seconds(lat.get(q))}" for q in ("p50", "p90", "p95", "p99")))
    line("Errors", f"4xx {fmt.ratio(service.get('error_ratio_4xx'))}  5xx {fmt.ratio(service.get('error_ratio_5xx'))}")
    line("Status", _rates(service.get("status_codes") or {}))
    line("Database", f"{fmt.number(db.get('queries_per_second'))} queries/s · p95 {fmt.seconds(db.get('p95_seconds'))}")
    for op in db.get("operations") or []:
        line("", f"{op.get('operation', '')}: {fmt.number(op.get('queries_per_second'))}/s"
                 f" · p95 {fmt.seconds(op.get('p95_seconds'))}")
    line("Cache", f"hit ratio {fmt.ratio(cache.get('hit_ratio'))} · {fmt.number(cache.get('requests_per_second'))}/s"
                  f" ({_rates(cache.get('by_result') or {})})")
    history = service.get("history") or {}
    for name, title in (("requests_per_second", "Req/s"), ("error_ratio_5xx", "5xx")):
        points = [p[1] for p in history.get(name) or [] if isinstance(p, list) and len(p) == 2]
        line(title, Text(sparkline(points, 40) or fmt.DASH, style="cyan"))
    line("Targets", "" if targets else "loading…" if targets is None else "none (pushed or own metrics)")
    for t in targets or []:
        row = target_row(t, now)
        line("", Text(f"{row[1]:<5} {row[2]}  last {row[3]} · took {row[4]}"))
        if row[5]:
            line("", Text(f"error: {row[5]}", style="red"))
    return text


class ServicesScreen(FilteredScreen):
    TITLE = "Services"
    TOPICS = ("application",)
    AUTO_FOCUS = "#services"
    BINDINGS = [
        Binding("enter", "details", "Details"),
        Binding("t", "targets", "Targets"),
        Binding("slash", "filter", "Filter"),
        Binding("c", "clear_filter", "Clear filter", show=False),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = """
    ServicesScreen #services, ServicesScreen #targets { height: 1fr; border: round $primary 60%;
        border-title-color: $text; border-subtitle-color: $text-muted; }
    ServicesScreen #services:focus, ServicesScreen #targets:focus { border: round $accent; }
    ServicesScreen #detail-view { display: none; height: 1fr; border: round $accent; border-title-color: $text;
                                  padding: 0 1; }
    ServicesScreen #targets { display: none; }
    ServicesScreen.-detail #detail-view, ServicesScreen.-targets #targets { display: block; }
    ServicesScreen.-detail #services, ServicesScreen.-targets #services { display: none; }
    ServicesScreen #detail { text-wrap: nowrap; text-overflow: clip; }
    ServicesScreen #message { height: auto; padding: 0 1; }
    ServicesScreen #message.-error { background: $error 20%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.detail: str | None = None
        """The service whose detail is open, by name."""
        self.targets: list[dict[str, Any]] | None = None
        self._targets_at: float | None = None

    def compose_body(self) -> ComposeResult:
        yield LiveTable("Services", COLUMNS, id="services")
        scroll = VerticalScroll(Field(id="detail"), id="detail-view")
        yield scroll
        yield LiveTable("Scrape targets · esc back", TARGET_COLUMNS, id="targets")
        yield Field(id="message")
        yield FilterBar()

    @property
    def table(self) -> LiveTable:
        return self.query_one("#services", LiveTable)

    @property
    def view(self) -> dict[str, Any]:
        return self.console.views.get("application") or {}

    def services(self) -> dict[str, dict[str, Any]]:
        return {str(s.get("service")): s for s in self.view.get("services") or [] if isinstance(s, dict)}

    def refresh_data(self) -> None:
        view, services = self.view, self.services()
        range_s = float(view.get("range_seconds") or 0)
        self.table.show([(name, service_row(s)) for name, s in services.items()])
        title = (f"Services · last {format_seconds(range_s)} · enter details · t targets" if view
                 else "Services · waiting for data")
        if self.table.border_title != title:
            self.table.border_title = title
        now = self.console.clock.now()
        if self.detail is not None:
            scroll = self.query_one("#detail-view", VerticalScroll)
            scroll.border_title = f"{self.detail} · esc back"
            service = services.get(self.detail)
            mine = None if self.targets is None else [
                t for t in self.targets if (t.get("labels") or {}).get("job") == self.detail]
            self.query_one("#detail", Field).show(
                detail_text(service, mine, now, range_s) if service is not None
                else Text(f"{self.detail}: no figures in the last update"))
        if self.has_class("-targets"):
            self.query_one("#targets", LiveTable).show(
                [(target_key(t), target_row(t, now)) for t in self.targets or []])
        if (self.detail is not None or self.has_class("-targets")) and (
                self._targets_at is None or now - self._targets_at >= TARGETS_RELOAD_S):
            self._load_targets()

    @work(group="targets", exclusive=True, exit_on_error=False)
    async def _load_targets(self) -> None:
        self._targets_at = self.console.clock.now()
        reply = await self.console.client.targets()
        if not reply.ok:
            self.targets = self.targets or []
            self.say(f"Targets: {reply.error}", error=True)
        else:
            self.targets = [t for t in (reply.data or {}).get("activeTargets") or [] if isinstance(t, dict)]
            self.say("")
        self.refresh_data()

    # -- actions ---------------------------------------------------------------------------------

    def action_details(self) -> None:
        name = self.table.highlighted_key
        if name is None or self.detail is not None:
            return
        self.detail = name
        self._targets_at = None
        self.remove_class("-targets")
        self.add_class("-detail")
        self.refresh_data()
        self.query_one("#detail-view", VerticalScroll).focus()

    @on(DataTable.RowSelected, "#services")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_targets(self) -> None:
        self.detail = None
        self._targets_at = None
        self.remove_class("-detail")
        self.add_class("-targets")
        self.refresh_data()
        self.query_one("#targets", LiveTable).focus()

    def action_back(self) -> None:
        """esc: stop editing the filter, else leave the detail or targets view for the list."""
        if self.close_filter(self.table):
            return
        if self.detail is not None or self.has_class("-targets"):
            self.detail = None
            self.remove_class("-detail", "-targets")
            self.table.focus()
