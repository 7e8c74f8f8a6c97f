"""Admission: the one gate every ingested sample passes (push API, Pushgateway paths, remote write, scrapes).

It checks names and labels as Prometheus does (legacy charset, ``__`` reserved), caps label count and
length, keeps total and per-metric series counts under MAX_SERIES / MAX_SERIES_PER_METRIC, refuses a
family whose type differs from the one already stored, then writes what passed into the Store and
counts ``ingested_samples_total{source}`` / ``rejected_samples_total{source,reason}``.
Refusals are per sample (or per family for a type conflict): what passes is written, unless the
caller asks for all or nothing.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from engine.compat.strconv import is_valid_utf8
from engine.tsdb.store import Store
from engine.tsdb.types import METRIC_TYPES, Family, Labels, Metadata, is_stale, make_labels

METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
MAX_LABELS = 30
"""Label pairs per series besides the name (Mimir's max_label_names_per_series default)."""
MAX_NAME_LENGTH = 1024
"""Characters in a metric or label name (Mimir's max_label_name_length)."""
MAX_VALUE_LENGTH = 2048
"""Characters in a label value (Mimir's max_label_value_length)."""
_VALID_CACHE_MAX = 65_536
MAX_FUTURE_MS = 600_000
"""A sample may be at most this far ahead of the server's clock (Mimir's creation grace period is 10 m)."""

SOURCES = ("push", "business", "pushgateway", "remote_write", "scrape")
"""The ``source`` label values of the ingestion counters."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one sample (or a family's samples) was not admitted; ``field`` names what was wrong."""

    reason: str
    field: str
    message: str
    index: int = 0
    """Position of the refused item in what the caller passed (family, or series, index)."""
    samples: int = 1
    """How many samples the refusal covers (a family's, a series')."""

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "reason": self.reason, "field": self.field, "message": self.message}


@dataclass(slots=True)
class Outcome:
    """What one call admitted: samples written and refusals, in input order."""

    accepted: int = 0
    refused: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SeriesLimits:
    max_series: int
    max_series_per_metric: int


class Admission:
    """Validates, limits and writes ingested samples into the Store; counts what it took and refused."""

    def __init__(self, store: Store, limits: SeriesLimits) -> None:
        self.store = store
        self.limits = limits
        self._valid_names: set[str] = set()
        self._valid_label_names: set[str] = set()
        self.ingested: Counter[str] = Counter()
        self.rejected: Counter[tuple[str, str]] = Counter()

    # -- checks ------------------------------------------------------------------------------

    def check_metric_name(self, name: str, where: str = "name") -> Refusal | None:
        """Prometheus's legacy metric-name charset; names starting with ``__`` are reserved."""
        if name in self._valid_names:
            return None
        if not isinstance(name, str) or not name:
            return Refusal("invalid_metric_name", where, "a metric name is required")
        if len(name) > MAX_NAME_LENGTH:
            return Refusal("name_too_long", where, f"metric name longer than {MAX_NAME_LENGTH} characters")
        if not METRIC_NAME_RE.fullmatch(name):
            return Refusal("invalid_metric_name", where,
                           f"{name!r} is not a metric name: [a-zA-Z_:][a-zA-Z0-9_:]*")
        if name.startswith("__"):
            return Refusal("reserved_name", where, f"{name!r}: names starting with __ are reserved")
        self._remember(self._valid_names, name)
        return None

    def check_family(self, name: str, type_: str, where: str = "name") -> Refusal | None:
        """The family name, and its type against the one the store already holds for that name."""
        refusal = self.check_metric_name(name, where)
        if refusal is not None:
            return refusal
        if type_ not in METRIC_TYPES:
            return Refusal("invalid_type", "type", f"{type_!r} is not one of {', '.join(METRIC_TYPES)}")
        known = self.store.metadata(name)
        if known is not None and known.type != type_:
            return Refusal("type_conflict", "type",
                           f"{name!r} is a {known.type}; a {type_} of the same name is refused")
        return None

    def check_labels(self, labels: Mapping[str, str], where: str = "labels") -> Refusal | None:
        """Names in the legacy charset and not ``__``-reserved, values valid UTF-8, count and lengths bounded."""
        if len(labels) > MAX_LABELS:
            return Refusal("too_many_labels", where, f"{len(labels)} labels, more than {MAX_LABELS}")
        valid = self._valid_label_names
        for k, v in labels.items():
            if k not in valid:
                if not isinstance(k, str) or not LABEL_NAME_RE.fullmatch(k) or len(k) > MAX_NAME_LENGTH:
                    return Refusal("invalid_label_name", f"{where}.{k}",
                                   f"{k!r} is not a label name: [a-zA-Z_][a-zA-Z0-9_]* up to {MAX_NAME_LENGTH}")
                if k.startswith("__"):
                    return Refusal("reserved_label_name", f"{where}.{k}",
                                   f"{k!r}: label names starting with __ are reserved")
                self._remember(valid, k)
            if not isinstance(v, str):
                return Refusal("invalid_label_value", f"{where}.{k}", "a label value must be a string")
            if len(v) > MAX_VALUE_LENGTH:
                return Refusal("label_value_too_long", f"{where}.{k}",
                               f"label value longer than {MAX_VALUE_LENGTH} characters")
            if not v.isascii() and not is_valid_utf8(v):
                return Refusal("invalid_label_value", f"{where}.{k}", "a label value must be valid UTF-8")
        return None

    def check_new_series(self, labels: Labels, name: str, pending: Counter[str]) -> Refusal | None:
        """Room for one more series under both limits; ``pending`` counts series this call already
        reserved (by name, and ``""`` for the total) and is updated when there is room."""
        if self.store.known_ref(labels) is not None:
            return None
        if len(self.store) + pending[""] >= self.limits.max_series:
            return Refusal("series_limit", "labels",
                           f"the store holds its limit of {self.limits.max_series} series (MAX_SERIES)")
        if self.store.name_count(name) + pending[name] >= self.limits.max_series_per_metric:
            return Refusal("metric_series_limit", "labels",
                           f"{name!r} has its limit of {self.limits.max_series_per_metric} series "
                           "(MAX_SERIES_PER_METRIC)")
        pending[""] += 1
        pending[name] += 1
        return None

    @staticmethod
    def check_observation(value: float, type_: str, where: str = "value") -> Refusal | None:
        """What the push API takes as an increment or an observation: finite, and not negative for a
        counter (client libraries refuse both: ``Counter.inc`` raises on a negative amount). Exposed
        values (text format, remote write) may be NaN or infinite in any type, as Prometheus takes them."""
        if not math.isfinite(value):
            return Refusal("invalid_value", where, f"a {type_} {'increment' if type_ == 'counter' else 'observation'} "
                           "must be a finite number")
        if type_ == "counter" and value < 0:
            return Refusal("invalid_value", where, "a counter can only increase: the increment is negative")
        return None

    # -- writing -----------------------------------------------------------------------------

    def admit_families(self, source: str, families: Sequence[Family], t: int, *, stale_key: str | None = None,
                       atomic: bool = False) -> Outcome:
        """Check every family and sample, then write those that passed at time t.

        With ``stale_key`` the call is one full cycle of that key (a scrape target, a pushed group):
        the key's series missing from it get a stale marker, as Store.ingest does. With ``atomic``
        one refusal means nothing is written."""
        outcome = Outcome()
        pending: Counter[str] = Counter()
        kept: list[Family] = []
        seen_types: dict[str, str] = {}
        for i, fam in enumerate(families):
            refusal = self.check_family(fam.name, fam.type)
            if refusal is None and seen_types.setdefault(fam.name, fam.type) != fam.type:
                refusal = Refusal("type_conflict", "type", f"{fam.name!r} is given twice with different types")
            if refusal is not None:
                outcome.refused.append(_at(refusal, i, max(1, len(fam.samples))))
                continue
            good: list[tuple[str, dict[str, str], float]] = []
            for name, labels, value in fam.samples:
                refusal = self.check_metric_name(name) or self.check_labels(labels)
                if refusal is None:
                    refusal = self.check_new_series(make_labels(name, labels), name, pending)
                if refusal is not None:
                    outcome.refused.append(_at(refusal, i))
                else:
                    good.append((name, labels, value))
            kept.append(Family(fam.name, fam.type, fam.help, fam.unit, good))
        self._count(source, 0, outcome.refused)
        if atomic and outcome.refused:
            return outcome
        written = self.write(source, kept, t, stale_key=stale_key)
        outcome.accepted = written.accepted
        outcome.refused.extend(written.refused)
        return outcome

    def write(self, source: str | None, families: Sequence[Family], t: int, *,
              stale_key: str | None = None, latest: bool = False) -> Outcome:
        """Write families the caller has checked (with this class's checks) at t; counted under
        ``source`` unless None (a re-exposure of samples already counted). ``stale_key`` as in
        ``admit_families``. Samples not newer than the stored ones come back as one refusal, unless
        ``latest``: the values are current values rather than points at exact times (pushed state),
        so one meeting a newer sample is written 1 ms after it, or not at all when it equals it."""
        outcome = Outcome()
        if stale_key is not None:
            outcome.accepted = self.store.ingest(stale_key, families, t)
        else:
            store = self.store
            for fam in families:
                store.set_metadata(fam.name, fam.metadata)
                for name, labels, value in fam.samples:
                    outcome.accepted += self._append(store.ref(make_labels(name, labels)), t, value, latest)
        written = sum(len(f.samples) for f in families)
        if outcome.accepted < written:
            missing = written - outcome.accepted
            outcome.refused.append(Refusal("out_of_order", "timestamp",
                                           f"{missing} samples not newer than the stored ones", -1, missing))
        if source is not None:
            self._count(source, outcome.accepted, outcome.refused)
        return outcome

    def write_labelled(self, source: str | None,
                       families: Sequence[tuple[str, Metadata, Sequence[tuple[Labels, float]]]], t: int,
                       latest: bool = False) -> Outcome:
        """``write`` for samples given as full, checked label sets (the push API's hot path)."""
        outcome = Outcome()
        store = self.store
        accepted = 0
        for name, metadata, samples in families:
            store.set_metadata(name, metadata)
            for labels, value in samples:
                ref = store.ref(labels)
                # newer than the series' last sample is the rule; the rest is sorted out by _append
                accepted += store.append(ref, t, value) or self._append(ref, t, value, latest)
        written = sum(len(samples) for _, _, samples in families)
        outcome.accepted = accepted
        if accepted < written:
            outcome.refused.append(Refusal("out_of_order", "timestamp",
                                           f"{written - accepted} samples not newer than the stored ones", -1,
                                           written - accepted))
        if source is not None:
            self._count(source, accepted, outcome.refused)
        return outcome

    def last_time(self, labels: Labels) -> int | None:
        """The time of a series' latest sample in memory, None for a new series (or one without samples)."""
        ref = self.store.known_ref(labels)
        if ref is None:
            return None
        ts = self.store.series(ref).ts
        return ts[-1] if ts else None

    def admit_series(self, source: str, series: Iterable[tuple[Labels, Sequence[int], Sequence[float]]],
                     now_ms: int) -> Outcome:
        """Write timestamped samples of whole label sets (remote write): each series is checked once.

        A sample equal to the stored one at the same time is taken again without error, so a sender
        that retries a batch it already delivered is not refused. A sample more than MAX_FUTURE_MS
        ahead of now is refused: it would block the series' later samples."""
        outcome = Outcome()
        horizon = now_ms + MAX_FUTURE_MS
        pending: Counter[str] = Counter()
        store = self.store
        for i, (labels, ts, vals) in enumerate(series):
            ref = store.known_ref(labels)
            if ref is None:  # a stored series passed these checks when it was created
                refusal, name = self.check_label_set(labels)
                if refusal is None:
                    refusal = self.check_new_series(labels, name, pending)
                if refusal is not None:
                    outcome.refused.append(_at(refusal, i, len(ts)))
                    continue
                ref = store.ref(labels)
            for t, v in zip(ts, vals, strict=True):
                if t > horizon:
                    outcome.refused.append(Refusal("too_far_in_future", "timestamp",
                                                   f"sample at {t} is more than {MAX_FUTURE_MS} ms ahead", i))
                elif self._append(ref, t, v):
                    outcome.accepted += 1
                else:
                    outcome.refused.append(Refusal("out_of_order", "timestamp",
                                                   f"sample at {t} is older than the stored ones", i))
        self._count(source, outcome.accepted, outcome.refused)
        return outcome

    def set_metadata(self, name: str, metadata: Metadata) -> Refusal | None:
        """Record a family's metadata sent apart from its samples (remote write); a type change is refused."""
        refusal = self.check_family(name, metadata.type)
        if refusal is None:
            self.store.set_metadata(name, metadata)
        return refusal

    def families(self) -> list[Family]:
        """The ingestion counters, as a self source for /metrics."""
        ingested = Family("ingested_samples_total", "counter", "Samples admitted into the store, by ingestion path.")
        for source in SOURCES:
            ingested.add(self.ingested[source], {"source": source})
        rejected = Family("rejected_samples_total", "counter", "Samples refused at ingestion, by path and reason.")
        for (source, reason), n in sorted(self.rejected.items()):
            rejected.add(n, {"source": source, "reason": reason})
        return [ingested, rejected]

    def count(self, source: str, accepted: int, refused: Iterable[Refusal]) -> None:
        """Count samples refused before reaching admission's writers (a push item that did not parse)."""
        self._count(source, accepted, refused)

    def check_label_set(self, labels: Labels) -> tuple[Refusal | None, str]:
        """A whole label set (``__name__`` included, as remote write and relabelled scrapes give
        them): the refusal if any, and the metric name."""
        name = ""
        rest: dict[str, str] = {}
        for k, v in labels:
            if k == "__name__":
                name = v
            else:
                rest[k] = v
        if len(rest) + (name != "") != len(labels):
            return Refusal("duplicate_label_name", "labels", "a label name appears twice"), name
        refusal = self.check_metric_name(name, "labels.__name__") or self.check_labels(rest)
        return refusal, name

    # -- internals ---------------------------------------------------------------------------

    def _append(self, ref: int, t: int, v: float, latest: bool = False) -> bool:
        """Append, taking a sample identical to one already in memory as delivered (a retry); see
        ``write`` for ``latest``."""
        s = self.store.series(ref)
        ts = s.ts
        if ts and t <= ts[-1]:
            if latest:
                last = s.vals[-1]
                if last == v or (last != last and v != v and not is_stale(last)):
                    return True
                return self.store.append(ref, ts[-1] + 1, v)
            i = bisect_left(ts, t)
            if i < len(ts) and ts[i] == t:
                old = s.vals[i]
                return old == v or (old != old and v != v and is_stale(old) == is_stale(v))
        return self.store.append(ref, t, v)

    def _count(self, source: str, accepted: int, refused: Iterable[Refusal]) -> None:
        self.ingested[source] += accepted
        for r in refused:
            self.rejected[(source, r.reason)] += r.samples

    @staticmethod
    def _remember(cache: set[str], value: str) -> None:
        if len(cache) >= _VALID_CACHE_MAX:
            cache.clear()
        cache.add(value)


def _at(refusal: Refusal, index: int, samples: int = 1) -> Refusal:
    return Refusal(refusal.reason, refusal.field, refusal.message, index, samples)
