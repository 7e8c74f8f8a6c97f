"""Text as promtool prints it (Go's strconv and Prometheus's label formatting), so our diffs read
the same as the real tool's and can be compared line by line."""

from __future__ import annotations

import math
from decimal import Decimal

from engine.tsdb.types import Labels

_SIMPLE_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t",
                   "\v": r"\v", "\\": r"\\", '"': r"\""}


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


def quote(text: str) -> str:
    """Go's ``strconv.Quote``: printable characters kept, the rest escaped."""
    out = ['"']
    for ch in text:
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def labels_string(labels: Labels) -> str:
    """Prometheus's ``labels.Labels.String()``: ``{__name__="up", job="api"}``."""
    return "{" + ", ".join(f"{name}={quote(value)}" for name, value in labels) + "}"
