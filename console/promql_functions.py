"""PromQL's functions and aggregations with their signatures, as Prometheus documents them: what
the Explore line completes and shows while a call is typed. The names are the engine's
(``engine.promql.parse``), checked by a test so the two lists cannot drift apart."""

from __future__ import annotations

_V, _R, _S = "v instant-vector", "v range-vector", "scalar"
_MATH = ("abs", "ceil", "exp", "floor", "ln", "log2", "log10", "sqrt", "sgn", "sin", "cos", "tan", "asin",
         "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "deg", "rad", "sort", "sort_desc",
         "timestamp")
_OVER_TIME = ("avg", "min", "max", "sum", "count", "last", "first", "mad", "stddev", "stdvar", "present",
              "absent", "ts_of_last", "ts_of_first", "ts_of_min", "ts_of_max")
_DATE = ("minute", "hour", "day_of_week", "day_of_month", "day_of_year", "days_in_month", "month", "year")
_AGGREGATIONS = ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar")

SIGNATURES: dict[str, str] = {
    **{name: _V for name in _MATH},
    **{f"{name}_over_time": _R for name in _OVER_TIME},
    **{name: "v=vector(time()) instant-vector" for name in _DATE},
    **{name: _R for name in ("rate", "irate", "increase", "delta", "idelta", "deriv", "resets", "changes")},
    **{name: f"{_V}) by|without (labels…" for name in _AGGREGATIONS},
    **{name: "" for name in ("time", "pi", "start", "end", "range", "step")},
    "absent": _V,
    "clamp": f"{_V}, min scalar, max scalar",
    "clamp_min": f"{_V}, min scalar",
    "clamp_max": f"{_V}, max scalar",
    "round": f"{_V}, to_nearest=1 scalar",
    "vector": "s scalar",
    "scalar": _V,
    "predict_linear": f"{_R}, t scalar",
    "quantile_over_time": f"φ scalar, {_R}",
    "double_exponential_smoothing": f"{_R}, sf scalar, tf scalar",
    "histogram_quantile": f"φ {_S}, b instant-vector",
    "histogram_quantiles": "b instant-vector, label string, φ scalar, …",
    "histogram_fraction": f"lower {_S}, upper {_S}, b instant-vector",
    "label_replace": f"{_V}, dst_label string, replacement string, src_label string, regex string",
    "label_join": f"{_V}, dst_label string, separator string, src_label string, …",
    "sort_by_label": f"{_V}, label string, …",
    "sort_by_label_desc": f"{_V}, label string, …",
    "min_of": "a scalar, b scalar",
    "max_of": "a scalar, b scalar",
    "topk": f"k {_S}, v instant-vector",
    "bottomk": f"k {_S}, v instant-vector",
    "limitk": f"k {_S}, v instant-vector",
    "limit_ratio": f"ratio {_S}, v instant-vector",
    "quantile": f"φ {_S}, v instant-vector",
    "count_values": "label string, v instant-vector",
}

COMMON = ("rate", "irate", "increase", "sum", "avg", "max", "min", "count", "histogram_quantile", "topk",
          "bottomk", "delta", "deriv", "abs", "round", "clamp_min", "clamp_max", "label_replace", "absent")
"""The most used functions, completed before the others (``ra`` → ``rate(``, not ``rad(``)."""


def signature(name: str) -> str | None:
    """``rate(v range-vector)`` for ``rate``; None for a name that is no function."""
    args = SIGNATURES.get(name)
    return None if args is None else f"{name}({args})"


def open_call(text: str) -> str | None:
    """The function whose call the end of ``text`` is inside (``rate(foo[5m]`` → ``rate``), if any."""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        char = text[i]
        if char == ")":
            depth += 1
        elif char == "(":
            if depth == 0:
                j = i
                while j > 0 and (text[j - 1].isalnum() or text[j - 1] == "_"):
                    j -= 1
                name = text[j:i]
                return name if name in SIGNATURES else None
            depth -= 1
    return None
