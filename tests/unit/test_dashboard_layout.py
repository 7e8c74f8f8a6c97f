"""A Grafana dashboard's panels laid out for the terminal, rows and their panels, and how a panel's
numbers are shown (units, thresholds, mappings, reducers) — on shipped, node_exporter-like and
malformed dashboards."""

from __future__ import annotations

import json
import math
from pathlib import Path

from console.dashboard_layout import PanelSpec, layout, sections
from console.grafana_format import colour, display, format_value, reduce, threshold_colour
from console.widgets.dashboard_panels import StatPanel
from engine.dashboards import BUILTIN_DASHBOARDS

NODE = json.loads((Path(__file__).parent.parent / "console" / "dashboards" / "node-exporter-full.json").read_text())
SYSTEM = json.loads((BUILTIN_DASHBOARDS / "system-metrics.json").read_text())


def overlaps(a, b) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def test_wide_layout_keeps_grafanas_arrangement_without_overlaps():
    for doc in (SYSTEM, NODE):
        for section in sections(doc):
            boxes, height = layout(section.panels, 119)
            for i, a in enumerate(boxes):
                assert a.x + a.width <= 119 and a.y + a.height <= height
                assert not any(overlaps(a, b) for b in boxes[i + 1:])
    cpu = sections(SYSTEM)[0]
    boxes, _ = layout(cpu.panels, 120)
    by_title = {p.title: b for p, b in zip(cpu.panels, boxes, strict=True)}
    assert by_title["CPU busy"].x == 0 and by_title["CPU cores"].x == 20 and by_title["CPU by mode"].x == 80
    assert by_title["CPU busy"].y == by_title["CPU by mode"].y == 0
    assert by_title["CPU usage per core"].height == 10  # 8 grid units, 1.25 rows each
    node_top = sections(NODE)[0]
    boxes, _ = layout(node_top.panels, 120)
    small = {p.title: b for p, b in zip(node_top.panels, boxes, strict=True)}
    assert small["CPU Cores"].height >= 3 and small["RootFS Total"].y >= small["CPU Cores"].y + 3


def test_narrow_layout_is_one_column_in_reading_order():
    cpu = sections(SYSTEM)[0]
    boxes, height = layout(cpu.panels, 79)
    assert {b.x for b in boxes} == {0} and {b.width for b in boxes} == {79}
    order = sorted(zip(boxes, cpu.panels, strict=True), key=lambda bp: bp[0].y)
    assert [p.title for _, p in order] == ["CPU busy", "CPU cores", "CPU usage per core", "CPU by mode"]
    assert height == sum(b.height for b in boxes)


def test_rows_own_the_panels_after_them_or_inside_them_when_collapsed():
    found = sections(NODE)
    assert [(s.row.title, s.collapsed, len(s.panels)) for s in found] == [
        ("Quick CPU / Mem / Disk", False, 10), ("Basic CPU / Mem / Net / Disk", False, 4),
        ("CPU / Memory / Net / Disk", True, 2), ("Memory Meminfo", True, 2)]
    assert [p.type for p in found[1].panels] == ["timeseries", "timeseries", "timeseries", "timeseries"]  # graph too
    assert found[0].panels[-1].type == "heatmap"


def test_malformed_panels_get_defaults_instead_of_failing():
    doc = {"panels": [None, "x", {"type": 3, "gridPos": {"x": "a", "y": -4, "w": 99, "h": 0}, "targets": "t"},
                      {"type": "row", "title": "R", "collapsed": True, "panels": [{"targets": [{"expr": 5}, {}]}]},
                      {"type": "timeseries",
                       "targets": [{"expr": "up", "hide": True}, {"expr": " up ", "instant": True}]}]}
    first, row, after = sections(doc)
    odd = first.panels[0]
    assert (odd.type, odd.x, odd.y, odd.w, odd.h, odd.targets) == ("unknown", 0, 0, 24, 1, [])
    assert row.row.title == "R" and row.collapsed and row.panels[0].targets == []
    assert after.row is None and [(t.ref_id, t.expr, t.instant) for t in after.panels[0].targets] == [
        ("B", " up ", True)]
    boxes, height = layout(first.panels + row.panels + after.panels, 120)
    assert height > 0 and all(b.width > 0 and b.height >= 3 for b in boxes)
    assert sections({"panels": "nope"}) == [] and sections({}) == []


def test_units_thresholds_mappings_and_reducers():
    assert format_value(0.5, "percentunit") == "50.0%" and format_value(93.25, "percent") == "93.2%"
    assert format_value(1.5 * 2**30, "bytes") == "1.50 GiB" and format_value(2.5e6, "bps") == "2.5 Mb/s"
    assert format_value(0.1375, "s") == "138ms" and format_value(3 * 86400, "s") == "3 day"
    assert format_value(3.0, "reqps") == "3 req/s" and format_value(1234.5, "currencyEUR") == "€1,234"
    assert format_value(1200, "short") == "1.2k" and format_value(2.0, "short", 2) == "2.00"
    assert format_value(None, "bytes") == "–" and format_value(math.inf, "s") == "+Inf"
    defaults = {"unit": "percentunit", "thresholds": {"mode": "absolute", "steps": [
        {"color": "green", "value": None}, {"color": "orange", "value": 0.7}, {"color": "dark-red", "value": 0.9}]}}
    assert [threshold_colour(v, defaults) for v in (0.1, 0.7, 0.95)] == ["green", "dark_orange", "red"]
    pct = {"min": 0, "max": 200, "thresholds": {"mode": "percentage", "steps": [{"color": "green", "value": None},
                                                                               {"color": "red", "value": 50}]}}
    assert threshold_colour(99, pct) == "green" and threshold_colour(100, pct) == "red"
    state = {"mappings": [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"},
                                                       "1": {"text": "UP", "color": "green"}}}]}
    assert display(0.0, state) == ("DOWN", "red") and display(1.0, state) == ("UP", "green")
    assert display(0.5, state) == ("0.5", "")
    assert colour("rgba(245, 54, 54, 0.9)") == "#f53636" and colour("#FF780A") == "#ff780a" and colour(7) == ""
    values = [1.0, math.nan, 4.0, 3.0]
    assert [reduce(values, c) for c in ("lastNotNull", "max", "min", "sum", "count", "range")] == [
        3.0, 4.0, 1.0, 8.0, 3.0, 3.0]
    assert reduce([], "mean") is None and reduce([math.nan], "lastNotNull") is None


def test_a_stat_draws_its_leading_number_in_digits_and_anything_else_as_text():
    def big(v, unit):
        spec = PanelSpec(id=1, type="stat", title="t", x=0, y=0, w=4, h=4, defaults={"unit": unit})
        return [line.plain for line in StatPanel(spec).big(v, 30, 5) if line.plain.strip()]

    digits = big(0.633, "percentunit")
    assert len(digits) == 3 and digits[2].rstrip().endswith("%") and "•" in digits[2]  # 63.3 in 3x3 digits
    assert big(12 * 86400 + 3 * 3600, "dtdurations") == [" " * 12 + "12d03h"]  # digits in the unit: as text
    assert big(1.5e30, "short") == [" " * 11 + "1.5e+18T"]
    assert big(1234.0, "currencyEUR") == [" " * 12 + "€1,234"]
