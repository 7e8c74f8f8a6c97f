"""A lean reader of what targets expose: the text format 0.0.4 and OpenMetrics 1.0.

Why our own: prometheus_client's parsers build a Metric object per family and a Sample per line
(~10 us a line); a scrape of 100 targets x 1,000 series every 15 s must cost far less. This reader
splits each line into its series text (``name{labels}``, kept raw: the target's cache maps it to the
final label set, as Prometheus's scrape cache does) and its value; labels are parsed only for a
series text not seen before (``parse_series``). Explicit sample timestamps are checked for form and
otherwise not used: every sample is taken at the scrape's time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from engine.compat.strconv import parse_float
from engine.tsdb.types import Metadata

METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.ASCII)
_LABEL_RE = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*(,?)[ \t]*', re.ASCII)
_SERIES_END_RE = re.compile(r'[^{\s]*\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\}')
_ESCAPE_RE = re.compile(r"\\(.)")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_TEXT_TYPES = {"counter": "counter", "gauge": "gauge", "histogram": "histogram", "summary": "summary",
               "untyped": "untyped"}
_OM_TYPES = {"counter": "counter", "gauge": "gauge", "histogram": "histogram", "summary": "summary",
             "unknown": "untyped", "info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram"}
"""OpenMetrics types as the store keeps them (its five Prometheus types)."""
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
             "summary": ("_sum", "_count", "_created"), "gauge": (), "untyped": ()}
_OM_EXTRA = {"info": ("_info",), "gaugehistogram": ("_bucket", "_gsum", "_gcount")}
_OM_EXTRA_ALL = ("_info", "_gsum", "_gcount")
_ALL_SUFFIXES = ("_total", "_created", "_bucket", "_sum", "_count", "_info", "_gsum", "_gcount")

OPENMETRICS = "application/openmetrics-text"


class ParseError(ValueError):
    """The body is not valid exposition text; the message names the line."""


@dataclass(slots=True)
class ScrapedFamily:
    """One family's metadata and its samples as (raw series text, value)."""

    name: str
    type: str = "untyped"
    help: str = ""
    unit: str = ""
    samples: list[tuple[str, float]] = field(default_factory=list)
    suffixes: tuple[str, ...] = ()


@dataclass(slots=True)
class Samples:
    """A scrape body as the scrape loop needs it: each sample's raw series text and value, in body
    order, and the metadata of each family that declares any (TYPE, HELP, UNIT)."""

    keys: list[str]
    values: list[float]
    metadata: dict[str, Metadata]
    openmetrics: bool

    def family_of(self, name: str) -> tuple[str, Metadata]:
        """The family a series name belongs to (``x_bucket`` to a histogram ``x``), and its metadata;
        an undeclared name is its own untyped family."""
        meta = self.metadata.get(name)
        if meta is not None:
            return name, meta
        for suffix in _ALL_SUFFIXES:
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                meta = self.metadata.get(base)
                if meta is not None and suffix in _SUFFIXES[meta.type] + (_OM_EXTRA_ALL if self.openmetrics else ()):
                    return base, meta
        return name, Metadata()


def read_samples(body: str, openmetrics: bool = False) -> Samples:
    """Every sample of a body, as fast as the common case allows (``_read_regular``); anything
    irregular goes through ``parse``, which names the faulty line. Raises ParseError."""
    fast = _read_regular(body, openmetrics)
    return fast if fast is not None else read_strictly(body, openmetrics)


def read_strictly(body: str, openmetrics: bool = False) -> Samples:
    """``read_samples`` through the full parser only."""
    families = parse(body, openmetrics)
    return Samples([k for f in families for k, _ in f.samples], [v for f in families for _, v in f.samples],
                   {f.name: Metadata(f.type, f.help, f.unit) for f in families}, openmetrics)


def _read_regular(body: str, openmetrics: bool) -> Samples | None:
    """The common case in one pass of cheap string operations: a sample line is split at its last
    space. None for whatever needs the full parser (timestamps, tabs, exemplars, odd metadata); a
    series text that is not really one (a timestamp taken into it) fails later in ``parse_series``,
    and the scrape loop then reads the body with ``parse``."""
    if openmetrics:
        body = body.rstrip("\n")
        if " # " in body or not body.endswith("\n# EOF"):
            return None
        body = body[: -len("\n# EOF")]
    keys: list[str] = []
    texts: list[str] = []
    comments: list[str] = []
    for line in body.split("\n"):
        if not line:
            if openmetrics:
                return None
        elif line[0] == "#":
            comments.append(line)
        else:
            key, _, text = line.rpartition(" ")
            keys.append(key)
            texts.append(text)
    joined = "".join(texts)
    if "" in keys or "_" in joined or "\t" in joined:
        return None
    try:
        values = list(map(float, texts))
    except ValueError:
        return None
    metadata = _metadata(comments, openmetrics)
    return None if metadata is None else Samples(keys, values, metadata, openmetrics)


def _metadata(comments: list[str], openmetrics: bool) -> dict[str, Metadata] | None:
    """TYPE, HELP and UNIT lines by family; None when one is malformed or repeated (``parse`` says which)."""
    types = _OM_TYPES if openmetrics else _TEXT_TYPES
    metadata: dict[str, Metadata] = {}
    seen: set[tuple[str, str]] = set()
    for line in comments:
        parts = line.split(" ", 3)
        if len(parts) < 3 or parts[0] != "#" or parts[1] not in ("HELP", "TYPE", "UNIT"):
            if openmetrics:
                return None
            continue
        keyword, name = parts[1], parts[2]
        text = parts[3] if len(parts) > 3 else ""
        if (keyword, name) in seen or not METRIC_NAME_RE.fullmatch(name):
            return None
        seen.add((keyword, name))
        old = metadata.get(name, Metadata())
        if keyword == "TYPE":
            if text.strip() not in types:
                return None
            metadata[name] = Metadata(types[text.strip()], old.help, old.unit)
        elif keyword == "HELP":
            metadata[name] = Metadata(old.type, _unescape(text, strict=openmetrics) if "\\" in text else text, old.unit)
        else:
            metadata[name] = Metadata(old.type, old.help, text.strip())
    return metadata


def is_openmetrics(content_type: str) -> bool:
    """What Prometheus decides from the Content-Type: OpenMetrics, else the text format."""
    return content_type.split(";", 1)[0].strip().lower() == OPENMETRICS


def parse(body: str, openmetrics: bool = False) -> list[ScrapedFamily]:
    """Every family with its samples, in body order. Raises ParseError."""
    families: list[ScrapedFamily] = []
    by_name: dict[str, ScrapedFamily] = {}
    current: ScrapedFamily | None = None
    types = _OM_TYPES if openmetrics else _TEXT_TYPES
    lines = body.split("\n")
    if openmetrics:
        while lines and lines[-1] == "":
            lines.pop()
        if not lines or lines[-1] != "# EOF":
            raise ParseError("OpenMetrics text must end with # EOF")
        lines.pop()
    number = 0
    for number, line in enumerate(lines, 1):  # noqa: B007 (number names the line of an error)
        if not line:
            if openmetrics:
                raise ParseError(f"line {number}: empty line in OpenMetrics text")
            continue
        if line[0] == "#":
            current = _comment(line, number, openmetrics, types, families, by_name, current)
            continue
        brace = line.find("{")
        if brace > 0 and " " not in line[:brace] and "\t" not in line[:brace]:
            if openmetrics and " # " in line:
                m = _SERIES_END_RE.match(line)
                if m is None:
                    raise ParseError(f"line {number}: unterminated label set")
                end = m.end()
            else:
                end = line.rfind("}") + 1
            key = line[:end]
            rest = line[end:].split()
            name = line[:brace]
        else:
            rest = line.split()
            key = name = rest.pop(0)
        if not rest:
            raise ParseError(f"line {number}: no value for {key[:100]!r}")
        text = rest[0]
        try:
            value = float(text) if "_" not in text else parse_float(text)
        except ValueError:
            raise ParseError(f"line {number}: {text[:50]!r} is not a number") from None
        if len(rest) > 1 and rest[1] != "#":
            _timestamp(rest[1], number, openmetrics)
        if current is None or not (name == current.name or (name.startswith(current.name)
                                                            and name[len(current.name):] in current.suffixes)):
            current = by_name.get(name)
            if current is None:
                current = _new_family(name, "untyped", families, by_name)
        current.samples.append((key, value))
    return families


def parse_series(key: str) -> tuple[str, dict[str, str]]:
    """The metric name and labels of a raw series text (``name{a="1"}``). Raises ParseError."""
    brace = key.find("{")
    name = key if brace < 0 else key[:brace]
    if not METRIC_NAME_RE.fullmatch(name):
        raise ParseError(f"{name[:100]!r} is not a valid metric name")
    labels: dict[str, str] = {}
    if brace < 0:
        return name, labels
    if not key.endswith("}"):
        raise ParseError(f"invalid label set in {key[:200]!r}")
    pos = brace + 1
    end = len(key) - 1
    while pos < end:
        m = _LABEL_RE.match(key, pos, end)
        if m is None:
            raise ParseError(f"invalid label set in {key[:200]!r}")
        label, raw = m[1], m[2]
        if label in labels:
            raise ParseError(f"duplicate label name {label!r} in {key[:200]!r}")
        labels[label] = _unescape(raw) if "\\" in raw else raw
        pos = m.end()
        if not m[3] and pos < end:
            raise ParseError(f"invalid label set in {key[:200]!r}")
    return name, labels


def _unescape(raw: str, strict: bool = True) -> str:
    """Label values (and OpenMetrics HELP) allow only ``\\\\``, ``\\"`` and ``\\n``; text-format
    HELP keeps any other backslash as it is."""
    def one(m: re.Match[str]) -> str:
        ch = _ESCAPES.get(m[1])
        if ch is None:
            if not strict:
                return m[0]
            raise ParseError(f"invalid escape sequence \\{m[1]} in a label value")
        return ch

    return _ESCAPE_RE.sub(one, raw)


def _timestamp(text: str, number: int, openmetrics: bool) -> None:
    try:
        t = float(text) if openmetrics else int(text)
    except ValueError:
        raise ParseError(f"line {number}: {text[:50]!r} is not a timestamp") from None
    if not math.isfinite(t):
        raise ParseError(f"line {number}: {text[:50]!r} is not a timestamp")


def _new_family(name: str, type_: str, families: list[ScrapedFamily],
                by_name: dict[str, ScrapedFamily]) -> ScrapedFamily:
    fam = ScrapedFamily(name, type_)
    families.append(fam)
    by_name[name] = fam
    return fam


def _comment(line: str, number: int, openmetrics: bool, types: dict[str, str], families: list[ScrapedFamily],
             by_name: dict[str, ScrapedFamily], current: ScrapedFamily | None) -> ScrapedFamily | None:
    """``# HELP``, ``# TYPE`` and ``# UNIT`` lines; other comments are skipped (refused in OpenMetrics)."""
    parts = line.split(None, 3)
    if len(parts) < 3 or parts[1] not in ("HELP", "TYPE", "UNIT"):
        if openmetrics:
            raise ParseError(f"line {number}: unexpected comment in OpenMetrics text")
        return current
    keyword, name = parts[1], parts[2]
    if not METRIC_NAME_RE.fullmatch(name):
        raise ParseError(f"line {number}: {name[:100]!r} is not a valid metric name")
    fam = by_name.get(name)
    if fam is None:
        fam = _new_family(name, "untyped", families, by_name)
    elif fam is not current or (keyword == "TYPE" and fam.samples):
        if keyword == "TYPE" or not openmetrics:
            raise ParseError(f"line {number}: second {keyword} line for metric name {name!r}, "
                             "or TYPE reported after samples")
    text = parts[3] if len(parts) > 3 else ""
    if keyword == "TYPE":
        declared = text.strip()
        if declared not in types:
            raise ParseError(f"line {number}: unknown metric type {declared!r}")
        fam.type = types[declared]
        fam.suffixes = _SUFFIXES[fam.type] + (_OM_EXTRA.get(declared, ()) if openmetrics else ())
        if fam.type == "counter" and not openmetrics:
            fam.suffixes = ()
    elif keyword == "HELP":
        fam.help = _unescape(text, strict=openmetrics) if "\\" in text else text
    else:
        fam.unit = text.strip()
    return fam
