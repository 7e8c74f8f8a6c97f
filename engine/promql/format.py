"""Go-compatible text forms of floats and label sets, as Prometheus writes them."""

from __future__ import annotations

import math
from decimal import Decimal

from engine.compat.strconv import quote
from engine.tsdb.types import Labels


def format_float(v: float) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent."""
    if v != v:
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    text = repr(v)
    if "e" not in text:
        return text[:-2] if text.endswith(".0") else text
    mantissa, exp_text = text.split("e")
    sign = ""
    if mantissa[0] == "-":
        sign, mantissa = "-", mantissa[1:]
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + int(exp_text)
    if point <= 0:
        body = "0." + "0" * -point + digits
    elif point >= len(digits):
        body = digits + "0" * (point - len(digits))
    else:
        body = digits[:point] + "." + digits[point:]
    return sign + body


def format_go_value(v: float) -> str:
    """Go's ``%v`` for a float64 (shortest ``%g``: exponent below 1e-4 and from 1e6), for messages."""
    if v != v or math.isinf(v) or v == 0:
        return format_float(v)
    sign, digits, exponent = Decimal(repr(v)).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp10 = len(text) - 1 + exponent
    if -4 <= exp10 < 6:
        return format_float(v)
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"


def labels_string(labels: Labels) -> str:
    """Go's ``labels.Labels.String()``: ``{a="1", b="2"}``, the form Prometheus's errors quote."""
    return "{" + ", ".join(f"{name}={quote(value)}" for name, value in labels) + "}"
