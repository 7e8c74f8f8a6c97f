"""Grafana's template variables: the dashboard's ``templating.list`` read into values, and those values
written into panel queries as Grafana's Prometheus data source writes them.

One module so that the console's Dashboards screen and anything else that runs a dashboard's queries
(tests, tools) send the same PromQL Grafana would: ``$var``, ``${var}``, ``${var:format}``,
``[[var]]``, multi values and "All" as regex alternatives, and the built-ins ``$__interval``,
``$__rate_interval``, ``$__range`` (and their ``_ms``/``_s`` forms), ``$__from``, ``$__to``.
Dashboards are user files, so the output is bounded and every regex runs on RE2.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.compat.durations import DurationError, format_duration, parse_duration
from engine.compat.regex import RegexError
from engine.compat.regex import compile as compile_regex

ALL = "$__all"
"""Grafana's value for the "All" option."""
MAX_EXPR_CHARS = 64 * 1024
"""Longest query an interpolation may produce: a variable with thousands of values stops here."""
MAX_OPTIONS = 1000
"""Most values a variable offers (Grafana's own pickers slow down well before this)."""
DEFAULT_SCRAPE_S = 15
"""Grafana's default scrape interval for a Prometheus data source, used by ``$__rate_interval``."""
VAR_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.[^:^}]+)?(?::([^}]+))?\}")
"""Grafana's own variable pattern (public/app/features/variables/utils.ts)."""
_LABEL_VALUES_RE = re.compile(r"\s*label_values\(\s*(?:(.+?)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", re.S)
_QUERY_RESULT_RE = re.compile(r"\s*query_result\((.+)\)\s*", re.S)
_METRICS_RE = re.compile(r"\s*metrics\((.*)\)\s*", re.S)
_PROM_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")


class TemplateError(ValueError):
    """An interpolation that would be too long; the message says so in one line."""


@dataclass
class Variable:
    """One template variable; ``current`` holds the chosen values (``[ALL]`` for "All")."""

    name: str
    label: str
    kind: str
    query: str = ""
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    regex: str = ""
    sort: int = 0
    hidden: bool = False
    options: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)

    @property
    def queried(self) -> bool:
        """Whether the values come from the data source (the others are fixed in the file)."""
        return self.kind == "query"

    @property
    def is_all(self) -> bool:
        return self.current == [ALL]

    def values(self) -> list[str]:
        """The values a query gets: every option for "All"."""
        return list(self.options) if self.is_all else list(self.current)

    def text(self) -> str:
        """The choice as the selector shows it."""
        if self.is_all:
            return "All"
        return " + ".join(self.current) if self.current else "none"

    def choose(self, values: Sequence[str]) -> None:
        """Set the current values: one unless multi; "All" only if the variable offers it."""
        wanted = [v for v in values if v == ALL and self.include_all or v in self.options]
        if ALL in wanted:
            wanted = [ALL]
        self.current = wanted if self.multi else wanted[:1]

    def set_options(self, values: Sequence[str]) -> None:
        """New values from the data source; the choice is kept where it still exists, else the
        first option ("All" first when offered), as Grafana does."""
        self.options = sort_values(apply_regex(values, self.regex), self.sort)[:MAX_OPTIONS]
        kept = [v for v in self.current if v == ALL and self.include_all or v in self.options]
        if not kept:
            kept = [ALL] if self.include_all else self.options[:1]
        self.current = kept


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _query_text(raw: Any) -> str:
    """A variable's query: a string, or the query editor's ``{"query": ...}`` object."""
    if isinstance(raw, dict):
        return _text(raw.get("query"))
    return _text(raw)


def _current(raw: Any) -> list[str]:
    value = raw.get("value") if isinstance(raw, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _fixed_options(kind: str, query: str, raw: dict[str, Any]) -> list[str]:
    if kind in ("custom", "interval"):
        return [v.strip() for v in re.split(r"(?<!\\),", query) if v.strip()][:MAX_OPTIONS]
    if kind in ("constant", "textbox"):
        return [query]
    options = raw.get("options")
    return [o["value"] for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)][:MAX_OPTIONS] \
        if isinstance(options, list) else []


def parse_variables(dashboard: Mapping[str, Any]) -> list[Variable]:
    """The dashboard's variables in order; anything malformed is skipped, never raised."""
    templating = dashboard.get("templating")
    raw_list = templating.get("list") if isinstance(templating, dict) else None
    out: list[Variable] = []
    for raw in raw_list if isinstance(raw_list, list) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            continue
        kind = _text(raw.get("type")) or "query"
        query = _query_text(raw.get("query"))
        var = Variable(name=raw["name"], label=_text(raw.get("label")) or raw["name"], kind=kind, query=query,
                       multi=raw.get("multi") is True, include_all=raw.get("includeAll") is True,
                       all_value=raw.get("allValue") if isinstance(raw.get("allValue"), str) and raw["allValue"]
                       else None,
                       regex=_text(raw.get("regex")), sort=raw.get("sort") if isinstance(raw.get("sort"), int) else 0,
                       hidden=raw.get("hide") == 2)
        if kind != "query":
            var.options = _fixed_options(kind, query, raw)
        var.current = _current(raw.get("current"))
        if kind != "query" and kind != "datasource":
            var.set_options(var.options)
        out.append(var)
    return out


# -- the values of a variable -----------------------------------------------------------------------


@dataclass(frozen=True)
class ValuesQuery:
    """What to ask the data source for a variable's values: ``label`` values (of the series matching
    ``match``), the metric names matching ``metric_regex``, or the lines of an instant ``expr``."""

    label: str = ""
    match: str = ""
    expr: str = ""
    metric_regex: str = ""


def values_query(query: str) -> ValuesQuery | None:
    """Grafana's Prometheus variable query functions; None for one we cannot answer."""
    m = _LABEL_VALUES_RE.fullmatch(query)
    if m:
        return ValuesQuery(label=m.group(2), match=m.group(1) or "")
    m = _QUERY_RESULT_RE.fullmatch(query)
    if m:
        return ValuesQuery(expr=m.group(1))
    m = _METRICS_RE.fullmatch(query)
    if m:
        return ValuesQuery(label="__name__", metric_regex=m.group(1).strip())
    return None


def result_lines(result: Any) -> list[str]:
    """An instant vector as ``query_result`` lists it: ``name{a="b"} value timestamp_ms``."""
    out = []
    for sample in result if isinstance(result, list) else []:
        if not isinstance(sample, dict) or not isinstance(sample.get("metric"), dict):
            continue
        labels = {str(k): str(v) for k, v in sample["metric"].items()}
        name = labels.pop("__name__", "")
        body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        value = sample.get("value")
        if isinstance(value, list) and len(value) == 2:
            out.append(f"{name}{{{body}}} {value[1]} {round(float(value[0]) * 1000)}")
    return out


def _js_regex(text: str) -> str:
    """``/pattern/flags`` (Grafana's regex field) as an RE2 pattern; a bare pattern as is."""
    m = re.fullmatch(r"/(.*)/([a-z]*)", text, re.S)
    if not m:
        return text
    return ("(?i)" if "i" in m.group(2) else "") + m.group(1)


def apply_regex(values: Sequence[str], regex: str) -> list[str]:
    """The variable's regex: values that match, each replaced by its first group when it has one;
    duplicates dropped. A regex RE2 refuses keeps every value (the selector still works)."""
    if not regex:
        return list(dict.fromkeys(values))
    try:
        compiled = compile_regex(_js_regex(regex))
    except RegexError:
        return list(dict.fromkeys(values))
    out: dict[str, None] = {}
    for v in values:
        groups = compiled.find_submatch(v)
        if groups is None:
            continue
        picked = next((g for g in groups[1:] if g), None) if len(groups) > 1 else groups[0]
        if picked:
            out[picked] = None
    return list(out)


def sort_values(values: list[str], sort: int) -> list[str]:
    """Grafana's sort: 1/2 alphabetical, 3/4 numerical, 5/6 case-insensitive; odd ascending."""
    if sort in (1, 2):
        return sorted(values, reverse=sort == 2)
    if sort in (3, 4):
        def number(v: str) -> float:
            m = re.search(r"-?\d+(?:\.\d+)?", v)
            return float(m.group()) if m else math.inf
        return sorted(values, key=number, reverse=sort == 4)
    if sort in (5, 6):
        return sorted(values, key=str.lower, reverse=sort == 6)
    return values


# -- interpolation -----------------------------------------------------------------------------------


def grafana_duration(seconds: float) -> str:
    """An interval as Grafana writes ``$__interval``: ``15s``, ``1m``, ``2h`` (ms below a second)."""
    ms = max(1, round(seconds * 1000))
    return format_duration(ms)


def builtins(range_s: float, step_s: float, end_s: float, scrape_s: float = DEFAULT_SCRAPE_S) -> dict[str, str]:
    """The built-in variables for a query over ``range_s`` ending at ``end_s`` with ``step_s``."""
    rate_s = max(step_s + scrape_s, 4 * scrape_s)
    return {
        "__interval": grafana_duration(step_s), "__interval_ms": str(round(step_s * 1000)),
        "__rate_interval": grafana_duration(rate_s), "__rate_interval_ms": str(round(rate_s * 1000)),
        "__range": f"{round(range_s)}s", "__range_s": str(round(range_s)), "__range_ms": str(round(range_s * 1000)),
        "__from": str(round((end_s - range_s) * 1000)), "__to": str(round(end_s * 1000)),
    }


def prometheus_regex_escape(value: str) -> str:
    """Grafana's ``prometheusSpecialRegexEscape``: a value inside a regex inside a PromQL string."""
    return _PROM_SPECIAL.sub(lambda m: "\\\\" + m.group(), value.replace("\\", "\\\\\\\\"))


def _prometheus_escape(value: str) -> str:
    """Grafana's ``prometheusRegularEscape`` for a single-valued variable."""
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


def format_value(var: Variable, fmt: str | None) -> str:
    """The variable's current values as text for a query, in ``fmt`` (Grafana's format names) or as
    the Prometheus data source writes them."""
    if var.is_all and var.all_value is not None and fmt in (None, "regex", "raw"):
        return var.all_value
    values = var.values()
    if fmt is None:
        if not var.multi and not var.include_all:
            return _prometheus_escape(values[0]) if values else ""
        escaped = [prometheus_regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "regex":
        escaped = [re.escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "json":
        return json.dumps(values if var.multi or var.include_all else (values[0] if values else ""))
    if fmt == "glob":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    if fmt == "text":
        return var.text()
    return ",".join(values)  # raw, csv and formats we do not know


def interpolate(text: str, variables: Mapping[str, Variable], builtin: Mapping[str, str]) -> str:
    """``text`` with every known variable replaced; unknown ones are left as written (as Grafana
    leaves them). TemplateError past MAX_EXPR_CHARS."""
    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(5)
        if name in builtin:
            return builtin[name]
        var = variables.get(name)
        if var is None:
            return m.group(0)
        return format_value(var, fmt)

    out = VAR_RE.sub(replace, text)
    if len(out) > MAX_EXPR_CHARS:
        raise TemplateError(f"the query is longer than {MAX_EXPR_CHARS} characters once its variables are filled in")
    return out


def parse_interval(text: str) -> float | None:
    """A Grafana interval or range (``30s``, ``1h``, ``now-6h``'s ``6h``) in seconds; None if it is not one."""
    try:
        ms = parse_duration(text.strip())
    except DurationError:
        return None
    return ms / 1000 if ms > 0 else None
