"""The JSON push API (``/api/metrics/custom``, ``/business``, ``/batch``): client-library semantics on
the server side.

A counter item is an increment, a gauge item a set, a histogram or summary item one observation.
The resulting state (counter totals, bucket counts, summary windows) lives here, is re-exposed every
collection cycle as a Pushgateway's metrics are re-scraped (so a pushed series stays current and
queryable until replaced), and is saved with the pushed groups (see ``PushState``).
"""

from __future__ import annotations

import asyncio
import math
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from engine.ingest.admission import MAX_FUTURE_MS, Admission, Outcome, Refusal
from engine.tsdb.types import Family, Labels, Metadata, make_labels

PUSH_TYPES = ("counter", "gauge", "histogram", "summary")
DEFAULT_BUCKETS = (.005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""prometheus_client's and client_golang's default histogram buckets (+Inf is implied)."""
DEFAULT_QUANTILES = (0.5, 0.9, 0.99)
"""client_golang's former DefObjectives (current client libraries default to no quantiles at all)."""
SUMMARY_WINDOW = 500
"""Observations a summary keeps per series for its quantiles (the latest ones, within SUMMARY_MAX_AGE_MS)."""
SUMMARY_MAX_AGE_MS = 600_000
"""client_golang's DefMaxAge: quantiles describe the last ten minutes."""
MAX_BUCKETS = 64
MAX_HELP = 4096
ITEM_FIELDS = frozenset({"name", "type", "value", "labels", "help", "timestamp", "buckets", "quantiles"})
PLAIN_FIELDS = frozenset({"name", "type", "value", "labels"})
"""An item with only these fields, for a series already pushed, needs only its value checked: a
value that fails it goes through the full checks, which explain the refusal."""
EMPTY: dict[str, str] = {}
KNOWN_MAX = 65_536
"""Entries of the hot path's cache (a few hundred bytes each); it starts over when full."""
STEP_S = 0.004
"""Work done between two returns to the event loop when ingesting a big request."""
STEP_SAMPLES = 200
"""Samples written between two returns to the event loop (~4 ms when each creates a series)."""

BUSINESS_METRICS: dict[str, str] = {
    "bookings_total": "counter",
    "revenue_total": "counter",
    "active_users": "gauge",
    "conversion_funnel_step_total": "counter",
    "customer_satisfaction_score": "histogram",
}
"""What ``POST /api/metrics/business`` takes: the names the Business view reads, with their types."""
BUSINESS_BUCKETS = {"customer_satisfaction_score": (1.0, 2.0, 3.0, 4.0, 5.0)}
"""Defaults for business histograms: a satisfaction score is a 1-5 rating."""


T = TypeVar("T")
Steps = Generator[None, None, T]
"""Work that yields between bounded chunks so the event loop serves others meanwhile."""


async def run_steps(steps: Steps[T]) -> T:
    """Drive stepped work on the event loop, letting other tasks run between its steps."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await asyncio.sleep(0)


class PlainItem(msgspec.Struct, forbid_unknown_fields=True):
    """An item with only name, type, value and labels, the shape of nearly every pushed item."""

    name: str
    type: str
    value: float
    labels: dict[str, str] = {}


class PlainBatch(msgspec.Struct):
    metrics: list[PlainItem]


_PLAIN_BATCH = msgspec.json.Decoder(PlainBatch)


def plain_batch(raw: bytes) -> list[PlainItem] | None:
    """A batch body of plain items only, decoded with its types checked in one pass (~5x cheaper
    than JSON into dicts and checking each); None when the body is anything else, which the general
    path then reads and, item by item, explains."""
    try:
        return _PLAIN_BATCH.decode(raw).metrics
    except msgspec.MsgspecError:
        return None


class PushError(ValueError):
    """A whole request refused (bad shape, too many items); ``field`` names what was wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(slots=True)
class Item:
    """One checked push item."""

    name: str
    type: str
    value: float
    labels: dict[str, str]
    help: str
    t: int | None
    bounds: tuple[float, ...] | None


@dataclass(slots=True)
class SeriesState:
    """A pushed series' value (counter total, gauge) or its histogram buckets / summary window."""

    value: float = 0.0
    labels: Labels = ()
    """The series' full label set (with ``__name__``) for a counter or gauge: what the store is given."""
    counts: list[float] | None = None
    total: float = 0.0
    count: float = 0.0
    window: deque[tuple[int, float]] | None = None


@dataclass(slots=True)
class PushedFamily:
    name: str
    type: str
    help: str
    bounds: tuple[float, ...] = ()
    """Histogram upper bounds (without +Inf) or summary quantiles, fixed on first use."""
    series: dict[Labels, SeriesState] = field(default_factory=dict)
    """By the labels given (without the name), as a sorted tuple."""


@dataclass(slots=True)
class PushResult:
    accepted: int = 0
    rejected: list[Refusal] = field(default_factory=list)


class PushStore:
    """The push API's families and their series' state."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.families: dict[str, PushedFamily] = {}
        """By name, whichever endpoint pushed them: a series has one state (``source`` only labels
        the ingestion counters and restricts the business endpoint's names)."""
        self.dirty = False
        self._known: dict[tuple[str, Any, Any, Any], tuple[PushedFamily, Labels]] = {}
        """(source, name, type, labels as given) of a series already pushed: its family and key, so a
        repeated item skips the name and label checks it passed once (the push hot path)."""

    # -- items -------------------------------------------------------------------------------

    def parse_item(self, raw: Any, source: str, now_ms: int, index: int = 0) -> Item | Refusal:
        """Check one JSON item's shape and values; a Refusal names the field."""
        if not isinstance(raw, dict):
            return Refusal("invalid_item", "", "an item must be a JSON object", index)
        extra = raw.keys() - ITEM_FIELDS
        if extra:
            name = sorted(extra)[0]
            return Refusal("unknown_field", name, f"unknown field {name!r}", index)
        name = raw.get("name")
        if not isinstance(name, str):
            return Refusal("invalid_metric_name", "name", "name: a string is required", index)
        type_ = raw.get("type")
        if source == "business":
            expected = BUSINESS_METRICS.get(name)
            if expected is None:
                return Refusal("not_business_metric", "name",
                               f"{name!r} is not a business metric: {', '.join(BUSINESS_METRICS)} "
                               "(others go to /api/metrics/custom)", index)
            if type_ is None:
                type_ = expected
            elif type_ != expected:
                return Refusal("type_conflict", "type", f"{name!r} is a {expected}", index)
        if type_ not in PUSH_TYPES:
            return Refusal("invalid_type", "type", f"type: one of {', '.join(PUSH_TYPES)}", index)
        value = raw.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return Refusal("invalid_value", "value", "value: a number is required", index)
        value = float(value)
        refusal = (self.admission.check_observation(value, type_) if type_ != "gauge"
                   else None)
        if refusal is not None:
            return _at(refusal, index)
        labels = raw.get("labels") or {}
        if not isinstance(labels, dict):
            return Refusal("invalid_labels", "labels", "labels: an object of strings is required", index)
        reserved = {"histogram": "le", "summary": "quantile"}.get(type_)
        if reserved in labels:
            return Refusal("reserved_label_name", f"labels.{reserved}", f"a {type_} sets {reserved!r} itself", index)
        help_ = raw.get("help", "")
        if not isinstance(help_, str) or len(help_) > MAX_HELP:
            return Refusal("invalid_help", "help", f"help: a string of at most {MAX_HELP} characters", index)
        t = _timestamp(raw.get("timestamp"), now_ms)
        if isinstance(t, str):
            return Refusal("invalid_timestamp", "timestamp", t, index)
        bounds = _bounds(raw, type_)
        if isinstance(bounds, Refusal):
            return _at(bounds, index)
        refusal = self.admission.check_family(name, type_) or self.admission.check_labels(labels)
        if refusal is not None:
            return _at(refusal, index)
        return Item(name, type_, value, labels, help_, t, bounds)

    def push(self, source: str, raw_items: list[Any], now_ms: int, atomic: bool = False) -> Steps[PushResult]:
        """Check every item, then apply those that passed (none if ``atomic`` and one did not) and
        write the touched series once each, at their time. A generator that yields every STEP_S of
        work (a 10,000-item batch of new series is ~0.2 s of it); ``run_steps`` drives it."""
        result = PushResult()
        pace = Pacer()
        items: list[tuple[int, Item]] = []
        families = self.families
        batch_types: dict[str, str] = {}
        batch_bounds: dict[str, tuple[float, ...] | None] = {}
        batch_last: dict[tuple[str, Labels], int] = {}
        pending: Counter[str] = Counter()
        known = self._known
        repeated: list[tuple[int, PushedFamily, Labels, float]] = []
        for i, raw in enumerate(raw_items):
            if not i & 63 and pace.due():
                yield
            if type(raw) is PlainItem:  # the hot path: a series pushed before
                hit = known.get((source, raw.name, raw.type, tuple(raw.labels.items())))
                if hit is not None:
                    value = raw.value
                    if (0 <= value < math.inf if hit[0].type == "counter"
                            else hit[0].type == "gauge" or math.isfinite(value)):
                        repeated.append((i, hit[0], hit[1], value))
                        continue
                raw = msgspec.structs.asdict(raw)
            elif type(raw) is dict and raw.keys() <= PLAIN_FIELDS:
                labels = raw.get("labels") or EMPTY
                try:
                    hit = known.get((source, raw.get("name"), raw.get("type"),
                                     tuple(labels.items()) if type(labels) is dict else labels))
                except TypeError:  # a list or object as name, type or label value: parse_item refuses it
                    hit = None
                if hit is not None:
                    value = raw.get("value")
                    if (type(value) is float or type(value) is int) and (
                            0 <= value < math.inf if hit[0].type == "counter"
                            else hit[0].type == "gauge" or math.isfinite(value)):
                        repeated.append((i, hit[0], hit[1], float(value)))
                        continue
            item = self.parse_item(raw, source, now_ms, i)
            if isinstance(item, Item):
                item = self._check_against_state(item, families, batch_types, batch_bounds, batch_last, pending, i)
            if isinstance(item, Refusal):
                result.rejected.append(item)
            else:
                items.append((i, item))
        self.admission.count(source, 0, result.rejected)
        if atomic and result.rejected:
            return result
        touched: dict[int, dict[str, dict[Labels, SeriesState]]] = {}
        applied = 0
        for n, (i, item) in enumerate(items):
            if not n & 63 and pace.due():
                yield
            key = _key(item.labels)
            fam = families.get(item.name)
            if fam is None:
                fam = families[item.name] = PushedFamily(item.name, item.type, item.help, self._bounds_for(item))
            elif fam.type != item.type or (item.bounds is not None and item.bounds != fam.bounds):
                # another request created the family differently while this one waited between steps
                result.rejected.append(Refusal("type_conflict", "type", f"{item.name!r} changed meanwhile", i))
                continue
            elif item.help:
                fam.help = item.help
            t = now_ms if item.t is None else item.t
            touched.setdefault(t, {}).setdefault(item.name, {})[key] = _apply(fam, key, item.value, t)
            applied += 1
            if item.t is None:
                if len(known) >= KNOWN_MAX:
                    known.clear()
                known[(source, item.name, item.type, tuple(item.labels.items()))] = (fam, key)
        now_touched = touched.setdefault(now_ms, {})
        for n, (_, fam, key, value) in enumerate(repeated):
            if not n & 63 and pace.due():
                yield
            now_touched.setdefault(fam.name, {})[key] = _apply(fam, key, value, now_ms)
        self.dirty = self.dirty or bool(applied) or bool(repeated)
        for t, names in sorted(touched.items()):
            for name, series in names.items():
                keys = list(series)
                step = _write_step(families[name])
                for at in range(0, len(keys), step):
                    yield
                    outcome = self._write(source, {name: {k: series[k] for k in keys[at:at + step]}}, t,
                                          latest=t == now_ms)
                    result.rejected.extend(outcome.refused)
        result.accepted = applied + len(repeated)
        return result

    def refresh(self, t: int) -> Steps[None]:
        """Re-expose every pushed series at t (each collection cycle), as a scrape of a Pushgateway
        would, in steps of STEP_SAMPLES samples. No staleness to track: a pushed series is never removed."""
        for fam in list(self.families.values()):
            keys = list(fam.series)
            step = _write_step(fam)
            for at in range(0, len(keys), step):
                yield
                self._write(None, {fam.name: {k: fam.series[k] for k in keys[at:at + step]}}, t, latest=True)

    def _write(self, source: str | None, names: dict[str, dict[Labels, SeriesState]], t: int,
               latest: bool = False) -> Outcome:
        """Write the touched series of some families at t: counters and gauges straight by their label
        sets, histograms and summaries through their exposed families. Counted under ``source``
        unless None (a re-exposure); ``latest`` as in ``Admission.write`` (for values pushed without
        a timestamp)."""
        families = self.families
        plain: list[tuple[str, Metadata, list[tuple[Labels, float]]]] = []
        shaped: list[Family] = []
        for name, touched in names.items():
            fam = families[name]
            if fam.type in ("counter", "gauge"):
                plain.append((name, Metadata(fam.type, fam.help), [(s.labels, s.value) for s in touched.values()]))
            else:
                shaped.append(_family(fam, touched.keys(), t))
        outcome = self.admission.write_labelled(source, plain, t, latest)
        if shaped:
            more = self.admission.write(source, shaped, t, latest=latest)
            outcome.accepted += more.accepted
            outcome.refused.extend(more.refused)
        return outcome

    # -- persistence -------------------------------------------------------------------------

    def dump(self) -> list[dict[str, Any]]:
        """The state as JSON-ready data (taken on the loop; encoded and written elsewhere)."""
        return [{"name": f.name, "type": f.type, "help": f.help, "bounds": list(f.bounds),
                 "series": [[dict(k), s.value, s.counts, s.total, s.count, None if s.window is None else list(s.window)]
                            for k, s in f.series.items()]}
                for f in self.families.values()]

    def load(self, data: list[Any]) -> None:
        """Restore what ``dump`` gave (a bad entry is skipped, the rest kept)."""
        for raw in data:
            try:
                fam = PushedFamily(str(raw["name"]), str(raw["type"]), str(raw["help"]),
                                   tuple(float(b) for b in raw["bounds"]))
                for labels, value, counts, total, count, window in raw["series"]:
                    key = _key(labels)
                    fam.series[key] = SeriesState(
                        float(value), tuple(sorted((*key, ("__name__", fam.name)))),
                        None if counts is None else [float(c) for c in counts], float(total), float(count),
                        None if window is None else deque(((int(t), float(v)) for t, v in window),
                                                          maxlen=SUMMARY_WINDOW))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            if fam.type in PUSH_TYPES:
                self.families[fam.name] = fam

    # -- internals ---------------------------------------------------------------------------

    def _check_against_state(self, item: Item, families: dict[str, PushedFamily], batch_types: dict[str, str],
                             batch_bounds: dict[str, tuple[float, ...] | None],
                             batch_last: dict[tuple[str, Labels], int], pending: Counter[str],
                             index: int) -> Item | Refusal:
        """What depends on earlier pushes and earlier items: type, declared buckets, order, series room."""
        known = families.get(item.name)
        if batch_types.setdefault(item.name, item.type) != item.type:
            return Refusal("type_conflict", "type", f"{item.name!r} is given twice with different types", index)
        if item.bounds is not None:
            declared = known.bounds if known is not None else batch_bounds.setdefault(item.name, item.bounds)
            if declared != item.bounds:
                what = "buckets" if item.type == "histogram" else "quantiles"
                return Refusal("bounds_conflict", what, f"{item.name!r} was declared with other {what}", index)
        key = _key(item.labels)
        if item.t is not None:
            last = self.admission.last_time(make_labels(_main_series(item), item.labels))
            previous = batch_last.get((item.name, key))
            if (last is not None and item.t < last) or (previous is not None and item.t < previous):
                return Refusal("out_of_order", "timestamp", "older than the series' latest sample", index)
            batch_last[(item.name, key)] = item.t
        if known is None or key not in known.series:
            for name, labels in _series_of(item, self._bounds_for(item)):
                refusal = self.admission.check_new_series(make_labels(name, labels), name, pending)
                if refusal is not None:
                    return _at(refusal, index)
        return item

    def _bounds_for(self, item: Item) -> tuple[float, ...]:
        if item.bounds is not None:
            return item.bounds
        if item.name in self.families:
            return self.families[item.name].bounds
        if item.type == "histogram":
            return BUSINESS_BUCKETS.get(item.name, DEFAULT_BUCKETS)
        return DEFAULT_QUANTILES if item.type == "summary" else ()


class Pacer:
    """Tells stepped work when STEP_S has passed since it last resumed (then it should yield)."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until: float | None = None

    def due(self) -> bool:
        now = time.perf_counter()
        if self.until is None:
            self.until = now + STEP_S
            return False
        if now < self.until:
            return False
        self.until = None
        return True


def _write_step(fam: PushedFamily) -> int:
    """Series of a family written in one step: STEP_SAMPLES samples' worth."""
    if fam.type in ("counter", "gauge"):
        return STEP_SAMPLES
    return max(1, STEP_SAMPLES // (len(fam.bounds) + 3))


def _at(refusal: Refusal, index: int) -> Refusal:
    return Refusal(refusal.reason, refusal.field, refusal.message, index, refusal.samples)


def _key(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted((k, v) for k, v in labels.items() if v != ""))


def _timestamp(raw: Any, now_ms: int) -> int | None | str:
    """ms from Unix seconds or RFC 3339; a string is the refusal."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            seconds = datetime.fromisoformat(raw).timestamp()
        except ValueError:
            return "timestamp: Unix seconds or RFC 3339 text such as 2026-01-02T03:04:05Z"
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
        seconds = float(raw)
    else:
        return "timestamp: Unix seconds or RFC 3339 text"
    if seconds < 0:
        return "timestamp: before 1970"
    t = round(seconds * 1000)
    if t > now_ms + MAX_FUTURE_MS:
        return f"timestamp: more than {MAX_FUTURE_MS // 60_000} minutes ahead of the server's clock"
    return t


def _bounds(raw: Mapping[str, Any], type_: str) -> tuple[float, ...] | None | Refusal:
    """Declared buckets (histogram) or quantiles (summary): sorted, finite, distinct; None if not given."""
    what = {"histogram": "buckets", "summary": "quantiles"}.get(type_)
    for other in ("buckets", "quantiles"):
        if other in raw and other != what:
            kind = "histogram" if other == "buckets" else "summary"
            return Refusal("invalid_field", other, f"{other} is for a {kind}")
    if what is None or raw.get(what) is None:
        return None
    values = raw[what]
    if (not isinstance(values, list) or not 0 < len(values) <= MAX_BUCKETS
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)):
        return Refusal("invalid_field", what, f"{what}: a list of 1 to {MAX_BUCKETS} finite numbers")
    bounds = tuple(sorted({float(v) for v in values}))
    if what == "quantiles" and not all(0 < q < 1 for q in bounds):
        return Refusal("invalid_field", what, "quantiles: numbers between 0 and 1")
    return bounds


def _main_series(item: Item) -> str:
    return item.name + "_count" if item.type in ("histogram", "summary") else item.name


def _series_of(item: Item, bounds: tuple[float, ...]) -> list[tuple[str, dict[str, str]]]:
    """Every series an item's family writes for its labels (what the series limits count)."""
    if item.type == "counter" or item.type == "gauge":
        return [(item.name, item.labels)]
    if item.type == "histogram":
        out = [(item.name + "_bucket", {**item.labels, "le": _le(b)}) for b in bounds]
        out.append((item.name + "_bucket", {**item.labels, "le": "+Inf"}))
    else:
        out = [(item.name, {**item.labels, "quantile": _le(q)}) for q in bounds]
    return out + [(item.name + "_sum", item.labels), (item.name + "_count", item.labels)]


def _apply(fam: PushedFamily, key: Labels, value: float, t: int) -> SeriesState:
    s = fam.series.get(key)
    if s is None:
        s = fam.series[key] = SeriesState(labels=tuple(sorted((*key, ("__name__", fam.name)))))
        if fam.type == "histogram":
            s.counts = [0.0] * (len(fam.bounds) + 1)
        elif fam.type == "summary":
            s.window = deque(maxlen=SUMMARY_WINDOW)
    if fam.type == "counter":
        s.value += value
    elif fam.type == "gauge":
        s.value = value
    else:
        s.total += value
        s.count += 1
        if s.counts is not None:
            s.counts[bisect_left(fam.bounds, value)] += 1
        if s.window is not None:
            s.window.append((t, value))
    return s


def _family(fam: PushedFamily, keys: Any, t: int) -> Family:
    """The exposed samples of some of a family's series (histogram buckets cumulative, as exposed)."""
    out = Family(fam.name, fam.type, fam.help)
    samples = out.samples
    for key in keys:
        s = fam.series[key]
        labels = dict(key)
        if fam.type in ("counter", "gauge"):
            samples.append((fam.name, labels, s.value))
            continue
        if s.counts is not None:
            cumulative = 0.0
            for bound, c in zip((*fam.bounds, math.inf), s.counts, strict=True):
                cumulative += c
                samples.append((fam.name + "_bucket", {**labels, "le": _le(bound)}, cumulative))
        if s.window is not None:
            while s.window and s.window[0][0] < t - SUMMARY_MAX_AGE_MS:
                s.window.popleft()
            ordered = sorted(v for _, v in s.window)
            for q in fam.bounds:
                samples.append((fam.name, {**labels, "quantile": _le(q)}, _quantile(ordered, q)))
        samples.append((fam.name + "_sum", labels, s.total))
        samples.append((fam.name + "_count", labels, s.count))
    return out


def _quantile(ordered: list[float], q: float) -> float:
    """The q-quantile of the window (nearest rank, as client_golang's targeted estimator reports);
    NaN for an empty window, as an idle Go summary reports."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _le(bound: float) -> str:
    """A bucket bound or quantile as client libraries write it (``0.5``, ``1.0``, ``+Inf``)."""
    return "+Inf" if bound == math.inf else repr(float(bound))
