"""Functions over instant vectors and scalars, applied to every step of a query at once.

Rows are ``(labels, values)`` with one value (or None) per step; scalar arguments are lists with
one value per step. Most functions drop the metric name, as Prometheus does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import cmp_to_key
from itertools import groupby

from engine.compat.regex import RegexError, ResultTooLarge, compile_anchored
from engine.compat.strconv import NumError, format_float, parse_float, to_bytes
from engine.promql import gomath
from engine.promql.errors import execution
from engine.promql.gomath import INF, NAN
from engine.promql.labels import BUCKET, NAME, drop_name, get, is_valid_label_name, set_label
from engine.promql.rows import Row
from engine.promql.stats import bucket_fraction, bucket_quantile
from engine.tsdb.types import Labels


def _sgn(v: float) -> float:
    if v < 0:
        return -1.0
    if v > 0:
        return 1.0
    return v


def _go_math(fn: Callable[[float], float], overflow: Callable[[float], float]) -> Callable[[float], float]:
    """A Python math function with Go's answers where Python raises: NaN outside the domain,
    ``overflow(x)`` when the result does not fit a float."""
    def call(x: float) -> float:
        try:
            return fn(x)
        except ValueError:
            return NAN
        except OverflowError:
            return overflow(x)
    return call


def _atanh(x: float) -> float:
    if x in (1.0, -1.0):
        return math.copysign(INF, x)
    return _go_math(math.atanh, abs)(x)


def _signed_inf(x: float) -> float:
    return math.copysign(INF, x)


def _inf(_: float) -> float:
    return INF


MATH: dict[str, Callable[[float], float]] = {
    **{name: _go_math(getattr(math, name), _inf)
       for name in ("sin", "cos", "tan", "asin", "acos", "atan", "tanh", "asinh", "acosh")},
    "sinh": _go_math(math.sinh, _signed_inf),
    "cosh": _go_math(math.cosh, _inf),
    "atanh": _atanh,
    "deg": lambda v: v * 180 / math.pi,
    "rad": lambda v: v * math.pi / 180,
    "abs": abs,
    "ceil": gomath.ceil,
    "floor": gomath.floor,
    "exp": gomath.exp,
    "ln": gomath.ln,
    "log2": gomath.log2,
    "log10": gomath.log10,
    "sqrt": gomath.sqrt,
    "sgn": _sgn,
}


def apply_math(rows: Iterable[Row], fn: Callable[[float], float]) -> list[Row]:
    return [(drop_name(labels), [None if v is None else fn(v) for v in vals]) for labels, vals in rows]


def clamp(rows: Iterable[Row], lower: list[float], upper: list[float]) -> list[Row]:
    """``clamp``: no output at a step where max < min."""
    out = []
    for labels, vals in rows:
        clamped = [None if v is None or hi < lo else gomath.go_max(lo, gomath.go_min(hi, v))
                   for v, lo, hi in zip(vals, lower, upper, strict=True)]
        out.append((drop_name(labels), clamped))
    return out


def round_(rows: Iterable[Row], to_nearest: list[float]) -> list[Row]:
    """Round to the nearest multiple of ``to_nearest``, ties up, via its inverse like Prometheus."""
    inverses = [gomath.div(1.0, t) for t in to_nearest]
    return [(drop_name(labels), [None if v is None else gomath.div(gomath.floor(v * inv + 0.5), inv)
                                 for v, inv in zip(vals, inverses, strict=True)])
            for labels, vals in rows]


# --- dates (UTC) ----------------------------------------------------------------------------

def _civil(days: int) -> tuple[int, int, int]:
    """Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian, any range)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_CUMULATIVE_DAYS = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _date_part(name: str, seconds: int) -> float:
    days, rem = divmod(seconds, 86400)
    if name == "hour":
        return float(rem // 3600)
    if name == "minute":
        return float(rem % 3600 // 60)
    if name == "day_of_week":
        return float((days + 4) % 7)
    year, month, day = _civil(days)
    if name == "year":
        return float(year)
    if name == "month":
        return float(month)
    if name == "day_of_month":
        return float(day)
    if name == "day_of_year":
        return float(_CUMULATIVE_DAYS[month - 1] + day + (month > 2 and _leap(year)))
    return float(29 if month == 2 and _leap(year) else _MONTH_DAYS[month - 1])


DATE_FUNCTIONS = frozenset(("minute", "hour", "day_of_week", "day_of_month", "day_of_year",
                            "days_in_month", "month", "year"))


def date_of_steps(name: str, steps: list[int]) -> list[Row]:
    """A date function without argument: the evaluation time, as one series without labels."""
    return [((), [_date_part(name, t // 1000 if t >= 0 else -(-t // 1000)) for t in steps])]


def date_of_values(name: str, rows: Iterable[Row]) -> list[Row]:
    """Sample values are Unix seconds (truncated like Go's int64 conversion)."""
    def part(v: float) -> float:
        if v != v or math.isinf(v):
            return math.nan
        return _date_part(name, math.trunc(v))
    return [(drop_name(labels), [None if v is None else part(v) for v in vals]) for labels, vals in rows]


# --- labels ---------------------------------------------------------------------------------

MAX_LABEL_REPLACE_BYTES = 64 * 1024
"""Largest value label_replace may build: ``$1`` repeated in a long replacement multiplies the source value."""


def _printable(name: str) -> str:
    """A name for a message: invalid bytes as U+FFFD, as Go's JSON encoding writes them."""
    return to_bytes(name).decode("utf-8", "replace")


def label_replace(rows: Iterable[Row], dst: str, replacement: str, src: str, pattern: str) -> list[Row]:
    try:
        regex = compile_anchored(pattern)  # RE2: linear time whatever the pattern
    except RegexError:
        raise execution(f"invalid regular expression in label_replace(): {pattern}") from None
    if not is_valid_label_name(dst):
        raise execution(f"invalid destination label name in label_replace(): {_printable(dst)}")
    out = []
    for labels, vals in rows:
        try:
            value = regex.expand(replacement, get(labels, src), MAX_LABEL_REPLACE_BYTES)
        except ResultTooLarge as exc:
            raise execution(f"label_replace(): the new value of {dst} {exc}") from None
        if value is not None:
            labels = set_label(labels, dst, value)
        out.append((labels, vals))
    return out


def label_join(rows: Iterable[Row], dst: str, separator: str, sources: list[str]) -> list[Row]:
    for src in sources:
        if not is_valid_label_name(src):
            raise execution(f"invalid source label name in label_join(): {_printable(src)}")
    if not is_valid_label_name(dst):
        raise execution(f"invalid destination label name in label_join(): {_printable(dst)}")
    return [(set_label(labels, dst, separator.join(get(labels, s) for s in sources)), vals)
            for labels, vals in rows]


# --- ordering, vector/scalar conversion -----------------------------------------------------

def sort_rows(rows: list[Row], descending: bool) -> list[Row]:
    """Order a single-step result by value, NaN last (ranges are ordered by labels anyway)."""
    if not rows or len(rows[0][1]) != 1:
        return rows
    numbers = [r for r in rows if r[1][0] == r[1][0]]
    nans = [r for r in rows if r[1][0] != r[1][0]]
    numbers.sort(key=lambda r: r[1][0], reverse=descending)
    return numbers + nans


_MAX_INT = 2**63 - 1


def _chunks(text: str) -> list[str]:
    """Runs of ASCII digits and runs of anything else."""
    return ["".join(run) for _, run in groupby(text, key=lambda c: "0" <= c <= "9")]


def _natural_less(a: str, b: str) -> bool:
    """``natsort.Compare`` (facette/natsort), which Prometheus's sort_by_label uses: digit runs
    compare as integers (when they fit an int64), other runs as strings."""
    chunks_a, chunks_b = _chunks(a), _chunks(b)
    last_a, last_b = len(chunks_a) - 1, len(chunks_b) - 1
    for i, ca in enumerate(chunks_a):
        if i > last_b:
            return False
        cb = chunks_b[i]
        if "0" <= ca[0] <= "9" and "0" <= cb[0] <= "9" and int(ca) <= _MAX_INT and int(cb) <= _MAX_INT:
            if int(ca) != int(cb):
                return int(ca) < int(cb)
        elif ca != cb:
            return ca < cb
        if i == last_a:
            return True
        if i == last_b:
            return False
    return False


def sort_by_label(rows: list[Row], names: list[str], descending: bool) -> list[Row]:
    """Order by the given labels' values in natural order, then by the whole label set; as in
    Prometheus, only an instant result's order shows (ranges are ordered by labels anyway)."""
    def compare(a: Row, b: Row) -> int:
        la, lb = dict(a[0]), dict(b[0])
        for name in names:
            va, vb = la.get(name, ""), lb.get(name, "")
            if va != vb:
                before = _natural_less(va, vb)
                return (1 if before else -1) if descending else (-1 if before else 1)
        order = (a[0] > b[0]) - (a[0] < b[0])
        return -order if descending else order
    return sorted(rows, key=cmp_to_key(compare))


def scalar(rows: Iterable[Row], size: int) -> list[float]:
    """The single sample's value at each step, NaN when there are none or several."""
    out = [math.nan] * size
    counts = [0] * size
    for _, vals in rows:
        for i, v in enumerate(vals):
            if v is not None:
                counts[i] += 1
                out[i] = v
    return [v if c == 1 else math.nan for v, c in zip(out, counts, strict=True)]


def absent_labels(matchers) -> Labels:
    """Labels of ``absent()``'s output: each label with exactly one equality matcher."""
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for m in matchers:
        if m.name == NAME:
            continue
        if m.op == "=" and m.name not in seen:
            labels[m.name] = m.value
            seen.add(m.name)
        else:
            labels.pop(m.name, None)
    return tuple(sorted((k, v) for k, v in labels.items() if v != ""))


# --- histogram_quantile, histogram_fraction ------------------------------------------------

def histogram_quantile(rows: Iterable[Row], qs: list[float], size: int) -> list[Row]:
    """One quantile per classic histogram and step."""
    return _per_histogram(rows, size, lambda i, bounds, counts: bucket_quantile(qs[i], bounds, counts))


def histogram_quantiles(rows: list[Row], label: str, qs: list[list[float]], size: int) -> list[Row]:
    """Several quantiles of each classic histogram, each labelled ``label="<q>"`` (q written as
    OpenMetrics writes it, ``0.0``, ``0.25``); a label the series already have is overwritten, and
    series that then collide are Prometheus's duplicate-labelset error."""
    out: list[Row] = []
    for q in qs:
        for labels, vals in histogram_quantile(rows, q, size):
            by_q: dict[str, list] = {}
            for i, v in enumerate(vals):
                if v is not None:
                    by_q.setdefault(_openmetrics_float(q[i]), [None] * size)[i] = v
            out.extend((set_label(labels, label, text), split) for text, split in by_q.items())
    return out


def _openmetrics_float(f: float) -> str:
    """Prometheus's ``formatOpenMetricsFloat``: Go's shortest form, with ``.0`` on whole numbers."""
    if f != f:
        return "NaN"
    if f == INF:
        return "+Inf"
    if f == -INF:
        return "-Inf"
    text = format_float(f, "g", -1)
    return text if "e" in text or "." in text else text + ".0"


def histogram_fraction(rows: Iterable[Row], lower: list[float], upper: list[float], size: int) -> list[Row]:
    """The estimated fraction of observations between ``lower`` and ``upper`` per classic
    histogram and step."""
    return _per_histogram(rows, size, lambda i, bounds, counts: bucket_fraction(lower[i], upper[i], bounds, counts))


def _per_histogram(rows: Iterable[Row], size: int,
                   reduce: Callable[[int, list[float], list[float]], float]) -> list[Row]:
    """Classic histograms: series grouped by their labels except ``le`` (buckets with an
    unparsable ``le`` are ignored); ``reduce(step, bounds, counts)`` per group and step over the
    buckets present, labelled without the metric name and ``le``."""
    groups: dict[Labels, int] = {}
    out_labels: list[Labels] = []
    members: list[list[tuple[float, list]]] = []
    for labels, vals in rows:
        try:
            bound = parse_float(get(labels, BUCKET))
        except NumError:  # Prometheus skips a bucket whose le ParseFloat refuses, 1e400 included
            continue
        key = tuple([p for p in labels if p[0] != BUCKET])
        gi = groups.get(key)
        if gi is None:
            gi = groups[key] = len(members)
            members.append([])
            out_labels.append(tuple([p for p in key if p[0] != NAME]))
        members[gi].append((bound, vals))
    out = []
    for labels, buckets in zip(out_labels, members, strict=True):
        buckets.sort(key=_bound)  # once per group: the order of bounds is the same at every step
        all_bounds = [b for b, _ in buckets]
        vals = []
        for i in range(size):
            counts = [v[i] for _, v in buckets]
            if None in counts:
                present = [(b, c) for b, c in zip(all_bounds, counts, strict=True) if c is not None]
                if not present:
                    vals.append(None)
                    continue
                vals.append(reduce(i, [b for b, _ in present], [c for _, c in present]))
            else:
                vals.append(reduce(i, all_bounds, counts))
        out.append((labels, vals))
    return out


def _bound(bucket: tuple[float, list]) -> float:
    return bucket[0]
