"""The series notation of Prometheus's test files, read as promtool 2.42 reads it.

``metric{label="value"} 1+2x3 _ stale`` names a series and lists its samples, one per interval:
``a+bxn`` is a then n more steps of b (added one step at a time, as Go does), ``axn`` is a repeated
n more times, ``_`` is a missing sample and ``_xn`` n of them, ``stale`` a staleness marker. The
metric part alone (``x{a="b"}``, ``{a="b"}``) is how expected samples are written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.tsdb.types import STALE_NAN, Labels

MAX_REPEAT = 1_000_000  # one item never expands to more samples than this (a typo must not hang the run)

_NUMBER = r"(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]*)?|(?i:inf|nan))"
_ITEM = re.compile(rf"(?P<start>[+-]?{_NUMBER})(?:(?P<step>[+-]{_NUMBER})?x(?P<times>[0-9]+))?")
_BLANKS = re.compile(r"_(?:x(?P<times>[0-9]+))?")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SPACE = " \t\r\n"
_NUMBER_WORDS = ("inf", "nan")  # Go's lexer reads these as numbers, never as names
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


class NotationError(ValueError):
    """Text that is not valid series notation; the message says where and why."""


@dataclass(frozen=True, slots=True)
class SeriesDesc:
    """One input series: its labels as written (duplicates and empty values kept) and one entry per
    interval, ``None`` where a sample is missing."""

    labels: tuple[tuple[str, str], ...]
    values: list[float | None]


def parse_metric(text: str) -> tuple[tuple[str, str], ...]:
    """Labels of ``name{label="value", ...}`` as written, sorted by name (``""`` is no labels)."""
    if not text.strip(" \t\r\n"):
        return ()
    labels, pos = _metric(text, _skip_space(text, 0), brace_after_space=True)
    pos = _skip_space(text, pos)
    if pos != len(text):
        raise NotationError(f"unexpected {text[pos]!r} at column {pos + 1} after the label set")
    return labels


def parse_series(text: str) -> SeriesDesc:
    """A whole ``metric values...`` line, as promtool joins ``series`` and ``values``."""
    text = text.strip()
    if "\n" in text:
        raise NotationError("a series and its values must be on one line")
    labels, pos = _metric(text, 0)
    if pos < len(text) and text[pos] not in _SPACE:
        raise NotationError(f"unexpected {text[pos]!r} at column {pos + 1}: a space must separate the "
                            "series from its values")
    values: list[float | None] = []
    for match in re.finditer(r"[^ \t\r\n]+", text[pos:]):
        values.extend(_expand(match.group(), pos + match.start() + 1))
    return SeriesDesc(labels, values)


def canonical(labels: tuple[tuple[str, str], ...]) -> Labels:
    """Labels as Prometheus stores and compares them: empty values dropped (duplicates kept)."""
    return tuple((name, value) for name, value in labels if value != "")


def _expand(item: str, column: int) -> list[float | None]:
    if item == "stale":
        return [STALE_NAN]
    if item.startswith("{{"):
        raise NotationError(f"native histogram samples ({item!r} at column {column}) are not supported")
    blanks = _BLANKS.fullmatch(item)
    if blanks:
        return [None] * _times(blanks["times"] or "1", item, column)
    match = _ITEM.fullmatch(item)
    if match is None or (match["times"] and (match["step"] or match["start"]).lower().endswith(_NUMBER_WORDS)):
        raise NotationError(f"bad value {item!r} at column {column}: expected a number, 'stale', '_', "
                            "'_xN', 'AxN' or 'A+BxN'")
    start = _float(match["start"], item, column)
    if match["times"] is None:
        return [start]
    times = _times(match["times"], item, column)
    if match["step"] is None:
        return [start] * (times + 1)
    step = _float(match["step"], item, column)
    out = [start]
    for _ in range(times):
        start += step
        out.append(start)
    return out


def _float(text: str, item: str, column: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise NotationError(f"bad number {text!r} in {item!r} at column {column}") from None


def _times(text: str, item: str, column: int) -> int:
    times = int(text)
    if times > MAX_REPEAT:
        raise NotationError(f"{item!r} at column {column} repeats more than {MAX_REPEAT} times")
    return times


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _metric(text: str, pos: int, brace_after_space: bool = False) -> tuple[tuple[str, str], int]:
    """Parse ``name{...}`` from ``pos``; returns the labels sorted by name and the position after.

    Expected samples may put spaces between the name and ``{``; in a series line a space ends
    the metric and starts the values."""
    labels: list[tuple[str, str]] = []
    name = _METRIC_NAME.match(text, pos)
    if name:
        if name.group().lower() in _NUMBER_WORDS:
            raise NotationError(f"{name.group()!r} is a number, not a metric name")
        labels.append(("__name__", name.group()))
        pos = name.end()
        if brace_after_space and text.startswith("{", _skip_space(text, pos)):
            pos = _skip_space(text, pos)
    if pos < len(text) and text[pos] == "{":
        pos = _label_set(text, pos + 1, labels)
    elif not name:
        found = repr(text[pos]) if pos < len(text) else "end of input"
        raise NotationError(f"expected a metric name or '{{' at column {pos + 1}, found {found}")
    return tuple(sorted(labels, key=lambda pair: pair[0])), pos


def _label_set(text: str, pos: int, labels: list[tuple[str, str]]) -> int:
    """Parse ``label="value", ...}`` (trailing comma allowed) into ``labels``; returns the position after."""
    while True:
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == "}":
            return pos + 1
        name = _LABEL_NAME.match(text, pos)
        if name is None:
            raise NotationError(f"expected a label name or '}}' at column {pos + 1}")
        pos = _skip_space(text, name.end())
        if not text.startswith("=", pos) or text.startswith("=~", pos):
            raise NotationError(f"expected '=' after label {name.group()!r} at column {pos + 1} "
                                "(series notation takes label values, not matchers)")
        value, pos = _string(text, _skip_space(text, pos + 1))
        labels.append((name.group(), value))
        pos = _skip_space(text, pos)
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("}", pos):
            raise NotationError(f"expected ',' or '}}' at column {pos + 1}")


def _string(text: str, pos: int) -> tuple[str, int]:
    """A Go-style quoted string ("...", '...' with escapes, `...` raw) starting at ``pos``."""
    quote = text[pos] if pos < len(text) else ""
    if quote not in ('"', "'", "`"):
        raise NotationError(f"expected a quoted label value at column {pos + 1}")
    end = text.find("`", pos + 1) if quote == "`" else _closing_quote(text, pos, quote)
    if end < 0:
        raise NotationError(f"unterminated quoted string at column {pos + 1}")
    body = text[pos + 1 : end]
    return (body if quote == "`" else _unescape(body, quote, pos + 2)), end + 1


def _closing_quote(text: str, pos: int, quote: str) -> int:
    i = pos + 1
    while i < len(text) and text[i] != "\n":
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def _unescape(body: str, quote: str, column: int) -> str:
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] != "\\":
            out += body[i].encode()
            i += 1
            continue
        esc = body[i + 1]
        if esc in _ESCAPES or esc == quote:
            out += _ESCAPES.get(esc, esc).encode()
            i += 2
            continue
        encoded, size = _numeric_escape(body, i)
        if encoded is None:
            raise NotationError(f"invalid escape sequence at column {column + i}")
        out += encoded
        i += size
    return out.decode("utf-8", errors="replace")


def _numeric_escape(body: str, i: int) -> tuple[bytes | None, int]:
    """Go's numeric escapes: ``\\NNN`` (octal) and ``\\xHH`` give a byte, ``\\uHHHH`` and
    ``\\UHHHHHHHH`` a code point. Returns the encoded bytes (None when invalid) and the length read."""
    esc = body[i + 1]
    if esc in "01234567":
        digits, base, size = body[i + 1 : i + 4], 8, 4
    elif esc in _HEX_ESCAPES:
        width = _HEX_ESCAPES[esc]
        digits, base, size = body[i + 2 : i + 2 + width], 16, 2 + width
    else:
        return None, 0
    try:
        code = int(digits, base)
    except ValueError:
        return None, 0
    if len(digits) != size - (1 if base == 8 else 2) or not digits.isalnum():
        return None, 0
    if esc in "uU":
        valid = code <= 0x10FFFF and not 0xD800 <= code < 0xE000
        return (chr(code).encode() if valid else None), size
    return (bytes([code]) if code <= 255 else None), size
