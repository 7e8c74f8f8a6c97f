"""Compressed chunk codec: one series' samples of a closed window, as one blob.

Pure stdlib and written so every per-sample step runs in C (``array``, ``map`` with ``operator``
functions, ``itertools.accumulate``, bytes slicing, ``zlib``); a Python loop per sample would be
ten times slower.

Format, version 1 (all multi-byte fixed-width fields little-endian)::

    blob    = u8 version (1) | zlib(body)
    body    = uvarint n | svarint t0 | [n > 1] ints(n - 1 timestamp deltas) | values
    values  = u8 0 (decimal) | u8 e | svarint m0 | [n > 1] ints(n - 1 mantissa deltas)
                | uvarint k | k * uvarint position gap | k * 8 bytes float64
            | u8 1 (xor)     | 8 bytes first value | 8 * (n - 1) bytes shuffled xor words
    ints(c) = svarint lo | u8 width (0, 1, 2, 4, 8)
                | [width] uvarint step | width * c bytes shuffled unsigned u  (x = lo + step * u)

Timestamps are stored as deltas with a frame of reference (``lo``) rather than delta-of-delta:
after subtracting the smallest delta, jitter of +-j ms costs a range of 2j where delta-of-delta
costs 4j, and an exactly regular series needs no bytes at all (width 0).

Values that are all short decimals (``m / 10**e`` for integers ``m``, e <= 9: counters such as
CPU seconds with two decimals, byte counters, integer and two-decimal gauges) are stored as
delta-encoded integer mantissas, as VictoriaMetrics does; the common divisor ``step`` makes
page- or KiB-granular byte gauges cheap too. NaN and infinities (such as the stale marker) do
not spoil this: up to one in eight samples are kept aside as exceptions, bit for bit. Anything
else is stored as the XOR of each value's bit pattern with the previous one, so the sign,
exponent and top mantissa bits of a slowly moving value become zero bytes.

Fixed widths keep packing in C; the byte shuffle puts bytes of the same significance next to
each other so zlib squeezes out the mostly-zero high bytes, which recovers most of what a
varint would save.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, repeat
from math import gcd
from operator import add, floordiv, mul, ne, sub, truediv, xor

FORMAT_V1 = 1
MAX_SAMPLES = 1 << 20
"""Refused by both sides: also bounds what a corrupted sample count can make the decoder build."""

_DECIMAL, _XOR = 0, 1
_MAX_EXP = 9
_MANTISSA_LIMIT = float(1 << 62)  # |m| below this keeps deltas and their frame within 64 bits
_PROBE = 16  # values checked before paying for a full-chunk decimal check
_EXCEPTION_SHARE = 8  # a decimal chunk may set aside at most n // 8 non-finite values
_LEVEL = 6
_UNSIGNED = {array(code).itemsize: code for code in "BHILQ"}
_BIG_ENDIAN = sys.byteorder == "big"


class ChunkError(ValueError):
    """A blob that is not a chunk this codec wrote: unknown version, truncated or corrupted."""


def encode_chunk(ts: Sequence[int], values: Sequence[float]) -> bytes:
    """Encode one series' samples (ms timestamps strictly increasing); decodes bit-exactly."""
    t = ts if isinstance(ts, array) and ts.typecode == "q" else array("q", ts)
    v = values if isinstance(values, array) and values.typecode == "d" else array("d", values)
    n = len(t)
    if n != len(v):
        raise ValueError(f"{n} timestamps but {len(v)} values")
    if not 0 < n <= MAX_SAMPLES:
        raise ValueError(f"a chunk holds 1 to {MAX_SAMPLES} samples, not {n}")
    body = bytearray()
    _put_uvarint(body, n)
    _put_svarint(body, t[0])
    if n > 1:
        deltas = list(map(sub, t[1:], t[:-1]))
        if min(deltas) <= 0:
            raise ValueError("timestamps must be strictly increasing")
        _put_ints(body, deltas)
    body += _decimal_values(v) or _xor_values(v)
    return bytes((FORMAT_V1,)) + zlib.compress(body, _LEVEL)


def decode_chunk(data: bytes) -> tuple[array, array]:
    """Return (array('q') timestamps, array('d') values); ChunkError if the blob is not intact."""
    if not data:
        raise ChunkError("empty chunk blob")
    if data[0] != FORMAT_V1:
        raise ChunkError(f"unknown chunk format version {data[0]} (this codec reads {FORMAT_V1})")
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(memoryview(data)[1:])
    except zlib.error as exc:
        raise ChunkError(f"corrupted chunk: {exc}") from None
    if not inflater.eof:
        raise ChunkError("truncated chunk: compressed stream ends early")
    if inflater.unused_data:
        raise ChunkError("corrupted chunk: bytes after the compressed stream")
    r = _Reader(body)
    n = r.uvarint()
    if not 0 < n <= MAX_SAMPLES:
        raise ChunkError(f"corrupted chunk: sample count {n}")
    try:
        ts = _read_timestamps(r, n)
        kind = r.byte()
        if kind == _DECIMAL:
            vals = _read_decimal(r, n)
        elif kind == _XOR:
            vals = _read_xor(r, n)
        else:
            raise ChunkError(f"corrupted chunk: unknown value encoding {kind}")
    except OverflowError:
        raise ChunkError("corrupted chunk: decoded numbers out of range") from None
    if r.pos != len(body):
        raise ChunkError(f"corrupted chunk: {len(body) - r.pos} unexpected trailing bytes")
    return ts, vals


# -- timestamps ------------------------------------------------------------------------------


def _read_timestamps(r: _Reader, n: int) -> array:
    t0 = r.svarint()
    if n == 1:
        return array("q", (t0,))
    lo, step, u = _read_ints(r, n - 1)
    if lo <= 0:
        raise ChunkError("corrupted chunk: timestamps not increasing")
    if u is None:  # exactly regular
        return array("q", range(t0, t0 + lo * (n - 1) + 1, lo))
    return array("q", accumulate(_expand(lo, step, u), initial=t0))


# -- values: scaled decimals -----------------------------------------------------------------


def _decimal_values(v: array) -> bytes | None:
    """The decimal encoding of ``v``, or None when the values are not short decimals."""
    n = len(v)
    filled = v.tolist()
    exceptions = _non_finite(filled)
    if len(exceptions) > n // _EXCEPTION_SHARE:
        return None
    if exceptions:
        # Stand-ins that repeat a neighbour cost a zero delta; the real bits are stored aside.
        first = next(x for x in filled if x - x == 0)
        for i in exceptions:
            filled[i] = filled[i - 1] if i else first
        raw = array("d", filled).tobytes()
    else:
        raw = v.tobytes()
    found = _find_scale(filled, raw)
    if found is None:
        return None
    e, mantissas = found
    out = bytearray((_DECIMAL, e))
    _put_svarint(out, mantissas[0])
    if n > 1:
        _put_ints(out, list(map(sub, mantissas[1:], mantissas[:-1])))
    _put_uvarint(out, len(exceptions))
    prev = 0
    for i in exceptions:
        _put_uvarint(out, i - prev)
        prev = i
    src = memoryview(v).cast("B")
    aside = array("d")
    aside.frombytes(b"".join([src[8 * i : 8 * i + 8] for i in exceptions]))
    out += _little_endian(aside)
    return bytes(out)


def _non_finite(vals: list[float]) -> list[int]:
    """Positions of NaN and +-Inf; the sum is a C-speed test that there are none."""
    total = sum(vals)
    if total - total == 0:
        return []
    return [i for i, x in enumerate(vals) if x - x != 0]


def _find_scale(vals: list[float], raw: bytes) -> tuple[int, list[int]] | None:
    """Smallest e with every value exactly round(v * 10**e) / 10**e, and those mantissas.

    A handful of probe values rule out most exponents cheaply; a full check that fails adds
    its first mismatching value to the probe so the same value is not rediscovered.
    """
    biggest = max(max(vals), -min(vals))
    probe = vals[:: max(1, len(vals) // _PROBE)]
    for e in range(_MAX_EXP + 1):
        scale = 10**e
        if biggest * scale >= _MANTISSA_LIMIT:
            return None
        if _rescaled(probe, scale)[1] != array("d", probe).tobytes():
            continue
        mantissas, back = _rescaled(vals, scale)
        if back == raw:
            return e, mantissas
        probe.append(vals[_first_difference(back, raw)])
    return None


def _rescaled(vals: list[float], scale: int) -> tuple[list[int], bytes]:
    """Mantissas at ``scale`` and the float64 bytes they decode back to."""
    mantissas = list(map(round, map(mul, vals, repeat(scale))))
    return mantissas, array("d", map(truediv, mantissas, repeat(scale))).tobytes()


def _first_difference(a: bytes, b: bytes) -> int:
    qa, qb = array("Q"), array("Q")
    qa.frombytes(a)
    qb.frombytes(b)
    return list(map(ne, qa, qb)).index(True)


def _read_decimal(r: _Reader, n: int) -> array:
    e = r.byte()
    if e > _MAX_EXP:
        raise ChunkError(f"corrupted chunk: decimal exponent {e}")
    m0 = r.svarint()
    if n == 1:
        mantissas: Iterable[int] = (m0,)
    else:
        lo, step, u = _read_ints(r, n - 1)
        mantissas = accumulate(_expand(lo, step, u) if u is not None else repeat(lo, n - 1), initial=m0)
    vals = array("d", map(truediv, mantissas, repeat(10**e)))
    k = r.uvarint()
    if k > n:
        raise ChunkError(f"corrupted chunk: {k} exceptions in {n} samples")
    positions = list(accumulate(r.uvarint() for _ in range(k)))
    if k and positions[-1] >= n:
        raise ChunkError("corrupted chunk: exception position out of range")
    # Copy the set-aside values as bytes: NaN payloads must not pass through float arithmetic.
    exact = memoryview(_from_little_endian("d", r.take(8 * k))).cast("B")
    target = memoryview(vals).cast("B")
    for j, i in enumerate(positions):
        target[8 * i : 8 * i + 8] = exact[8 * j : 8 * j + 8]
    return vals


# -- values: xor of bit patterns -------------------------------------------------------------


def _xor_values(v: array) -> bytes:
    bits = array("Q")
    bits.frombytes(v.tobytes())
    words = array("Q", map(xor, bits[1:], bits[:-1]))
    return bytes((_XOR,)) + bits[0].to_bytes(8, "little") + _shuffle(_little_endian(words), 8)


def _read_xor(r: _Reader, n: int) -> array:
    first = int.from_bytes(r.take(8), "little")
    words = _from_little_endian("Q", _unshuffle(r.take(8 * (n - 1)), 8))
    bits = array("Q", accumulate(words, xor, initial=first))
    vals = array("d")
    vals.frombytes(bits.tobytes())
    return vals


# -- integer blocks ----------------------------------------------------------------------------


def _put_ints(out: bytearray, xs: list[int]) -> None:
    """Frame of reference, common divisor, narrowest fixed width: see the module docstring."""
    lo = min(xs)
    u = list(map(sub, xs, repeat(lo))) if lo else xs
    step = gcd(*u)
    _put_svarint(out, lo)
    if step == 0:
        out.append(0)
        return
    if step > 1:
        u = list(map(floordiv, u, repeat(step)))
    top = max(u)
    width = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4 if top < 1 << 32 else 8
    out.append(width)
    _put_uvarint(out, step)
    out += _shuffle(_little_endian(array(_UNSIGNED[width], u)), width)


def _read_ints(r: _Reader, count: int) -> tuple[int, int, array | None]:
    """(lo, step, u) of an integer block; u is None when every value equals lo."""
    lo = r.svarint()
    width = r.byte()
    if width == 0:
        return lo, 0, None
    if width not in _UNSIGNED:
        raise ChunkError(f"corrupted chunk: integer width {width}")
    step = r.uvarint()
    if step == 0:
        raise ChunkError("corrupted chunk: zero integer step")
    return lo, step, _from_little_endian(_UNSIGNED[width], _unshuffle(r.take(width * count), width))


def _expand(lo: int, step: int, u: array) -> Iterator[int]:
    scaled = map(mul, u, repeat(step)) if step != 1 else iter(u)
    return map(add, scaled, repeat(lo)) if lo else scaled


def _shuffle(data: bytes, width: int) -> bytes:
    """Byte i of every word together, for each i, so same-significance bytes are adjacent."""
    if width == 1:
        return data
    return b"".join([data[i::width] for i in range(width)])


def _unshuffle(data: bytes, width: int) -> bytes:
    if width == 1:
        return data
    count = len(data) // width
    out = bytearray(len(data))
    for i in range(width):
        out[i::width] = data[i * count : (i + 1) * count]
    return bytes(out)


def _little_endian(a: array) -> bytes:
    if _BIG_ENDIAN:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def _from_little_endian(code: str, data: bytes) -> array:
    a = array(code)
    a.frombytes(data)
    if _BIG_ENDIAN:
        a.byteswap()
    return a


# -- varints ---------------------------------------------------------------------------------


def _put_uvarint(out: bytearray, x: int) -> None:
    while x > 0x7F:
        out.append(x & 0x7F | 0x80)
        x >>= 7
    out.append(x)


def _put_svarint(out: bytearray, x: int) -> None:
    _put_uvarint(out, x << 1 if x >= 0 else (-x << 1) - 1)


class _Reader:
    """A cursor over the decompressed body that turns running off its end into ChunkError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise ChunkError("corrupted chunk: body shorter than its header says")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ChunkError("corrupted chunk: body shorter than its header says")
        self.pos += 1
        return self.data[self.pos - 1]

    def uvarint(self) -> int:
        x = shift = 0
        while True:
            b = self.byte()
            x |= (b & 0x7F) << shift
            if b < 0x80:
                return x
            shift += 7
            if shift > 63:
                raise ChunkError("corrupted chunk: varint longer than 64 bits")

    def svarint(self) -> int:
        z = self.uvarint()
        return -(z >> 1) - 1 if z & 1 else z >> 1
