"""A Grafana dashboard's panels as the console lays them out: read leniently from the JSON (any
dashboard may be dropped in), grouped into row sections, and placed from ``gridPos`` scaled to the
terminal — Grafana's 24 columns spread over the width, one panel column on a narrow terminal."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

GRID_COLUMNS = 24
ROW_SCALE = 1.25
"""Terminal rows per Grafana grid unit (30 px): an 8-unit chart gets 10 rows, room for its legend."""
NARROW_BELOW = 100
"""Narrower terminals (80x24) get one panel column."""
MAX_PANELS = 500
"""Most panels drawn from one dashboard (node-exporter-full has about 150)."""
ALIASES = {"graph": "timeseries", "singlestat": "stat"}
"""Older Grafana panel types that draw the same way as their successors."""
MAX_TARGETS = 26
"""Most queries kept per panel (refIds A to Z): a hostile file cannot make one panel a flood."""
MIN_ROWS = {"stat": 3, "gauge": 4, "text": 3}
"""Fewest rows a panel needs for its border and content (others: 5)."""


@dataclass(frozen=True)
class Target:
    ref_id: str
    expr: str
    legend: str
    instant: bool


@dataclass
class PanelSpec:
    id: int
    type: str
    title: str
    x: int
    y: int
    w: int
    h: int
    targets: list[Target] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    """``fieldConfig.defaults``: unit, decimals, min, max, thresholds, mappings."""
    options: dict[str, Any] = field(default_factory=dict)
    transformations: list[Any] = field(default_factory=list)


@dataclass
class Section:
    """A row and the panels under it (the panels before the first row have no row)."""

    row: PanelSpec | None
    panels: list[PanelSpec]
    collapsed: bool = False


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int


def _int(value: Any, default: int, lo: int = 0, hi: int = 10_000) -> int:
    return max(lo, min(hi, value)) if isinstance(value, int) and not isinstance(value, bool) else default


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _targets(raw: Any) -> list[Target]:
    out: list[Target] = []
    for i, t in enumerate(raw[:MAX_TARGETS] if isinstance(raw, list) else []):
        if not isinstance(t, dict) or t.get("hide") is True or not isinstance(t.get("expr"), str):
            continue
        if not t["expr"].strip():
            continue
        ref = t.get("refId") if isinstance(t.get("refId"), str) else chr(ord("A") + i % 26)
        legend = t.get("legendFormat") if isinstance(t.get("legendFormat"), str) else ""
        out.append(Target(ref, t["expr"], legend, t.get("instant") is True and t.get("range") is not True))
    return out


def panel_spec(raw: dict[str, Any], index: int) -> PanelSpec:
    """One panel; missing or odd fields get Grafana's defaults (a panel is never dropped for them)."""
    grid = _dict(raw.get("gridPos"))
    kind = raw.get("type") if isinstance(raw.get("type"), str) else "unknown"
    title = raw.get("title") if isinstance(raw.get("title"), str) else ""
    return PanelSpec(id=_int(raw.get("id"), index, 0, 2**31), type=ALIASES.get(kind, kind), title=title,
                     x=_int(grid.get("x"), 0, 0, GRID_COLUMNS - 1), y=_int(grid.get("y"), 0),
                     w=_int(grid.get("w"), 12, 1, GRID_COLUMNS), h=_int(grid.get("h"), 8, 1, 200),
                     targets=_targets(raw.get("targets")),
                     defaults=_dict(_dict(raw.get("fieldConfig")).get("defaults")),
                     options=_dict(raw.get("options")),
                     transformations=raw.get("transformations") if isinstance(raw.get("transformations"), list) else [])


def sections(dashboard: dict[str, Any]) -> list[Section]:
    """Rows and their panels, in Grafana's order: an expanded row owns the top-level panels after it,
    a collapsed one carries its panels inside it."""
    raw_panels = dashboard.get("panels")
    out: list[Section] = []
    current = Section(None, [])
    count = 0
    for raw in raw_panels if isinstance(raw_panels, list) else []:
        if not isinstance(raw, dict) or count >= MAX_PANELS:
            continue
        count += 1
        spec = panel_spec(raw, count)
        if spec.type != "row":
            if current.collapsed:  # Grafana shows panels after a collapsed row's own ones, outside it
                out.append(current)
                current = Section(None, [])
            current.panels.append(spec)
            continue
        if current.row is not None or current.panels:
            out.append(current)
        inner = raw.get("panels") if isinstance(raw.get("panels"), list) else []
        current = Section(spec, [panel_spec(p, count + i + 1) for i, p in enumerate(inner[:MAX_PANELS - count])
                                 if isinstance(p, dict)], collapsed=raw.get("collapsed") is True)
        count += len(current.panels)
    if current.row is not None or current.panels:
        out.append(current)
    return out


def layout(panels: list[PanelSpec], width: int) -> tuple[list[Box], int]:
    """Where each panel goes in a section ``width`` cells wide, and the section's height in rows.

    Wide: x and w scaled from 24 columns; every grid line y maps to a row, ``ROW_SCALE`` rows per
    unit, pushed down where a panel above needs more than that (its minimum), so panels that did
    not overlap in Grafana do not overlap here. Narrow: one column, in Grafana's reading order (top, then left).
    """
    if not panels:
        return [], 0
    if width < NARROW_BELOW:
        boxes, y = {}, 0
        for i in sorted(range(len(panels)), key=lambda i: (panels[i].y, panels[i].x)):
            h = _rows(panels[i])
            boxes[i] = Box(0, y, width, h)
            y += h
        return [boxes[i] for i in range(len(panels))], y
    top = min(p.y for p in panels)
    lines = sorted({p.y - top for p in panels} | {p.y + p.h - top for p in panels})
    row_of = {lines[0]: 0}
    pushed = 0  # rows added so far for panels' minimum heights
    for a, b in zip(lines, lines[1:], strict=False):
        needed = [row_of[p.y - top] + MIN_ROWS.get(p.type, 5) for p in panels if p.y + p.h - top == b]
        row_of[b] = max([row_of[a] + 1, round(b * ROW_SCALE) + pushed, *needed])
        pushed = row_of[b] - round(b * ROW_SCALE)
    boxes = []
    for p in panels:
        x0 = round(p.x * width / GRID_COLUMNS)
        x1 = round(min(GRID_COLUMNS, p.x + p.w) * width / GRID_COLUMNS)
        y0 = row_of[p.y - top]
        boxes.append(Box(x0, y0, max(1, x1 - x0), row_of[p.y + p.h - top] - y0))
    return boxes, max(b.y + b.height for b in boxes)


def _rows(panel: PanelSpec) -> int:
    return max(MIN_ROWS.get(panel.type, 5), math.ceil(panel.h * ROW_SCALE))
