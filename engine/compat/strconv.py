"""Go's strconv behaviour (quoting, literal parsing, float formatting) and UTF-8 validity.

Prometheus prints numbers and strings through Go's strconv and reads numbers with ParseFloat;
Python's repr/float differ in small but visible ways (``1e+06`` vs ``1000000.0``, ``+Inf`` vs
``inf``, ``float("1e400")`` is inf where Go reports a range error), so the conversions are
reimplemented here. Go strings are bytes: invalid UTF-8 survives here as surrogate escapes
(``\udc80``..``\udcff``), which :func:`quote` prints as Go does (``\x80``).
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal

_HEX = "0123456789abcdef"


class NumError(ValueError):
    """strconv.NumError: ``strconv.<Func>: parsing "<text>": <reason>``."""

    def __init__(self, func: str, text: str, reason: str) -> None:
        super().__init__(f"strconv.{func}: parsing {quote(text)}: {reason}")


def is_valid_utf8(s: str) -> bool:
    """utf8.ValidString: False when s holds a lone surrogate (a JSON ``"\\udc80"`` escape decodes to one),
    which no UTF-8 file, database text or Prometheus label can hold."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


NOT_UTF8 = "must be valid UTF-8 text (a lone surrogate such as \\udc80 is not)"
"""The refusal of text that :func:`is_valid_utf8` rejects, after the field's name."""


def invalid_utf8_path(value: object, path: str) -> str | None:
    """The path (``labels.team``, ``matchers[0].value``) of the first string in a decoded JSON value,
    key or value, that is not valid UTF-8; None when all are. A bad key names its object."""
    if isinstance(value, str):
        return None if is_valid_utf8(value) else path
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and not is_valid_utf8(k):
                return path
            found = invalid_utf8_path(v, f"{path}.{k}" if path else str(k))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = invalid_utf8_path(v, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def to_bytes(s: str) -> bytes:
    """Go strings are bytes; invalid UTF-8 survives as surrogate escapes."""
    return s.encode("utf-8", "surrogateescape")


def from_bytes(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def is_print(ch: str) -> bool:
    """unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space."""
    return ch == " " or (ch.isprintable() and not ("\udc80" <= ch <= "\udcff"))


def _escape_rune(ch: str, quote_ch: str, ascii_only: bool) -> str:
    if ch == quote_ch or ch == "\\":
        return "\\" + ch
    if "\udc80" <= ch <= "\udcff":  # a byte that was not valid UTF-8
        b = ord(ch) - 0xDC00
        return "\\x" + _HEX[b >> 4] + _HEX[b & 15]
    if ascii_only:
        if ord(ch) < 0x80 and is_print(ch):
            return ch
    elif is_print(ch):
        return ch
    simple = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    if ch in simple:
        return simple[ch]
    r = ord(ch)
    if r < 0x20 or r == 0x7F:
        return f"\\x{r:02x}"
    if 0xD800 <= r <= 0xDFFF:
        r = 0xFFFD
    if r < 0x10000:
        return f"\\u{r:04x}"
    return f"\\U{r:08x}"


def quote(s: str, ascii_only: bool = False) -> str:
    """strconv.Quote (or QuoteToASCII)."""
    return '"' + "".join(_escape_rune(ch, '"', ascii_only) for ch in s) + '"'


def quote_rune(r: int, ascii_only: bool = False) -> str:
    """strconv.QuoteRune."""
    if r > 0x10FFFF or 0xD800 <= r <= 0xDFFF:
        r = 0xFFFD
    return "'" + _escape_rune(chr(r), "'", ascii_only) + "'"


def can_backquote(s: str) -> bool:
    return all(ch == "\t" or (ch != "`" and ch != "\ufeff" and ord(ch) >= 0x20 and ch != "\x7f") for ch in s)


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def unquote_char(s: str, i: int, quote_ch: str) -> tuple[int, bool, int]:
    """strconv.UnquoteChar on s[i:]: (rune, is_raw_byte, next index); ValueError on bad syntax."""
    c = s[i]
    if c == quote_ch and quote_ch in "'\"":
        raise ValueError("invalid syntax")
    if c != "\\":
        return ord(c), False, i + 1
    if i + 1 >= len(s):
        raise ValueError("invalid syntax")
    c = s[i + 1]
    i += 2
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], False, i
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i : i + n]
        if len(digits) < n or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise ValueError("invalid syntax")
        v = int(digits, 16)
        if c == "x":
            return v, True, i + n
        if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
            raise ValueError("invalid syntax")
        return v, False, i + n
    if c in "01234567":
        digits = s[i - 1 : i + 2]
        if len(digits) < 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
            raise ValueError("invalid syntax")
        return int(digits, 8), True, i + 2
    if c in "'\"" and c == quote_ch:
        return ord(c), False, i
    raise ValueError("invalid syntax")


def unquote(lit: str) -> str:
    """strconv.Unquote for "..." and `...` literals; ValueError("invalid syntax") otherwise."""
    if len(lit) < 2 or lit[0] != lit[-1]:
        raise ValueError("invalid syntax")
    q, body = lit[0], lit[1:-1]
    if q == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    if q != '"' or "\n" in body:
        raise ValueError("invalid syntax")
    out = bytearray()
    i = 0
    while i < len(body):
        r, raw, i = unquote_char(body, i, '"')
        out += bytes([r]) if raw else to_bytes(chr(r))
    return from_bytes(bytes(out))


# --- number literals -------------------------------------------------------

_DEC_FLOAT = re.compile(r"[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?\Z",
                        re.ASCII)
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:_?[0-9a-fA-F](?:_?[0-9a-fA-F])*(?:\.(?:[0-9a-fA-F](?:_?[0-9a-fA-F])*)?)?"
    r"|_?\.[0-9a-fA-F](?:_?[0-9a-fA-F])*)[pP][+-]?\d(?:_?\d)*\Z", re.ASCII
)
_SPECIAL = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
            "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}


def parse_float(s: str) -> float:
    """strconv.ParseFloat(s, 64), raising NumError with Go's message.

    Where Go returns ±Inf with ErrRange (``1e400``, ``0x1p2000``) this raises "value out of range";
    underflow gives zero without error, as in Go."""
    special = _SPECIAL.get(s.lower()) if s.isascii() else None
    if special is not None:
        return special
    try:
        if _DEC_FLOAT.match(s):
            v = float(s.replace("_", ""))
        elif _HEX_FLOAT.match(s):
            v = float.fromhex(s.replace("_", ""))
        else:
            raise NumError("ParseFloat", s, "invalid syntax")
    except OverflowError:
        v = math.inf
    if math.isinf(v):
        raise NumError("ParseFloat", s, "value out of range")
    return v


def parse_int(s: str, bits: int = 64, unsigned: bool = False) -> int:
    """strconv.ParseInt/ParseUint with base 0 (Go literal syntax incl. 0x, 0o, 0b, 0-octal, underscores)."""
    body = s
    neg = False
    if not unsigned and body[:1] in "+-":
        neg = body[0] == "-"
        body = body[1:]
    base = 10
    low = body.lower()
    if low.startswith(("0x", "0o", "0b")):
        base = {"x": 16, "o": 8, "b": 2}[low[1]]
        body = body[2:]
        if body.startswith("_"):
            body = body[1:]
    elif len(body) > 1 and body[0] == "0":
        base = 8
        body = body[1:]
        if body.startswith("_"):
            body = body[1:]
    if not body or body.startswith("_") or body.endswith("_") or "__" in body:
        raise ValueError("invalid syntax")
    try:
        v = int(body.replace("_", ""), base)
    except ValueError:
        raise ValueError("invalid syntax") from None
    v = -v if neg else v
    lo, hi = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if not lo <= v <= hi:
        raise OverflowError("value out of range")
    return v


# --- float formatting ------------------------------------------------------


def _digits(v: float, prec: int | None) -> tuple[str, int]:
    """Decimal digits d1d2... and point position dp (value = 0.d1d2... * 10**dp) of |v|.

    prec None gives the shortest digits that round-trip (what Go's -1 precision means);
    otherwise the value is correctly rounded to prec significant digits.
    """
    if v == 0:
        return "", 0
    text = repr(abs(v)) if prec is None else f"{abs(v):.{max(prec, 1) - 1}e}"
    sign, digs, exp = Decimal(text).as_tuple()
    d = "".join(map(str, digs)).rstrip("0")
    return d, len(digs) + exp


def _fmt_e(neg: bool, d: str, dp: int, prec: int, e: str) -> str:
    first = d[0] if d else "0"
    frac = d[1 : prec + 1].ljust(prec, "0") if prec > 0 else ""
    exp = dp - 1 if d else 0
    sign = "-" if exp < 0 else "+"
    return ("-" if neg else "") + first + ("." + frac if prec > 0 else "") + e + sign + f"{abs(exp):02d}"


def _fmt_f(neg: bool, d: str, dp: int, prec: int) -> str:
    whole = (d[:dp].ljust(dp, "0") if dp > 0 else "0")
    frac = ""
    if prec > 0:
        frac = "." + "".join(d[dp + i] if 0 <= dp + i < len(d) else "0" for i in range(prec))
    return ("-" if neg else "") + whole + frac


def _fmt_hex(v: float, prec: int, upper: bool) -> str:
    bits = struct.unpack(">Q", struct.pack(">d", v))[0]
    neg = bool(bits >> 63)
    exp = (bits >> 52) & 0x7FF
    mant = bits & ((1 << 52) - 1)
    if exp == 0:
        exp = 1
    else:
        mant |= 1 << 52
    exp -= 1023
    if mant == 0:
        exp = 0
    mant <<= 8
    while mant and not mant & (1 << 60):
        mant <<= 1
        exp -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & ((1 << 60) - 1)
        mant >>= 60 - shift
        if extra | (mant & 1) > 1 << 59:
            mant += 1
        mant <<= 60 - shift
        if mant & (1 << 61):
            mant >>= 1
            exp += 1
    digits = "0123456789ABCDEF" if upper else _HEX
    out = ("-" if neg else "") + "0" + ("X" if upper else "x") + str((mant >> 60) & 1)
    mant = (mant << 4) & ((1 << 64) - 1)
    frac = ""
    if prec < 0:
        while mant:
            frac += digits[(mant >> 60) & 15]
            mant = (mant << 4) & ((1 << 64) - 1)
    else:
        for _ in range(prec):
            frac += digits[(mant >> 60) & 15]
            mant = (mant << 4) & ((1 << 64) - 1)
    if frac:
        out += "." + frac
    return out + ("P" if upper else "p") + ("-" if exp < 0 else "+") + f"{abs(exp):02d}"


def format_float_f(v: float) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent; how Prometheus's
    JSON writes every sample value, so it has its own fast path from ``repr``."""
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


def format_float(v: float, fmt: str, prec: int) -> str:
    """strconv.FormatFloat(v, fmt, prec, 64) for fmt in e E f g G x X b; prec -1 means shortest."""
    if fmt == "f" and prec < 0:
        return format_float_f(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    neg = math.copysign(1.0, v) < 0
    if fmt in "xX":
        return _fmt_hex(v, prec, fmt == "X")
    if fmt == "b":
        bits = struct.unpack(">Q", struct.pack(">d", v))[0]
        exp, mant = (bits >> 52) & 0x7FF, bits & ((1 << 52) - 1)
        exp = 1 if exp == 0 else exp
        if (bits >> 52) & 0x7FF:
            mant |= 1 << 52
        e2 = exp - 1023 - 52
        return ("-" if neg else "") + f"{mant}p{'+' if e2 >= 0 else '-'}{abs(e2)}"
    shortest = prec < 0
    if fmt in "eE":
        d, dp = _digits(v, None if shortest else prec + 1)
        return _fmt_e(neg, d, dp, len(d) - 1 if shortest else prec, fmt)
    if fmt == "f":
        if shortest:
            d, dp = _digits(v, None)
            return _fmt_f(neg, d, dp, max(len(d) - dp, 0))
        return ("-" if neg else "") + f"{abs(v):.{prec}f}"
    # g / G
    if prec == 0:
        prec = 1
    d, dp = _digits(v, None if shortest else prec)
    eprec = 6 if shortest else prec
    exp = dp - 1
    if exp < -4 or exp >= eprec:
        p = len(d) if shortest or prec > len(d) else prec
        return _fmt_e(neg, d, dp, max(p - 1, 0), "e" if fmt == "g" else "E")
    p = len(d) if shortest or prec > dp else prec
    return _fmt_f(neg, d, dp, max(p - dp, 0))
