"""A reader of Prometheus's PromQL conformance files (``promql/promqltest/testdata/*.test``), as
``promql/promqltest/test.go`` defines them: ``load <interval>`` blocks of series, ``clear``, and
``eval instant at <t> <expr>`` / ``eval range from <a> to <b> step <s> <expr>`` commands followed by
their expectations (``expect fail|ordered|warn|info…``, ``expect range vector …``, ``expect string``,
a scalar line, or series lines in the series notation). No engine here: cases are plain data."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.compat.durations import parse_duration
from engine.tsdb.types import STALE_NAN

_EVAL_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_EVAL_RANGE = re.compile(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
_EXPECT = re.compile(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
_EXPECT_RANGE = re.compile(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
_UNSIGNED = r"(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[iI]nf|NaN)"
_EXPANSION = re.compile(rf"^([-+]?{_UNSIGNED})(?:([-+])({_UNSIGNED}))?x(\d+)$")

OMITTED = None
"""A ``_`` in a value sequence: no sample at that position."""


class NativeHistogram(Exception):
    """A ``{{…}}`` value: the case needs native histograms."""


@dataclass
class Load:
    interval_ms: int
    series: list[tuple[dict[str, str], list[float | None]]]
    native: set[str] = field(default_factory=set)
    nhcb: set[str] = field(default_factory=set)  # load_with_nhcb: also read as native histograms


@dataclass
class Case:
    """One ``eval`` command with what it expects."""

    file: str
    line: int
    expr: str
    loads: list[Load]
    instant_at: float | None = None  # seconds; None for a range query
    start: float = 0.0
    end: float = 0.0
    step: float = 0.0
    fail: bool = False
    fail_msg: str | None = None
    fail_regex: str | None = None
    ordered: bool = False
    expect_scalar: float | None = None
    expect_string: str | None = None
    expect_range: tuple[float, float, float] | None = None
    expected: dict[tuple, tuple[dict[str, str], list[float | None]]] = field(default_factory=dict)
    order: list[tuple] = field(default_factory=list)
    native: str | None = None  # why the case needs native histograms
    reads_native: str | None = None  # its series include native-histogram samples we cannot load

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def _number(token: str) -> float:
    if token == "stale":
        return STALE_NAN
    low = token.lower().lstrip("+-")
    if low.startswith("0x"):
        return float(int(token, 16))
    if low in ("inf", "nan"):
        return float(token.replace("Inf", "inf"))
    return float(token)


def parse_values(text: str) -> list[float | None]:
    """A value sequence: ``1 2 _ stale``, ``_xN``, ``axN``, ``a+bxN``, ``a-bxN`` (N+1 values, by
    repeated addition as Go computes them)."""
    out: list[float | None] = []
    for token in text.split():
        if token.startswith("{{"):
            raise NativeHistogram(token)
        if token == "_":
            out.append(OMITTED)
        elif token.startswith("_x"):
            out.extend([OMITTED] * int(token[2:]))
        elif token.startswith("stalex"):
            out.extend([STALE_NAN] * (int(token[6:]) + 1))
        elif m := _EXPANSION.match(token):
            value = _number(m.group(1))
            delta = _number(m.group(3)) if m.group(3) else 0.0
            if m.group(2) == "-":
                delta = -delta
            for _ in range(int(m.group(4)) + 1):
                out.append(value)
                value += delta
        else:
            out.append(_number(token))
    return out


def _quoted(text: str, i: int) -> tuple[str, int]:
    quote = text[i]
    j = i + 1
    while text[j] != quote:
        j += 2 if text[j] == "\\" else 1
    raw = text[i:j + 1]
    if quote == "`":
        return raw[1:-1], j + 1
    if quote == "'":
        raw = '"' + raw[1:-1].replace('"', '\\"').replace("\\'", "'") + '"'
    return json.loads(raw), j + 1


def parse_series(line: str) -> tuple[dict[str, str], str]:
    """``name{a="b"} values`` → (labels with ``__name__``, the rest of the line)."""
    line = line.strip()
    labels: dict[str, str] = {}
    m = re.match(r"[a-zA-Z_:][\w:.]*", line)
    i = 0
    if m and not line.startswith("{"):
        labels["__name__"] = m.group(0)
        i = m.end()
    if i < len(line) and line[i] == "{":
        i += 1
        while True:
            while line[i] in " \t,":
                i += 1
            if line[i] == "}":
                i += 1
                break
            if line[i] in "\"'`":
                name, i = _quoted(line, i)
            else:
                m = re.compile(r"[\w.:]+").match(line, i)
                name, i = m.group(0), m.end()
            while line[i] in " \t":
                i += 1
            if line[i] in ",}":
                labels["__name__"] = name
                continue
            assert line[i] == "=", line
            i += 1
            while line[i] in " \t":
                i += 1
            labels[name], i = _quoted(line, i)
    return labels, line[i:].strip()


def _key(labels: dict[str, str]) -> tuple:
    return tuple(sorted(labels.items()))


def _seconds(duration: str) -> float:
    return parse_duration(duration.strip()) / 1000


def _expectations(case: Case, lines: list[str], i: int) -> int:
    """Reads the lines after an eval command up to a blank line; returns the index of the last."""
    while i + 1 < len(lines) and lines[i + 1]:
        i += 1
        line = lines[i]
        if case.fail and line.startswith("expected_fail_message"):
            case.fail_msg = line.removeprefix("expected_fail_message").strip()
            break
        if case.fail and line.startswith("expected_fail_regexp"):
            case.fail_regex = line.removeprefix("expected_fail_regexp").strip()
            break
        if m := _EXPECT_RANGE.match(line):
            case.expect_range = (_seconds(m.group(1)), _seconds(m.group(2)), _seconds(m.group(3)))
            continue
        if line.startswith("expect string"):
            case.expect_string = _quoted(line.removeprefix("expect string").strip(), 0)[0]
            continue
        if line.split(" ")[0] == "expect":
            m = _EXPECT.match(line)
            assert m, line
            kind, how, text = m.groups()
            if kind == "fail":
                case.fail = True
                if how == "msg":
                    case.fail_msg = text.strip()
                elif how == "regex":
                    case.fail_regex = text.strip()
            elif kind == "ordered":
                case.ordered = True
            continue  # warnings and infos (annotations) are not checked: see SKIPS.md
        try:
            case.expect_scalar = _number(line)
            break
        except ValueError:
            pass
        labels, rest = parse_series(line)
        try:
            values = parse_values(rest)
        except NativeHistogram:
            case.native = "expects a native histogram"
            continue
        key = _key(labels)
        if key not in case.expected:
            case.order.append(key)
        case.expected[key] = (labels, values)
    return i


def parse_file(path: Path) -> list[Case]:
    """Every eval command of a .test file, each with the loads in force when it runs."""
    lines = []
    for raw in path.read_text().split("\n"):
        stripped = raw.strip()
        lines.append("" if stripped.startswith("#") else stripped)
    cases: list[Case] = []
    loads: list[Load] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        word = line.split(None, 1)[0].lower() if line else ""
        if word == "clear":
            loads = []
        elif word.startswith("load"):
            load = Load(parse_duration(line.split(None, 1)[1].strip()), [])
            while i + 1 < len(lines) and lines[i + 1]:
                i += 1
                labels, rest = parse_series(lines[i])
                if "@st " in lines[i].split("}")[0] + " ":
                    continue
                name = labels.get("__name__", "")
                if word == "load_with_nhcb" and name.endswith("_bucket"):
                    load.nhcb.add(name.removesuffix("_bucket"))
                try:
                    load.series.append((labels, parse_values(rest)))
                except NativeHistogram:
                    load.native.add(labels.get("__name__", ""))
            loads = [*loads, load]
        elif word.startswith("eval"):
            case = Case(path.name, i + 1, "", loads)
            if m := _EVAL_INSTANT.match(line):
                mod, at, case.expr = m.groups()
                case.instant_at = _seconds(at or "0")
            else:
                m = _EVAL_RANGE.match(line)
                assert m, line
                mod, start, end, step, case.expr = m.groups()
                case.start, case.end, case.step = _seconds(start), _seconds(end), _seconds(step)
            case.fail, case.ordered = mod == "fail", mod == "ordered"
            i = _expectations(case, lines, i)
            nhcb = {name for load in loads for name in load.nhcb}
            if hit := [name for name in nhcb if re.search(rf"\b{re.escape(name)}\b", case.expr)]:
                case.native = case.native or f"reads {hit[0]} as a native histogram with custom buckets"
            native = {name for load in loads for name in load.native}
            if hit := [name for name in native if re.search(rf"\b{re.escape(name)}\b", case.expr)]:
                case.reads_native = f"reads {hit[0]}, loaded with native-histogram samples"
            cases.append(case)
        i += 1
    return cases


def almost_equal(a: float, b: float, epsilon: float = 1e-6) -> bool:
    """Go's ``util/almost.Equal``: equal NaNs, or a relative difference under epsilon."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    min_normal = 2.2250738585072014e-308
    if a == 0 or b == 0 or abs_sum < min_normal:
        return diff < epsilon * min_normal
    return diff / min(abs_sum, 1.7976931348623157e308) < epsilon
