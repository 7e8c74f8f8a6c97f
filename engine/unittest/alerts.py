"""Checking an ``alert_rule_test`` case exactly as promtool 2.42 does, and showing the difference.

promtool compares only firing alerts, adds ``alertname`` to every expected label set, and sorts
both sides by labels then annotations before an exact comparison, so order never matters and an
empty ``exp_alerts`` means "not firing". Its failure text is reproduced character for character
(trailing spaces included); our diff follows it, one alert per line.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.compat.durations import format_duration
from engine.promql.format import labels_string
from engine.tsdb.types import Labels
from engine.unittest.testfile import AlertCase


@dataclass(frozen=True, slots=True, order=True)
class AlertPoint:
    """A firing alert as promtool sees it: labels and annotations, each sorted by name."""

    labels: Labels
    annotations: Labels

    @classmethod
    def of(cls, labels: dict[str, str], annotations: dict[str, str]) -> AlertPoint:
        return cls(tuple(sorted(labels.items())), tuple(sorted(annotations.items())))

    def __str__(self) -> str:
        return f"Labels:{labels_string(self.labels)}\nAnnotations:{labels_string(self.annotations)}"


def expected_alerts(case: AlertCase) -> list[AlertPoint]:
    """The case's expected alerts, with ``alertname`` set as promtool sets it (overriding any given)."""
    return sorted(AlertPoint.of({**alert.exp_labels, "alertname": case.alertname}, alert.exp_annotations)
                  for alert in case.exp_alerts)


def check_alerts(case: AlertCase, got: list[AlertPoint], group_name: str) -> str | None:
    """None when the firing alerts are the expected ones, else promtool's failure text plus a diff."""
    expected, got = expected_alerts(case), sorted(got)
    if expected == got:
        return None
    name = f"    name: {group_name},\n" if group_name else ""
    lines = [f"{name}    alertname: {case.alertname}, time: {format_duration(case.eval_time)}, ",
             f"        exp:{_indent(_alerts_string(expected), ' ' * 12)}, ",
             f"        got:{_indent(_alerts_string(got), ' ' * 12)}",
             "        diff (- expected only, + got only):"]
    lines += [f"          {line}" for line in _diff(expected, got)]
    return "\n".join(lines)


def _alerts_string(alerts: list[AlertPoint]) -> str:
    """promtool's ``labelsAndAnnotations.String()``: ``[]``, or numbered entries over several lines."""
    if not alerts:
        return "[]"
    return "[\n" + ",\n".join(f"{i}:" + _indent(f"\n{alert}", "  ") for i, alert in enumerate(alerts)) + "\n]"


def _indent(text: str, prefix: str) -> str:
    """promtool's ``indentLines``: every line but the first gets the prefix."""
    first, *rest = text.split("\n")
    return "\n".join([first, *(prefix + line for line in rest)])


def _diff(expected: list[AlertPoint], got: list[AlertPoint]) -> list[str]:
    """Alerts on one side only, ``-`` expected and ``+`` got, in label order so near misses sit together."""
    unmatched = list(got)
    only_expected = []
    for alert in expected:
        if alert in unmatched:
            unmatched.remove(alert)
        else:
            only_expected.append(alert)
    lines = [(a, 0, "- ") for a in only_expected] + [(a, 1, "+ ") for a in unmatched]
    return [f"{sign}{_one_line(a)}" for a, _, sign in sorted(lines, key=lambda line: (line[0], line[1]))]


def _one_line(alert: AlertPoint) -> str:
    return f"Labels:{labels_string(alert.labels)} Annotations:{labels_string(alert.annotations)}"
