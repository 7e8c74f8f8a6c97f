"""How a Grafana panel turns numbers into what it shows: units, decimals, value mappings, threshold
colours and the reducers of stat, gauge and bar gauge panels. Read from a panel's
``fieldConfig.defaults`` and ``options.reduceOptions``; anything unknown falls back to a plain number,
since the dashboards may be anyone's."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from console import format as fmt
from console.widgets.series_chart import short_number

_COLOURS = {"green": "green", "red": "red", "orange": "dark_orange", "yellow": "yellow", "blue": "blue",
            "purple": "magenta", "super-light": "", "text": ""}
_CURRENCY = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def colour(name: Any) -> str:
    """A Grafana colour (``green``, ``dark-red``, ``#FF780A``, ``rgb(…)``) as a Rich colour; "" for
    the text colour or one we cannot read."""
    if not isinstance(name, str):
        return ""
    text = name.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return text
    m = re.fullmatch(r"rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*[\d.]+)?\)", text)
    if m:
        return "#" + "".join(f"{min(255, int(c)):02x}" for c in m.groups())
    base = re.sub(r"^(super-light|light|semi-dark|dark)-", "", text)
    return _COLOURS.get(base, "")


def _number(v: float, decimals: int | None) -> str:
    if decimals is not None:
        return f"{v:.{decimals}f}"
    return short_number(v)


def _scaled(v: float, decimals: int | None, unit: str) -> str:
    """SI prefixes: ``1.5 MB``, ``120 kb/s``."""
    for scale, suffix in _SI:
        if abs(v) >= scale:
            return f"{_number(v / scale, decimals)} {suffix}{unit}"
    return f"{_number(v, decimals)} {unit}"


def _duration(v: float) -> str:
    """Seconds as Grafana's ``s`` unit reads above a minute: ``3.2 min``, ``5.1 hour``, ``12.1 day``."""
    for scale, name in ((86400 * 365, "year"), (86400 * 7, "week"), (86400, "day"), (3600, "hour"), (60, "min")):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {name}"
    return fmt.seconds(v)


def format_value(v: float | None, unit: Any, decimals: Any = None) -> str:
    """``v`` in a Grafana unit: ``percentunit`` 0.5 → ``50.0%``, ``bytes`` → ``1.50 GiB``, ``s`` →
    ``138ms``, ``reqps`` → ``3.00 req/s``; ``short`` and unknown units as ``1.2k``."""
    if v is None:
        return fmt.DASH
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    dec = decimals if isinstance(decimals, int) and 0 <= decimals <= 10 else None
    u = unit if isinstance(unit, str) else ""
    if u == "percent":
        return f"{v:.{1 if dec is None else dec}f}%"
    if u == "percentunit":
        return f"{100 * v:.{1 if dec is None else dec}f}%"
    if u in ("bytes", "decbytes", "bits"):
        return fmt.size(v) if u == "bytes" else _scaled(v, dec, "B" if u == "decbytes" else "b")
    if u in ("Bps", "binBps"):
        return fmt.rate(v)
    if u in ("bps", "decbps"):
        return _scaled(v, dec, "b/s")
    if u == "s":
        return _duration(v)
    if u == "ms":
        return _duration(v / 1000)
    if u in ("dtdurations", "dtdurationms"):
        return fmt.age(v if u == "dtdurations" else v / 1000)
    if u in ("reqps", "ops", "rps", "wps", "iops", "opm", "reqpm", "cps", "pps"):
        suffix = {"reqps": "req/s", "rps": "reads/s", "wps": "writes/s", "opm": "ops/min", "reqpm": "req/min",
                  "cps": "c/s", "pps": "p/s"}.get(u, u if u != "ops" else "ops/s")
        return f"{_number(v, dec)} {suffix}"
    if u.startswith("currency"):
        symbol = _CURRENCY.get(u.removeprefix("currency"), u.removeprefix("currency") + " ")
        return symbol + (fmt.amount(v) if dec is None else f"{v:,.{dec}f}")
    if u.startswith("suffix:"):
        return _number(v, dec) + u.removeprefix("suffix:")
    if u.startswith("prefix:"):
        return u.removeprefix("prefix:") + _number(v, dec)
    return _number(v, dec)


# -- value mappings and thresholds ------------------------------------------------------------------


def mapped(v: float | None, mappings: Any) -> tuple[str, str] | None:
    """(text, colour) of the first value mapping that applies to ``v``, None if none does."""
    for m in mappings if isinstance(mappings, list) else []:
        if not isinstance(m, dict) or not isinstance(m.get("options"), dict):
            continue
        options, result = m["options"], None
        if m.get("type") == "value" and v is not None:
            for key, res in options.items():
                try:
                    if float(key) == v:
                        result = res
                        break
                except ValueError:
                    continue
        elif m.get("type") == "range" and v is not None:
            lo, hi = options.get("from"), options.get("to")
            if (not isinstance(lo, (int, float)) or v >= lo) and (not isinstance(hi, (int, float)) or v <= hi):
                result = options.get("result")
        elif m.get("type") == "special" and options.get("match") in ("null", "nan", "null+nan"):
            if v is None or math.isnan(v):
                result = options.get("result")
        if isinstance(result, dict):
            text = result.get("text")
            return (text if isinstance(text, str) else "", colour(result.get("color")))
    return None


def threshold_colour(v: float | None, defaults: dict[str, Any]) -> str:
    """The colour of the highest threshold step at or below ``v`` (steps in percent of min..max when
    the mode is ``percentage``); "" with no thresholds."""
    thresholds = defaults.get("thresholds")
    steps = thresholds.get("steps") if isinstance(thresholds, dict) else None
    if v is None or not isinstance(steps, list) or math.isnan(v):
        return ""
    value = v
    if thresholds.get("mode") == "percentage":
        lo, hi = defaults.get("min", 0), defaults.get("max", 100)
        if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)) or hi <= lo:
            return ""
        value = 100 * (v - lo) / (hi - lo)
    chosen = ""
    for step in steps:
        if not isinstance(step, dict):
            continue
        at = step.get("value")
        if at is None or isinstance(at, (int, float)) and value >= at:
            chosen = colour(step.get("color"))
    return chosen


def display(v: float | None, defaults: dict[str, Any]) -> tuple[str, str]:
    """(text, colour) of a value as a stat shows it: a mapping first, else the unit and thresholds."""
    hit = mapped(v, defaults.get("mappings"))
    text = format_value(v, defaults.get("unit"), defaults.get("decimals"))
    if hit is not None:
        return hit[0] or text, hit[1] or threshold_colour(v, defaults)
    return text, threshold_colour(v, defaults)


# -- reducers ------------------------------------------------------------------------------------------


def reduce(values: Sequence[float], calc: str) -> float | None:
    """Grafana's reducer ``calc`` over a series' values (NaN counts as null); lastNotNull if unknown."""
    real = [v for v in values if not math.isnan(v)]
    if calc == "last":
        return values[-1] if values else None
    if calc in ("first", "firstNotNull"):
        return (values if calc == "first" else real)[0] if (values if calc == "first" else real) else None
    if not real:
        return None
    if calc == "mean":
        return sum(real) / len(real)
    if calc == "max":
        return max(real)
    if calc == "min":
        return min(real)
    if calc == "sum":
        return sum(real)
    if calc == "count":
        return float(len(real))
    if calc == "range":
        return max(real) - min(real)
    if calc in ("delta", "diff"):
        return real[-1] - real[0]
    return real[-1]


def calc_of(options: Any) -> str:
    """The first reducer of a panel's ``options.reduceOptions.calcs``."""
    reduce_options = options.get("reduceOptions") if isinstance(options, dict) else None
    calcs = reduce_options.get("calcs") if isinstance(reduce_options, dict) else None
    return calcs[0] if isinstance(calcs, list) and calcs and isinstance(calcs[0], str) else "lastNotNull"
