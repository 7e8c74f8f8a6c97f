"""Text as promtool prints it (Go's strconv and Prometheus's label formatting), so our diffs read
the same as the real tool's and can be compared line by line."""

from __future__ import annotations

import math
from decimal import Decimal

from engine.compat.strconv import quote
from engine.promql.format import labels_string

__all__ = ["format_float_e", "labels_string", "quote"]


def format_float_e(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'E', -1, 64)``: shortest digits, ``1.5E+00``, ``NaN``, ``+Inf``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    exp10 = exponent + len(digits) - 1
    return f"{'-' if sign else ''}{mantissa}E{'+' if exp10 >= 0 else '-'}{abs(exp10):02d}"


