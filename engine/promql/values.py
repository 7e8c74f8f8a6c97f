"""Query results as the rest of the product sees them, and their Prometheus API JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.compat.strconv import format_float_f


@dataclass(slots=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float


@dataclass(slots=True)
class Series:
    """One series of a range result: (unix seconds, value) points in time order."""

    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)


def _json_time(t: float) -> float | int:
    """Prometheus writes whole seconds without a fraction."""
    return int(t) if t == int(t) else t


@dataclass(slots=True)
class QueryResult:
    """``result_type`` is vector, matrix, scalar or string; ``timestamp`` is the evaluation time
    of an instant query (vector samples carry no time of their own)."""

    result_type: str
    value: list[Sample] | list[Series] | tuple[float, float] | tuple[float, str]
    timestamp: float = 0.0

    def to_prometheus(self) -> dict:
        """The ``data`` object of Prometheus's ``/api/v1/query`` and ``query_range`` responses."""
        kind = self.result_type
        if kind == "vector":
            t = _json_time(self.timestamp)
            result: object = [{"metric": dict(s.labels), "value": [t, format_float_f(s.value)]}
                              for s in self.value]
        elif kind == "matrix":
            result = [{"metric": dict(s.labels),
                       "values": [[_json_time(t), format_float_f(v)] for t, v in s.points]}
                      for s in self.value]
        elif kind == "scalar":
            t, v = self.value
            result = [_json_time(t), format_float_f(v)]
        else:
            t, text = self.value
            result = [_json_time(t), text]
        return {"resultType": kind, "result": result}
