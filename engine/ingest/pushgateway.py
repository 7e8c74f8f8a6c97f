"""Pushgateway-compatible groups: ``PUT``/``POST``/``DELETE /metrics/job/<job>{/<label>/<value>}``.

Semantics follow Pushgateway 1.5 (checked against the Debian binary): the grouping key's labels
override the pushed ones; PUT replaces the whole group, POST only the families of the same name,
DELETE removes the group; a push that does not parse, carries timestamps or is inconsistent with
what is stored (a type change) is refused whole with 400 and recorded in the group's
``push_failure_time_seconds``; each group also shows ``push_time_seconds``. Groups are re-exposed
every collection cycle (as Prometheus re-scrapes a Pushgateway) until deleted, and saved with the
rest of the pushed state.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.compat.strconv import format_float
from engine.ingest.admission import Admission, Outcome, Refusal
from engine.ingest.protobuf import message_classes
from engine.ingest.push import STEP_SAMPLES, PushError, Steps
from engine.scrape.exposition import ParseError, parse, parse_series
from engine.tsdb.types import Family, Labels, make_labels

SOURCE = "pushgateway"


@dataclass(slots=True)
class Group:
    labels: dict[str, str]
    families: dict[str, Family] = field(default_factory=dict)
    push_time: float = 0.0
    failure_time: float = 0.0


def grouping_key(tail: str) -> dict[str, str]:
    """Grouping labels from the path after ``/metrics/``: ``job/<job>{/<label>/<value>}``, where a
    ``<label>@base64`` carries a base64url value (so a value may hold ``/`` or be empty)."""
    parts = tail.split("/")
    if len(parts) % 2:
        raise PushError("path", f"odd number of components in label string {tail!r}")
    labels: dict[str, str] = {}
    for name, value in zip(parts[::2], parts[1::2], strict=True):
        if name.endswith("@base64"):
            name = name[: -len("@base64")]
            try:
                value = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
            except (binascii.Error, ValueError):
                raise PushError("path", f"invalid base64 value for label {name!r}") from None
        if name in labels:
            raise PushError("path", f"label {name!r} given twice in the grouping key")
        labels[name] = value
    if not labels.get("job"):
        raise PushError("path", "the job label of the grouping key must not be empty")
    return labels


def parse_text(raw: bytes) -> list[Family]:
    """Families from a text format 0.0.4 body, read by the scrape's parser (PushError on text that
    is not UTF-8, a syntax error, a sample timestamp or a series given twice, as Pushgateway
    refuses them)."""
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PushError("body", f"the body is not UTF-8 text: {exc}") from None
    families: list[Family] = []
    seen: set[str] = set()
    try:
        for scraped in parse(body):
            if not scraped.samples:
                continue
            fam = Family(scraped.name, scraped.type, scraped.help, scraped.unit)
            for key, value in scraped.samples:
                if key in seen:
                    raise PushError("body", f"sample {key[:200]} given twice")
                seen.add(key)
                name, labels = parse_series(key)
                fam.samples.append((name, labels, value))
            families.append(fam)
    except ParseError as exc:
        raise PushError("body", f"text format parsing error: {exc}") from None
    for line in body.split("\n"):
        if line and line[0] != "#":
            labelled = "{" in line
            tail = line[line.rfind("}") + 1:] if labelled else line
            if len(tail.split()) > (1 if labelled else 2):
                raise PushError("body", f"pushed metrics must not have timestamps ({line[:200]})")
    return families


@functools.cache
def _metric_family() -> Any:
    """io.prometheus.client.MetricFamily (metrics.proto, classic histograms), what Go clients push; made
    by the first protobuf push."""
    return message_classes("io.prometheus.client", {
        "LabelPair": [("name", 1, "string", False, ""), ("value", 2, "string", False, "")],
        "Gauge": [("value", 1, "double", False, "")],
        "Counter": [("value", 1, "double", False, "")],
        "Quantile": [("quantile", 1, "double", False, ""), ("value", 2, "double", False, "")],
        "Summary": [("sample_count", 1, "uint64", False, ""), ("sample_sum", 2, "double", False, ""),
                    ("quantile", 3, "message", True, "Quantile")],
        "Untyped": [("value", 1, "double", False, "")],
        "Bucket": [("cumulative_count", 1, "uint64", False, ""), ("upper_bound", 2, "double", False, ""),
                   ("cumulative_count_float", 4, "double", False, "")],
        "Histogram": [("sample_count", 1, "uint64", False, ""), ("sample_sum", 2, "double", False, ""),
                      ("bucket", 3, "message", True, "Bucket"), ("sample_count_float", 4, "double", False, "")],
        "Metric": [("label", 1, "message", True, "LabelPair"), ("gauge", 2, "message", False, "Gauge"),
                   ("counter", 3, "message", False, "Counter"), ("summary", 4, "message", False, "Summary"),
                   ("untyped", 5, "message", False, "Untyped"), ("timestamp_ms", 6, "int64", False, ""),
                   ("histogram", 7, "message", False, "Histogram")],
        "MetricFamily": [("name", 1, "string", False, ""), ("help", 2, "string", False, ""),
                         ("type", 3, "int32", False, ""), ("metric", 4, "message", True, "Metric")],
    })["MetricFamily"]


PROTOBUF_TYPES = ("counter", "gauge", "summary", "untyped", "histogram", "histogram")
"""MetricType by number: COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM, GAUGE_HISTOGRAM."""


def parse_protobuf(raw: bytes) -> list[Family]:
    """Families from length-delimited MetricFamily messages (Pushgateway's protobuf format, what
    client_golang's push package sends); PushError as for text."""
    from google.protobuf.message import DecodeError

    family = _metric_family()
    families: list[Family] = []
    pos, end = 0, len(raw)
    try:
        while pos < end:
            size, pos = _varint(raw, pos)
            if pos + size > end:
                raise PushError("body", "protobuf: a message runs past the end of the body")
            mf = family.FromString(raw[pos:pos + size])
            pos += size
            families.append(_family_of(mf))
    except DecodeError as exc:
        raise PushError("body", f"protobuf: {exc}") from None
    return families


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(raw) and shift < 64:
        byte = raw[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise PushError("body", "protobuf: a truncated length prefix")


def _family_of(mf: Any) -> Family:
    type_ = PROTOBUF_TYPES[mf.type] if 0 <= mf.type < len(PROTOBUF_TYPES) else "untyped"
    fam = Family(mf.name, type_, mf.help)
    for m in mf.metric:
        if m.timestamp_ms:
            raise PushError("body", f"pushed metrics must not have timestamps ({mf.name})")
        labels = {lp.name: lp.value for lp in m.label}
        if type_ == "counter":
            fam.add(m.counter.value, labels)
        elif type_ == "gauge":
            fam.add(m.gauge.value, labels)
        elif type_ == "untyped":
            fam.add(m.untyped.value, labels)
        elif type_ == "summary":
            for q in m.summary.quantile:
                fam.add(q.value, {**labels, "quantile": _go_float(q.quantile)})
            fam.add(m.summary.sample_sum, labels, "_sum")
            fam.add(m.summary.sample_count, labels, "_count")
        else:
            h = m.histogram
            count = h.sample_count or h.sample_count_float
            for b in h.bucket:
                fam.add(b.cumulative_count or b.cumulative_count_float, {**labels, "le": _go_float(b.upper_bound)},
                        "_bucket")
            if not h.bucket or h.bucket[-1].upper_bound != math.inf:
                fam.add(count, {**labels, "le": "+Inf"}, "_bucket")
            fam.add(h.sample_sum, labels, "_sum")
            fam.add(count, labels, "_count")
    return fam


def _go_float(v: float) -> str:
    """A bucket bound or quantile as Go clients write it in the text format (``0.005``, ``1``, ``+Inf``)."""
    return format_float(v, "g", -1)


class PushGroups:
    """Every pushed group, by its grouping key."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.groups: dict[Labels, Group] = {}
        self.dirty = False

    def check_key(self, labels: Mapping[str, str]) -> Refusal | None:
        return self.admission.check_labels(labels, "path")

    def push(self, labels: dict[str, str], families: list[Family], replace: bool, now_ms: int) -> Outcome:
        """Apply a parsed push (PUT when ``replace``, else POST); a refusal leaves the group as it was
        and records the failure time."""
        key = tuple(sorted(labels.items()))
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(dict(labels))
        pushed = {f.name: _with_grouping(f, labels) for f in families}
        merged = dict(pushed) if replace else {**group.families, **pushed}
        self.dirty = True
        outcome = self.admission.admit_families(SOURCE, [*merged.values(), *_times(group, now_ms / 1000, 0.0)],
                                                now_ms, stale_key=_stale_key(key), atomic=True)
        # a sample not newer than one just re-exposed (the same millisecond) is shown at the next cycle
        outcome.refused = [r for r in outcome.refused if r.reason != "out_of_order"]
        if outcome.refused:
            if group.push_time == 0 and not group.families and not self._room_for(group):
                del self.groups[key]  # a failed first push keeps no group past the series limits
                return outcome
            group.failure_time = now_ms / 1000
            self._expose(key, group, now_ms)
            return outcome
        group.families = merged
        group.push_time = now_ms / 1000
        return outcome

    def fail(self, labels: dict[str, str], now_ms: int) -> None:
        """Record a push that did not parse (Pushgateway creates the group even then)."""
        key = tuple(sorted(labels.items()))
        group = self.groups.get(key)
        if group is None:
            group = Group(dict(labels))
            if not self._room_for(group):
                return
            self.groups[key] = group
        group.failure_time = now_ms / 1000
        self.dirty = True
        self._expose(key, group, now_ms)

    def delete(self, labels: Mapping[str, str], now_ms: int) -> bool:
        """Remove a group; its series get stale markers. False when there was no such group."""
        key = tuple(sorted(labels.items()))
        if self.groups.pop(key, None) is None:
            return False
        self.dirty = True
        self.admission.write(None, [], now_ms, stale_key=_stale_key(key))
        return True

    def refresh(self, t: int) -> Steps[None]:
        """Re-expose every group at t (each collection cycle), in steps of STEP_SAMPLES samples; the
        groups' stale markers were written when they changed."""
        for group in list(self.groups.values()):
            for fam in [*group.families.values(), *_times(group, group.push_time, group.failure_time)]:
                for at in range(0, len(fam.samples), STEP_SAMPLES):
                    yield
                    part = Family(fam.name, fam.type, fam.help, fam.unit, fam.samples[at:at + STEP_SAMPLES])
                    self.admission.write(None, [part], t, latest=True)

    def dump(self) -> list[dict[str, Any]]:
        return [{"labels": g.labels, "pushTime": g.push_time, "failureTime": g.failure_time,
                 "families": [{"name": f.name, "type": f.type, "help": f.help, "unit": f.unit,
                               "samples": f.samples} for f in g.families.values()]}
                for g in self.groups.values()]

    def load(self, data: list[Any]) -> None:
        """Restore what ``dump`` gave (a bad group is skipped)."""
        for raw in data:
            try:
                group = Group({str(k): str(v) for k, v in raw["labels"].items()}, {},
                              float(raw["pushTime"]), float(raw["failureTime"]))
                for f in raw["families"]:
                    samples = [(str(n), {str(k): str(v) for k, v in ls.items()}, float(v)) for n, ls, v in f["samples"]]
                    group.families[str(f["name"])] = Family(str(f["name"]), str(f["type"]), str(f["help"]),
                                                            str(f["unit"]), samples)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            self.groups[tuple(sorted(group.labels.items()))] = group

    def _room_for(self, group: Group) -> bool:
        """Whether a new group's two time series fit under the series limits (a failed push would
        otherwise add them unchecked, one group per made-up grouping key)."""
        pending: Counter[str] = Counter()
        return all(self.admission.check_new_series(make_labels(name, group.labels), name, pending) is None
                   for name in ("push_time_seconds", "push_failure_time_seconds"))

    def _expose(self, key: Labels, group: Group, t: int) -> None:
        self.admission.write(None, [*group.families.values(), *_times(group, group.push_time, group.failure_time)],
                             t, stale_key=_stale_key(key))


def _stale_key(key: Labels) -> str:
    return SOURCE + ":" + "\xff".join(f"{k}={v}" for k, v in key)


def _with_grouping(fam: Family, labels: dict[str, str]) -> Family:
    return Family(fam.name, fam.type, fam.help, fam.unit, [(n, {**ls, **labels}, v) for n, ls, v in fam.samples])


def _times(group: Group, push_time: float, failure_time: float) -> list[Family]:
    pushed = Family("push_time_seconds", "gauge",
                    "Last Unix time when changing this group in the Pushgateway succeeded.")
    pushed.add(push_time, group.labels)
    failed = Family("push_failure_time_seconds", "gauge",
                    "Last Unix time when changing this group in the Pushgateway failed.")
    failed.add(failure_time, group.labels)
    return [pushed, failed]
