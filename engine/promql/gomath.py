"""Float helpers that behave like Go's ``math`` package, so results match Prometheus bit for bit.

Python raises where Go returns ±Inf or NaN (division by zero, ``log(0)``, ``sqrt(-1)``...), and a
few Go functions use a different algorithm than the C library (``Pow``, ``Log2``, ``Log10``), so
the evaluator goes through these instead of the operators and ``math`` directly.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

INF = math.inf
NAN = math.nan


def _reciprocal(text: str) -> float:
    with localcontext() as ctx:
        ctx.prec = 60
        return float(1 / Decimal(text))


# Go computes these constants exactly and rounds once: 1/Ln2 and 1/Ln10.
_INV_LN2 = _reciprocal("0.693147180559945309417232121458176568075500134360255254120680009")
_INV_LN10 = _reciprocal("2.30258509299404568401799145468436420760110148862877297603332790")


def kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """Prometheus's ``kahansum.Inc``: Neumaier-compensated addition of ``inc`` to ``total``."""
    t = total + inc
    if t == INF or t == -INF:
        return t, 0.0
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def div(a: float, b: float) -> float:
    """IEEE division: ``x/0`` is ±Inf, ``0/0`` is NaN."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return NAN
        return INF if (a > 0) == (math.copysign(1.0, b) > 0) else -INF


def mod(a: float, b: float) -> float:
    """Go's ``math.Mod`` (the sign of the result follows ``a``)."""
    if b == 0 or a != a or b != b or math.isinf(a):
        return NAN
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def sqrt(x: float) -> float:
    if x != x or x < 0:
        return NAN
    return math.sqrt(x)


_SQRT2_HALF = math.sqrt(2) / 2
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_L1 = 6.666666666666735130e-01
_L2 = 3.999999999940941908e-01
_L3 = 2.857142874366239149e-01
_L4 = 2.222219843214978396e-01
_L5 = 1.818357216161805012e-01
_L6 = 1.531383769920937332e-01
_L7 = 1.479819860511658591e-01


def ln(x: float) -> float:
    """Go's ``math.Log`` (FreeBSD's ``e_log.c``, which Go's amd64 assembly follows step by step),
    so results match Prometheus to the last bit where the C library's ``log`` may not."""
    if x != x or x == INF:
        return x
    if x < 0:
        return NAN
    if x == 0:
        return -INF
    f1, ki = math.frexp(x)
    if f1 < _SQRT2_HALF:
        f1 *= 2
        ki -= 1
    f = f1 - 1
    k = float(ki)
    s = f / (2 + f)
    s2 = s * s
    s4 = s2 * s2
    t1 = s2 * (_L1 + s4 * (_L3 + s4 * (_L5 + s4 * _L7)))
    t2 = s4 * (_L2 + s4 * (_L4 + s4 * _L6))
    r = t1 + t2
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)


def log2(x: float) -> float:
    """Go's ``math.Log2``: exact for powers of two, ``Log(frac)/Ln2 + exp`` otherwise."""
    frac, exp = math.frexp(x)
    if frac == 0.5:
        return float(exp - 1)
    return ln(frac) * _INV_LN2 + float(exp)


def log10(x: float) -> float:
    """Go's ``math.Log10``: ``Log(x) * (1/Ln10)``."""
    return ln(x) * _INV_LN10


def exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def floor(x: float) -> float:
    if x != x or math.isinf(x):
        return x
    r = float(math.floor(x))
    return math.copysign(0.0, x) if r == 0 else r


def ceil(x: float) -> float:
    if x != x or math.isinf(x):
        return x
    r = float(math.ceil(x))
    return math.copysign(0.0, x) if r == 0 else r


def go_max(a: float, b: float) -> float:
    """Go's ``math.Max``: +Inf wins over NaN, NaN over numbers, +0 over -0."""
    if a == INF or b == INF:
        return INF
    if a != a or b != b:
        return NAN
    if a == 0 and b == 0:
        return a if math.copysign(1.0, a) > 0 else b
    return a if a > b else b


def go_min(a: float, b: float) -> float:
    """Go's ``math.Min``: -Inf wins over NaN, NaN over numbers, -0 over +0."""
    if a == -INF or b == -INF:
        return -INF
    if a != a or b != b:
        return NAN
    if a == 0 and b == 0:
        return a if math.copysign(1.0, a) < 0 else b
    return a if a < b else b


def _is_odd_int(x: float) -> bool:
    if abs(x) >= 1 << 53:
        return False
    frac, whole = math.modf(x)
    return frac == 0 and int(whole) & 1 == 1


def _ldexp(frac: float, exponent: int) -> float:
    try:
        return math.ldexp(frac, exponent)
    except OverflowError:
        return math.copysign(INF, frac)


def pow_(x: float, y: float) -> float:
    """Go's ``math.Pow``: integer powers by repeated squaring of the mantissa (not C's ``pow``)."""
    if y == 0 or x == 1:
        return 1.0
    if y == 1:
        return x
    if x != x or y != y:
        return NAN
    if x == 0:
        odd = math.copysign(1.0, x) < 0 and _is_odd_int(y)
        if y < 0:
            return -INF if odd else INF
        return x if odd else 0.0
    if math.isinf(y):
        if x == -1:
            return 1.0
        return 0.0 if (abs(x) < 1) == (y > 0) else INF
    if math.isinf(x):
        if x < 0:
            return pow_(1 / x, -y)
        return 0.0 if y < 0 else INF
    if y == 0.5:
        return sqrt(x)
    if y == -0.5:
        return div(1.0, sqrt(x))
    yf, yi = math.modf(abs(y))
    if yf != 0 and x < 0:
        return NAN
    if yi >= 1 << 63:
        if x == -1:
            return 1.0
        return 0.0 if (abs(x) < 1) == (y > 0) else INF
    a1 = 1.0
    ae = 0
    if yf != 0:
        if yf > 0.5:
            yf -= 1
            yi += 1
        a1 = exp(yf * ln(x))
    x1, xe = math.frexp(x)
    i = int(yi)
    while i != 0:
        if xe < -(1 << 12) or (1 << 12) < xe:
            ae += xe
            break
        if i & 1 == 1:
            a1 *= x1
            ae += xe
        x1 *= x1
        xe <<= 1
        if x1 < 0.5:
            x1 += x1
            xe -= 1
        i >>= 1
    if y < 0:
        a1 = 1 / a1
        ae = -ae
    return _ldexp(a1, ae)


def round_half_up(x: float) -> float:
    """Go's ``math.Round``: halves away from zero."""
    if x != x or math.isinf(x) or abs(x) >= 1 << 52:
        return x
    t = float(math.trunc(x))
    if abs(x - t) >= 0.5:
        t += math.copysign(1.0, x)
    return math.copysign(t, x)
