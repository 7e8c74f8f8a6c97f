"""Query results as the rest of the product sees them, and their Prometheus API JSON form."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import msgspec

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

    def to_json(self) -> bytes:
        """``json.dumps(self.to_prometheus(), separators=(",", ":"))`` byte for byte, with matrices
        written as text directly: a range result holds up to millions of points, and building a
        list per point for ``json.dumps`` costs more than evaluating the query."""
        if self.result_type != "matrix":
            return json.dumps(self.to_prometheus(), separators=_COMPACT).encode()
        templates: dict[tuple, str] = {}  # per distinct time sequence: the points with %s for values
        parts = []
        for s in self.value:
            if not s.points:
                points = ""
            else:
                times, values = zip(*s.points, strict=True)
                template = templates.get(times)
                if template is None:
                    template = templates[times] = ",".join([f'[{json.dumps(_json_time(t))},"%s"]' for t in times])
                # msgspec writes Go's shortest 'f' form (10x faster than repr) but for a trailing
                # ".0", exponents, and null for inf and nan: those series take the slow way
                encoded = _FLOATS.encode(values).decode()
                if "e" in encoded or "n" in encoded:
                    texts = list(map(format_float_f, values))
                else:
                    texts = encoded[1:-1].replace(".0,", ",").split(",")
                    if texts[-1][-2:] == ".0":
                        texts[-1] = texts[-1][:-2]
                points = template % tuple(texts)
            parts.append(f'{{"metric":{json.dumps(s.labels, separators=_COMPACT)},"values":[{points}]}}')
        return f'{{"resultType":"matrix","result":[{",".join(parts)}]}}'.encode()


_COMPACT = (",", ":")
_FLOATS = msgspec.json.Encoder()
