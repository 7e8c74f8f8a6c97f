"""Value types shared by collectors, the store and the exposition code."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

METRIC_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")

# Prometheus's stale marker: a NaN with a specific payload (value.StaleNaN, 0x7ff0000000000002).
_STALE_BITS = 0x7FF0000000000002
_STALE_BYTES = struct.pack("<Q", _STALE_BITS)
STALE_NAN: float = struct.unpack("<d", _STALE_BYTES)[0]


def is_stale(value: float) -> bool:
    """True for the stale marker (a plain NaN is an ordinary value)."""
    return value != value and struct.pack("<d", value) == _STALE_BYTES


Labels = tuple[tuple[str, str], ...]
"""A series identity: (name, value) pairs sorted by name, including ``__name__``."""


def make_labels(name: str, labels: dict[str, str] | None = None) -> Labels:
    """Build the canonical label tuple of a series; empty label values are dropped as in Prometheus."""
    items = {"__name__": name}
    if labels:
        for k, v in labels.items():
            if v != "":
                items[k] = v
    return tuple(sorted(items.items()))


def metric_name(labels: Labels) -> str:
    for k, v in labels:
        if k == "__name__":
            return v
    return ""


@dataclass(frozen=True, slots=True)
class Metadata:
    """Per metric-family metadata, as in a `# TYPE` / `# HELP` / `# UNIT` block."""

    type: str = "untyped"
    help: str = ""
    unit: str = ""


@dataclass(slots=True)
class Family:
    """One metric family as a collector produces it for one cycle.

    ``name`` is the family name as written in the 0.0.4 text format's TYPE line (a counter
    keeps its ``_total``); each sample names its own series (``_bucket``, ``_sum``... for
    histograms) so histograms and summaries fit the same shape.
    """

    name: str
    type: str
    help: str
    unit: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, labels: dict[str, str] | None = None, suffix: str = "") -> None:
        self.samples.append((self.name + suffix, labels or {}, float(value)))

    @property
    def metadata(self) -> Metadata:
        return Metadata(self.type, self.help, self.unit)
