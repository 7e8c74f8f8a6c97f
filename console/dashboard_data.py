"""A dashboard panel's data: its targets, variables filled in, run through the server's
``/api/v1/query_range`` (or ``/api/v1/query`` for instant targets and tables), a bounded number at a
time, and the answers turned into labelled series."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from console.client import ServerClient
from console.dashboard_layout import PanelSpec, Target
from engine.grafana_vars import TemplateError, Variable, builtins, interpolate

MAX_CONCURRENT = 4
"""Queries in flight at once for one dashboard: a big dashboard cannot flood the server."""
MAX_SERIES = 100
"""Series kept per panel; a panel that would draw thousands of lines shows how many it dropped."""
POINTS = 240
"""Points per series over the range: enough for a 120-column braille chart (two dots per cell)."""
STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
_LEGEND_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Window:
    """The time span every panel of a refresh asks for; ``end`` on a step boundary, so a refresh
    with no new samples gets the same answer (and draws nothing)."""

    range_s: int
    step_s: int
    end: float

    @property
    def start(self) -> float:
        return self.end - self.range_s


def window(range_s: int, now: float) -> Window:
    step = next((s for s in STEPS if s * POINTS >= range_s), STEPS[-1])
    return Window(range_s, step, math.floor(now / step) * step)


@dataclass(frozen=True)
class Frame:
    """One series of a panel: its legend, labels, target and points (one point for an instant query)."""

    label: str
    labels: tuple[tuple[str, str], ...]
    ref_id: str
    points: tuple[tuple[float, float], ...]

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]


@dataclass(frozen=True)
class PanelData:
    frames: tuple[Frame, ...] = ()
    error: str = ""
    dropped: int = 0
    """Series beyond MAX_SERIES, not kept."""


def legend(fmt: str, labels: Mapping[str, str]) -> str:
    """A series' name from the target's ``legendFormat`` (``{{label}}`` replaced), or Grafana's
    automatic one: the metric name and its labels."""
    if fmt and fmt != "__auto":
        return _LEGEND_RE.sub(lambda m: labels.get(m.group(1), ""), fmt)
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest else name or "value"


def _float(text: object) -> float | None:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def frames(data: object, target: Target) -> list[Frame]:
    """The series of a Prometheus API ``data`` (matrix, vector or scalar) under ``target``'s legend."""
    if not isinstance(data, dict):
        return []
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        value = _float(result[1])
        if value is None:
            return []
        return [Frame(target.legend or "value", (), target.ref_id, ((float(result[0]), value),))]
    out = []
    for item in result if isinstance(result, list) else []:
        if not isinstance(item, dict):
            continue
        labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
        raw = item.get("values") if kind == "matrix" else [item.get("value")]
        points = []
        for pair in raw if isinstance(raw, list) else []:
            if isinstance(pair, list) and len(pair) == 2:
                t, v = _float(pair[0]), _float(pair[1])
                if t is not None and v is not None:
                    points.append((t, v))
        out.append(Frame(legend(target.legend, labels), tuple(sorted(labels.items())), target.ref_id, tuple(points)))
    return out


def instant(panel: PanelSpec, target: Target) -> bool:
    """Tables and instant targets ask for one value at the end of the range."""
    return target.instant or panel.type == "table"


async def fetch(client: ServerClient, panel: PanelSpec, variables: Mapping[str, Variable], span: Window,
                limit: asyncio.Semaphore) -> PanelData:
    """Every target of ``panel`` (at most ``limit``'s count of queries in flight across the dashboard);
    the first error is the panel's error."""
    values = builtins(span.range_s, span.step_s, span.end)

    async def one(target: Target) -> tuple[list[Frame], str]:
        try:
            expr = interpolate(target.expr, variables, values)
        except TemplateError as exc:
            return [], str(exc)
        async with limit:
            if instant(panel, target):
                reply = await client.prom_query(expr, span.end)
            else:
                reply = await client.prom_query_range(expr, span.start, span.end, span.step_s)
        return (frames(reply.data, target), "") if reply.ok else ([], f"{target.ref_id}: {reply.error}")

    answers = await asyncio.gather(*(one(t) for t in panel.targets))
    found = [f for fs, _ in answers for f in fs]
    error = next((e for _, e in answers if e), "")
    return PanelData(tuple(found[:MAX_SERIES]), error, max(0, len(found) - MAX_SERIES))
