"""Renders the store's live series in the Prometheus text format 0.0.4 or OpenMetrics 1.0.

Written by hand rather than with prometheus-client's ``generate_latest`` because the series
already live in the store with their exposition prefix precomputed: one pass, one join.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.tsdb.head import MemSeries
from engine.tsdb.types import Metadata

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_NO_HELP = "Metric received without metadata."
_GROUPED = ("histogram", "summary")
_SUFFIX_ORDER = {"_bucket": 0, "": 0, "_count": 1, "_sum": 2, "_created": 3}


def wants_openmetrics(accept: str) -> bool:
    return "application/openmetrics-text" in accept


def _escape_help(text: str, openmetrics: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if openmetrics else text


class FamilyResolver:
    """Maps a series name to its family (``x_bucket`` -> ``x`` for histograms), memoised."""

    def __init__(self, metadata: dict[str, Metadata]) -> None:
        self.metadata = metadata
        self._cache: dict[str, tuple[str, Metadata, str]] = {}

    def __call__(self, name: str) -> tuple[str, Metadata, str]:
        hit = self._cache.get(name)
        if hit is None:
            hit = self._cache[name] = self._resolve(name)
        return hit

    def _resolve(self, name: str) -> tuple[str, Metadata, str]:
        md = self.metadata.get(name)
        if md is not None and md.type not in _GROUPED:
            return name, md, ""
        for suffix in ("_bucket", "_count", "_sum", "_created"):
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                bmd = self.metadata.get(base)
                if bmd is not None and bmd.type in _GROUPED:
                    return base, bmd, suffix
        return name, md or Metadata("untyped", _NO_HELP), ""


def _histogram_key(series: MemSeries, suffix: str) -> tuple:
    others = tuple((k, v) for k, v in series.labels if k not in ("__name__", "le", "quantile"))
    bound = 0.0
    for k, v in series.labels:
        if k in ("le", "quantile"):
            try:
                bound = float(v)
            except ValueError:
                bound = float("inf")
    return others, _SUFFIX_ORDER.get(suffix, 9), bound


def render(live: Iterable[tuple[str, list[tuple[MemSeries, float]]]], metadata: dict[str, Metadata],
           openmetrics: bool) -> bytes:
    """The exposition body for the live series, given grouped by metric name (Store.live).

    Hot path (a scrape of every live series): families are resolved once per name, lines are
    formatted with one f-string each, and NaN/Inf are fixed up on the joined text.
    """
    resolve = FamilyResolver(metadata)
    families: dict[str, tuple[Metadata, list[tuple[str, list[tuple[MemSeries, float]]]]]] = {}
    for name, members in live:
        fam, md, suffix = resolve(name)
        entry = families.get(fam)
        if entry is None:
            entry = families[fam] = (md, [])
        entry[1].append((suffix, members))

    out: list[str] = []
    for fam in sorted(families):
        md, groups = families[fam]
        if md.type in _GROUPED:
            ordered = sorted(((s, v, suffix) for suffix, members in groups for s, v in members),
                             key=lambda m: _histogram_key(m[0], m[2]))
            groups = [("", [(s, v) for s, v, _ in ordered])]
        if openmetrics:
            om_name, om_type = _openmetrics_family(fam, md.type)
            out.append(f"# TYPE {om_name} {om_type}\n")
            if md.unit and om_name.endswith("_" + md.unit):
                out.append(f"# UNIT {om_name} {md.unit}\n")
            out.append(f"# HELP {om_name} {_escape_help(md.help or _NO_HELP, True)}\n")
        else:
            out.append(f"# HELP {fam} {_escape_help(md.help or _NO_HELP, False)}\n")
            out.append(f"# TYPE {fam} {md.type}\n")
        for _, members in groups:
            out.extend([f"{s.prefix} {v!r}\n" for s, v in members])
    if openmetrics:
        out.append("# EOF\n")
    text = "".join(out)
    if "n\n" in text or "f\n" in text:  # Python spells nan/inf/-inf differently from Prometheus
        text = text.replace(" nan\n", " NaN\n").replace(" -inf\n", " -Inf\n").replace(" inf\n", " +Inf\n")
    return text.encode()


def _openmetrics_family(name: str, metric_type: str) -> tuple[str, str]:
    if metric_type == "counter":
        return (name[:-6], "counter") if name.endswith("_total") else (name, "unknown")
    if metric_type == "untyped":
        return name, "unknown"
    return name, metric_type
