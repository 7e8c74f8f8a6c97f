"""Compressed chunk codec: one series' samples of a closed window, as one blob.

Encoding is pure stdlib and written so every per-sample step runs in C (``array``, ``map`` with
``operator`` functions, ``itertools.accumulate``, bytes slicing, ``zlib``). Decoding a query's
chunks is batched (``decode_chunks``): headers are read in Python, then numpy unshuffles and sums
the blocks of thousands of chunks at once.

Version 2, written now (all fixed-width fields little-endian)::

    blob    = u8 version (2) | zlib(body)
    body    = header | [n > 1] t words | values
    header  = u32 n | i64 t0 | i64 t lo | u64 t step | u8 t width | u8 kind | u8 e
                | i64 m0 (xor: the first value's bits) | i64 m lo | u64 m step | u8 m width | u32 k
    values  = (kind 0, decimal) [n > 1] m words | k * u32 position | k * 8 bytes float64
            | (kind 1, xor)     (n - 1) * 8 bytes shuffled xor words
    words   = width * (n - 1) bytes shuffled unsigned u of an integer block (x = lo + step * u;
              no bytes when width is 0: every x equals lo)

Version 1, still read (data written before version 2)::

    blob    = u8 version (1) | zlib(body)
    body    = uvarint n | svarint t0 | [n > 1] ints(n - 1 timestamp deltas) | values
    values  = u8 0 (decimal) | u8 e | svarint m0 | [n > 1] ints(n - 1 mantissa deltas)
                | uvarint k | k * uvarint position gap | k * 8 bytes float64
            | u8 1 (xor)     | 8 bytes first value | 8 * (n - 1) bytes shuffled xor words
    ints(c) = svarint lo | u8 width (0, 1, 2, 4, 8)
                | [width] uvarint step | width * c bytes shuffled unsigned u  (x = lo + step * u)

Version 2 holds the same blocks with a fixed header, so reading a chunk's layout is one
``struct`` call instead of a dozen varints in Python: the header is what dominates when a day's
query decodes ~50k chunks. Its zeros cost a few compressed bytes per chunk over version 1.

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

import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, repeat
from math import gcd
from operator import add, floordiv, le, mul, ne, sub, truediv, xor

from engine.lazyimport import LazyModule

np = LazyModule("numpy")

FORMAT_V1 = 1
FORMAT_V2 = 2
_HEADER = struct.Struct("<IqqQBBBqqQBI")
"""Version 2's header: n, t0, timestamp block (lo, step, width), value kind, e, m0 (xor: the first
value's bits), mantissa block (lo, step, width), exception count."""
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


def encode_chunk(ts: Sequence[int], values: Sequence[float], version: int = FORMAT_V2) -> bytes:
    """Encode one series' samples (ms timestamps strictly increasing); decodes bit-exactly.

    Writes version 2 unless asked for 1 (tests of reading old data) or a header field does not
    fit version 2's fixed widths (timestamps more than 2**63 ms apart), then version 1."""
    t = ts if isinstance(ts, array) and ts.typecode == "q" else array("q", ts)
    v = values if isinstance(values, array) and values.typecode == "d" else array("d", values)
    n = len(t)
    if n != len(v):
        raise ValueError(f"{n} timestamps but {len(v)} values")
    if not 0 < n <= MAX_SAMPLES:
        raise ValueError(f"a chunk holds 1 to {MAX_SAMPLES} samples, not {n}")
    deltas = list(map(sub, t[1:], t[:-1]))
    if deltas and min(deltas) <= 0:
        raise ValueError("timestamps must be strictly increasing")
    decimal = _decimal_parts(v)
    if version == FORMAT_V2:
        try:
            return bytes((FORMAT_V2,)) + zlib.compress(_v2_body(t, v, deltas, decimal), _LEVEL)
        except struct.error:
            pass
    body = bytearray()
    _put_uvarint(body, n)
    _put_svarint(body, t[0])
    if n > 1:
        _put_ints(body, deltas)
    body += _decimal_values(decimal) if decimal is not None else _xor_values(v)
    return bytes((FORMAT_V1,)) + zlib.compress(body, _LEVEL)


def _v2_body(t: array, v: array, deltas: list[int], decimal: tuple | None) -> bytes:
    """Version 2: the fixed header, then the blocks' shuffled words (see the module docstring)."""
    n = len(t)
    t_lo, t_step, t_width, t_words = _int_block(deltas) if deltas else (0, 0, 0, b"")
    if decimal is None:
        m_lo = m_step = m_width = 0
        first = struct.unpack("=q", v[:1].tobytes())[0]
        header = _HEADER.pack(n, t[0], t_lo, t_step, t_width, _XOR, 0, first, 0, 0, 0, 0)
        return header + t_words + _xor_words(v)
    e, mantissas, exceptions, aside = decimal
    m_lo, m_step, m_width, m_words = (_int_block(list(map(sub, mantissas[1:], mantissas[:-1]))) if n > 1
                                      else (0, 0, 0, b""))
    header = _HEADER.pack(n, t[0], t_lo, t_step, t_width, _DECIMAL, e, mantissas[0], m_lo, m_step, m_width,
                          len(exceptions))
    return header + t_words + m_words + _little_endian(array("I", exceptions)) + aside


def decode_chunk(data: bytes) -> tuple[array, array]:
    """Return (array('q') timestamps, array('d') values); ChunkError if the blob is not intact."""
    if data[:1] == _V2_TAG:
        body, layout, _ = _v2_layout(data)
        return _v2_scalar(body, layout)
    body = _inflate(data)
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


def _inflate(data: bytes) -> bytes:
    """The decompressed body of a blob of a known version; ChunkError if it is not intact."""
    if not data:
        raise ChunkError("empty chunk blob")
    if data[0] not in (FORMAT_V1, FORMAT_V2):
        raise ChunkError(f"unknown chunk format version {data[0]} (this codec reads {FORMAT_V1} and {FORMAT_V2})")
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(memoryview(data)[1:])
    except zlib.error as exc:
        raise ChunkError(f"corrupted chunk: {exc}") from None
    if not inflater.eof:
        raise ChunkError("truncated chunk: compressed stream ends early")
    if inflater.unused_data:
        raise ChunkError("corrupted chunk: bytes after the compressed stream")
    return body


# -- timestamps ------------------------------------------------------------------------------


def _read_timestamps(r: _Reader, n: int) -> array:
    t0 = r.svarint()
    if n == 1:
        return array("q", (t0,))
    lo, step, u = _read_ints(r, n - 1)
    if lo <= 0:
        raise ChunkError("corrupted chunk: timestamps not increasing")
    return array("q", _running(t0, lo, step, u, n))


# -- values: scaled decimals -----------------------------------------------------------------


def _decimal_parts(v: array) -> tuple[int, list[int], list[int], bytes] | None:
    """(e, mantissas, exception positions, their little-endian float64 bytes) of ``v``, or None
    when the values are not short decimals."""
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
    src = memoryview(v).cast("B")
    aside = array("d")
    aside.frombytes(b"".join([src[8 * i : 8 * i + 8] for i in exceptions]))
    return e, mantissas, exceptions, _little_endian(aside)


def _decimal_values(parts: tuple[int, list[int], list[int], bytes]) -> bytes:
    """Version 1's decimal value section."""
    e, mantissas, exceptions, aside = parts
    out = bytearray((_DECIMAL, e))
    _put_svarint(out, mantissas[0])
    if len(mantissas) > 1:
        _put_ints(out, list(map(sub, mantissas[1:], mantissas[:-1])))
    _put_uvarint(out, len(exceptions))
    prev = 0
    for i in exceptions:
        _put_uvarint(out, i - prev)
        prev = i
    return bytes(out) + aside


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
    mantissas = _running(m0, *_read_ints(r, n - 1), n) if n > 1 else (m0,)
    vals = array("d", map(truediv, mantissas, repeat(10**e)))
    k = r.uvarint()
    if k > n:
        raise ChunkError(f"corrupted chunk: {k} exceptions in {n} samples")
    positions = list(accumulate(r.uvarint() for _ in range(k)))
    if k and positions[-1] >= n:
        raise ChunkError("corrupted chunk: exception position out of range")
    _put_aside(vals, positions, r.take(8 * k))
    return vals


def _put_aside(vals: array, positions: list[int], bits: bytes) -> None:
    """Copy the set-aside values in as bytes: NaN payloads must not pass through float arithmetic."""
    exact = memoryview(_from_little_endian("d", bits)).cast("B")
    target = memoryview(vals).cast("B")
    for j, i in enumerate(positions):
        target[8 * i : 8 * i + 8] = exact[8 * j : 8 * j + 8]


# -- values: xor of bit patterns -------------------------------------------------------------


def _xor_values(v: array) -> bytes:
    """Version 1's xor value section."""
    first = struct.unpack("=Q", v[:1].tobytes())[0]
    return bytes((_XOR,)) + first.to_bytes(8, "little") + _xor_words(v)


def _xor_words(v: array) -> bytes:
    """Each value's bits XOR the previous value's, shuffled."""
    bits = array("Q")
    bits.frombytes(v.tobytes())
    words = array("Q", map(xor, bits[1:], bits[:-1]))
    return _shuffle(_little_endian(words), 8)


def _read_xor(r: _Reader, n: int) -> array:
    first = int.from_bytes(r.take(8), "little")
    words = _from_little_endian("Q", _unshuffle(r.take(8 * (n - 1)), 8))
    bits = array("Q", accumulate(words, xor, initial=first))
    vals = array("d")
    vals.frombytes(bits.tobytes())
    return vals


# -- integer blocks ----------------------------------------------------------------------------


def _int_block(xs: list[int]) -> tuple[int, int, int, bytes]:
    """(lo, step, width, shuffled words) of ``xs``: frame of reference, common divisor, narrowest
    fixed width (see the module docstring); width and step 0 when every value equals lo."""
    lo = min(xs)
    u = list(map(sub, xs, repeat(lo))) if lo else xs
    step = gcd(*u)
    if step == 0:
        return lo, 0, 0, b""
    if step > 1:
        u = list(map(floordiv, u, repeat(step)))
    top = max(u)
    width = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4 if top < 1 << 32 else 8
    return lo, step, width, _shuffle(_little_endian(array(_UNSIGNED[width], u)), width)


def _put_ints(out: bytearray, xs: list[int]) -> None:
    """Version 1's integer block."""
    lo, step, width, words = _int_block(xs)
    _put_svarint(out, lo)
    out.append(width)
    if width:
        _put_uvarint(out, step)
        out += words


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


def _running(first: int, lo: int, step: int, u: array | None, n: int) -> Iterable[int]:
    """``first`` then its running sums with each ``lo + step * u`` (``lo`` n - 1 times for None)."""
    if u is None:
        return range(first, first + lo * (n - 1) + 1, lo) if lo > 0 else accumulate(repeat(lo, n - 1), initial=first)
    return accumulate(_expand(lo, step, u), initial=first)


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


# -- batch decoding ----------------------------------------------------------------------------


def decode_chunks(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode many chunks at once: (int64 timestamps, float64 values, offsets), chunk i's samples
    being ``[offsets[i], offsets[i + 1])``. Bit-identical to ``decode_chunk`` on each blob, and the
    same ChunkError for a bad one.

    A query over a day reads tens of thousands of chunks. Per chunk only the header is read in
    Python (one ``struct`` call for version 2), then the blocks of all chunks are unshuffled and
    summed by a few numpy passes over the whole batch. A version 1 chunk the batch cannot take
    (numbers that could leave int64 while summed, or anything damaged) is decoded on its own.
    """
    bodies: list[bytes] = []
    fast: list[tuple] = []
    slow: dict[int, tuple[array, array]] = {}
    counts = []
    base = 0
    for i, blob in enumerate(blobs):
        if blob[:1] == _V2_TAG:
            plain = _plain_v2(blob)
            if plain is not None:
                body, layout = plain
            else:
                body, layout, fits = _v2_layout(blob)
                if not fits:
                    slow[i] = _v2_scalar(body, layout)
        else:
            parsed = _v1_layout(blob)
            if parsed is None:
                slow[i] = decode_chunk(blob)
            else:
                body, layout = parsed
        if i in slow:
            counts.append(len(slow[i][0]))
            continue
        bodies.append(body)
        fast.append((i, base, *layout))
        counts.append(layout[0])
        base += len(body)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    out_ts = np.empty(total, dtype=np.int64)
    out_vals = np.empty(total, dtype=np.float64)
    if fast:
        _decode_batch(np.frombuffer(b"".join(bodies), dtype=np.uint8), fast, offsets, out_ts, out_vals)
    for i, (ts, vals) in slow.items():
        out_ts[offsets[i]:offsets[i + 1]] = np.frombuffer(ts, dtype=np.int64)
        out_vals[offsets[i]:offsets[i + 1]] = np.frombuffer(vals, dtype=np.float64)
    return out_ts, out_vals, offsets


_V1_TAG, _V2_TAG = bytes((FORMAT_V1,)), bytes((FORMAT_V2,))
_INT64_LIMIT = 1 << 63
_EXACT_FLOAT_LIMIT = 1 << 53
_NO_BLOCK = (0, 0, 0, 0)
_WIDTHS = frozenset((0, *_UNSIGNED))


def _plain_v2(blob: bytes) -> tuple[bytes, tuple] | None:
    """``_v2_layout`` of the common chunk, checked in one pass: intact, no set-aside values, sums
    within int64 and mantissas a float64 holds exactly. None for any other (``_v2_layout`` then
    names the damage or says how to decode it): the per-chunk cost of a day's query is here."""
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(blob[1:])
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data or len(body) < _HEADER.size:
        return None
    n, t0, t_lo, t_step, t_width, kind, e, m0, m_lo, m_step, m_width, k = _HEADER.unpack_from(body)
    gaps = n - 1
    if (k or n > MAX_SAMPLES or gaps < 0 or t_width not in _WIDTHS or m_width not in _WIDTHS
            or (t_width and not t_step) or (m_width and not m_step) or (gaps and t_lo <= 0)
            or abs(t0) + gaps * (abs(t_lo) + (t_step << (8 * t_width))) >= _INT64_LIMIT):
        return None
    at = _HEADER.size
    t_block = (t_lo, t_step, t_width, at) if gaps else _NO_BLOCK
    at += t_width * gaps
    if kind == _DECIMAL:
        if (e > _MAX_EXP or len(body) != at + m_width * gaps
                or abs(m0) + gaps * (abs(m_lo) + (m_step << (8 * m_width))) >= _EXACT_FLOAT_LIMIT):
            return None
        return body, (n, t0, t_block, _DECIMAL, e, m0, (m_lo, m_step, m_width, at) if gaps else _NO_BLOCK,
                      (), 0, True)
    if kind != _XOR or len(body) != at + 8 * gaps:
        return None
    return body, (n, t0, t_block, _XOR, m0 & 0xFFFF_FFFF_FFFF_FFFF, at)


def _v2_layout(blob: bytes) -> tuple[bytes, tuple, bool]:
    """The body and layout of a version 2 chunk (see ``_v1_layout``), and whether the batch can
    sum its blocks in int64; ChunkError if it is not intact."""
    body = _inflate(blob)
    if len(body) < _HEADER.size:
        raise ChunkError("corrupted chunk: body shorter than its header says")
    n, t0, t_lo, t_step, t_width, kind, e, m0, m_lo, m_step, m_width, k = _HEADER.unpack_from(body)
    if not 0 < n <= MAX_SAMPLES:
        raise ChunkError(f"corrupted chunk: sample count {n}")
    p = _HEADER.size
    t_block = _v2_block(t_lo, t_step, t_width, p, n)
    if n > 1 and t_lo <= 0:
        raise ChunkError("corrupted chunk: timestamps not increasing")
    fits = _sums_fit(t0, t_block, n, _INT64_LIMIT)
    p += t_width * (n - 1)
    if kind == _DECIMAL:
        if e > _MAX_EXP:
            raise ChunkError(f"corrupted chunk: decimal exponent {e}")
        if k > n:
            raise ChunkError(f"corrupted chunk: {k} exceptions in {n} samples")
        m_block = _v2_block(m_lo, m_step, m_width, p, n)
        fits = fits and _sums_fit(m0, m_block, n, _INT64_LIMIT)
        p += m_width * (n - 1)
        positions: list[int] = []
        if k:
            if len(body) < p + 4 * k:
                raise ChunkError("corrupted chunk: body shorter than its header says")
            positions = _from_little_endian("I", body[p : p + 4 * k]).tolist()
            if any(map(le, positions[1:], positions)) or positions[-1] >= n:
                raise ChunkError("corrupted chunk: exception position out of range")
        layout = (n, t0, t_block, _DECIMAL, e, m0, m_block, positions, p + 4 * k,
                  _sums_fit(m0, m_block, n, _EXACT_FLOAT_LIMIT))
        p += 12 * k
    elif kind == _XOR:
        layout = (n, t0, t_block, _XOR, m0 & 0xFFFF_FFFF_FFFF_FFFF, p)
        p += 8 * (n - 1)
    else:
        raise ChunkError(f"corrupted chunk: unknown value encoding {kind}")
    if p > len(body):
        raise ChunkError("corrupted chunk: body shorter than its header says")
    if p < len(body):
        raise ChunkError(f"corrupted chunk: {len(body) - p} unexpected trailing bytes")
    return body, layout, fits


def _v2_scalar(body: bytes, layout: tuple) -> tuple[array, array]:
    """Decode one version 2 chunk with Python integers (numbers the batch's int64 might not hold)."""
    n, t0, t_block, kind = layout[:4]
    try:
        ts = array("q", _block_sums(body, t0, t_block, n))
        if kind == _DECIMAL:
            e, m0, m_block, positions, at = layout[4:9]
            vals = array("d", map(truediv, _block_sums(body, m0, m_block, n), repeat(10**e)))
            _put_aside(vals, positions, body[at : at + 8 * len(positions)])
        else:
            first, at = layout[4:6]
            words = _from_little_endian("Q", _unshuffle(body[at : at + 8 * (n - 1)], 8))
            vals = array("d", array("Q", accumulate(words, xor, initial=first)).tobytes())
    except OverflowError:
        raise ChunkError("corrupted chunk: decoded numbers out of range") from None
    return ts, vals


def _block_sums(body: bytes, first: int, block: tuple, n: int) -> Iterable[int]:
    lo, step, width, at = block
    if n == 1:
        return (first,)
    u = _from_little_endian(_UNSIGNED[width], _unshuffle(body[at : at + width * (n - 1)], width)) if width else None
    return _running(first, lo, step, u, n)


def _v2_block(lo: int, step: int, width: int, at: int, n: int) -> tuple[int, int, int, int]:
    """A version 2 header's integer block as (lo, step, width, offset)."""
    if width and width not in _UNSIGNED:
        raise ChunkError(f"corrupted chunk: integer width {width}")
    if width and not step:
        raise ChunkError("corrupted chunk: zero integer step")
    return (lo, step, width, at) if n > 1 else _NO_BLOCK


def _v1_layout(blob: bytes) -> tuple[bytes, tuple] | None:
    """The decompressed body and its layout when the batch decoder can take this version 1 chunk,
    else None (``decode_chunk`` then decodes it or names what is wrong with it).

    layout = (n, t0, t block, _DECIMAL, e, m0, m block, exception positions, offset of their
    bits, whether float64 holds every mantissa exactly) or (n, t0, t block, _XOR, first value's
    bits, offset of the xor words), a block being (lo, step, width, offset of its words)."""
    if blob[:1] != _V1_TAG:
        return None
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(blob[1:])
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data:
        return None
    try:
        n, p = _uvarint_at(body, 0)
        if not 0 < n <= MAX_SAMPLES:
            return None
        t0, p = _svarint_at(body, p)
        t_block = _NO_BLOCK
        if n > 1:
            t_block, p = _v1_block(body, p, n - 1)
            if t_block is None or t_block[0] <= 0 or not _sums_fit(t0, t_block, n, _INT64_LIMIT):
                return None
        kind = body[p]
        p += 1
        if kind == _DECIMAL:
            e = body[p]
            if e > _MAX_EXP:
                return None
            m0, p = _svarint_at(body, p + 1)
            m_block = _NO_BLOCK
            if n > 1:
                m_block, p = _v1_block(body, p, n - 1)
                if m_block is None:
                    return None
            if not _sums_fit(m0, m_block, n, _EXACT_FLOAT_LIMIT):
                return None
            k, p = _uvarint_at(body, p)
            if k > n:
                return None
            positions = []
            at = 0
            for _ in range(k):
                gap, p = _uvarint_at(body, p)
                if not gap and positions:  # a position twice: only a damaged body says so
                    return None
                at += gap
                positions.append(at)
            if k and positions[-1] >= n:
                return None
            layout = (n, t0, t_block, _DECIMAL, e, m0, m_block, positions, p, True)
            p += 8 * k
        elif kind == _XOR:
            layout = (n, t0, t_block, _XOR, int.from_bytes(body[p : p + 8], "little"), p + 8)
            p += 8 * n
        else:
            return None
    except IndexError:
        return None
    if p != len(body):
        return None
    return body, layout


def _uvarint_at(data: bytes, p: int) -> tuple[int, int]:
    """The unsigned varint at ``p`` and the position after it; IndexError past the end, and a
    varint over 64 bits also ends in one (the caller falls back to ``decode_chunk``)."""
    b = data[p]
    if b < 0x80:
        return b, p + 1
    x = b & 0x7F
    shift = 7
    while True:
        p += 1
        b = data[p]
        x |= (b & 0x7F) << shift
        if b < 0x80:
            return x, p + 1
        shift += 7
        if shift > 63:
            raise IndexError


def _svarint_at(data: bytes, p: int) -> tuple[int, int]:
    z, p = _uvarint_at(data, p)
    return (-(z >> 1) - 1 if z & 1 else z >> 1), p


def _v1_block(data: bytes, p: int, count: int) -> tuple[tuple | None, int]:
    """A version 1 integer block at ``p`` as (lo, step, width, offset of its words), or None."""
    lo, p = _svarint_at(data, p)
    width = data[p]
    p += 1
    if width == 0:
        return (lo, 0, 0, 0), p
    if width not in _UNSIGNED:
        return None, p
    step, p = _uvarint_at(data, p)
    if step == 0:
        return None, p
    end = p + width * count
    if end > len(data):
        return None, p
    return (lo, step, width, p), end


def _sums_fit(first: int, block: tuple, n: int, limit: int) -> bool:
    """Whether every running sum of the block stays below ``limit`` in magnitude."""
    lo, step, width = block[0], block[1], block[2]
    return abs(first) + (n - 1) * (abs(lo) + (step << (8 * width))) < limit


def _decode_batch(buf: np.ndarray, fast: list[tuple], offsets: np.ndarray, out_ts: np.ndarray,
                  out_vals: np.ndarray) -> None:
    """Fill the chunks in ``fast`` (index, body offset, *layout) into the output arrays."""
    index = np.array([f[0] for f in fast], dtype=np.intp)
    n = np.array([f[2] for f in fast], dtype=np.int64)
    base = np.array([f[1] for f in fast], dtype=np.int64)
    total = int(n.sum())
    decimal = np.array([f[5] == _DECIMAL for f in fast])
    per_sample = np.repeat(decimal, n)
    if total == len(out_ts):  # no chunk decoded on its own: the batch is the whole output, in order
        where, decimal_at, xor_at = slice(None), per_sample, ~per_sample
    else:
        where = np.repeat(offsets[index] - _starts(n), n) + np.arange(total, dtype=np.int64)
        decimal_at, xor_at = where[per_sample], where[~per_sample]
    out_ts[where] = _running_sums(buf, base, n, [f[3] for f in fast], [f[4] for f in fast])
    if decimal.any():
        picked = [f for f in fast if f[5] == _DECIMAL]
        dn = n[decimal]
        dbase = base[decimal]
        mantissas = _running_sums(buf, dbase, dn, [f[7] for f in picked], [f[8] for f in picked])
        exponents = {f[6] for f in picked}
        if len(exponents) == 1:
            vals = mantissas.astype(np.float64) / float(10 ** exponents.pop())
        else:
            vals = mantissas.astype(np.float64) / np.repeat(np.array([10.0 ** f[6] for f in picked]), dn)
        starts = _starts(dn)
        for j, f in enumerate(picked):
            if not f[11]:  # Python's int / int rounds big mantissas once, as float64 division cannot
                lo, hi = int(starts[j]), int(starts[j] + dn[j])
                vals[lo:hi] = [m / 10 ** f[6] for m in mantissas[lo:hi].tolist()]
        gaps = [(j, f[9], f[10]) for j, f in enumerate(picked) if f[9]]
        if gaps:
            # the set-aside values are copied as bits: NaN payloads must not pass through arithmetic
            at = np.concatenate([starts[j] + np.array(pos, dtype=np.int64) for j, pos, _ in gaps])
            src = np.concatenate([dbase[j] + p + np.arange(8 * len(pos)) for j, pos, p in gaps])
            vals.view(np.uint64)[at] = buf[src].view("<u8")
        out_vals[where if decimal.all() else decimal_at] = vals
    if not decimal.all():
        picked = [f for f in fast if f[5] == _XOR]
        xn = n[~decimal]
        words = np.empty(int(xn.sum()), dtype=np.uint64)
        starts = _starts(xn)
        words[starts] = [f[6] for f in picked]
        rest = np.ones(len(words), dtype=bool)
        rest[starts] = False
        words[rest] = _unshuffled(buf, base[~decimal] + np.array([f[7] for f in picked], dtype=np.int64), xn - 1, 8)
        acc = np.bitwise_xor.accumulate(words)
        before = np.zeros(len(xn), dtype=np.uint64)
        before[1:] = acc[starts[1:] - 1]
        out_vals[where if not decimal.any() else xor_at] = (acc ^ np.repeat(before, xn)).view(np.float64)


def _starts(n: np.ndarray) -> np.ndarray:
    """Where each of consecutive runs of lengths ``n`` starts."""
    return np.cumsum(n) - n


def _running_sums(buf: np.ndarray, base: np.ndarray, n: np.ndarray, firsts: list[int],
                  blocks: list[tuple]) -> np.ndarray:
    """Per chunk, its first number followed by the running sums of its block's ``lo + step * u``,
    all chunks concatenated. int64 wraps around in numpy; ``_sums_fit`` ensured no sum needs to."""
    lo = np.array([b[0] for b in blocks], dtype=np.int64)
    width = np.array([b[2] for b in blocks], dtype=np.int64)
    first = np.array(firsts, dtype=np.int64)
    inc = np.repeat(lo, n)
    starts = _starts(n)
    if width.any():
        step = np.array([b[1] for b in blocks], dtype=np.uint64).astype(np.int64)
        at = np.array([b[3] for b in blocks], dtype=np.int64) + base
        for w in np.unique(width[width > 0]).tolist():
            sel = width == w
            count = n[sel] - 1
            u = _unshuffled(buf, at[sel], count, w).astype(np.int64)
            pos = np.repeat(starts[sel] + 1 - _starts(count), count) + np.arange(len(u), dtype=np.int64)
            inc[pos] += np.repeat(step[sel], count) * u
    inc[starts] = first
    sums = np.cumsum(inc)
    sums -= np.repeat(sums[starts] - first, n)
    return sums


def _unshuffled(buf: np.ndarray, at: np.ndarray, count: np.ndarray, width: int) -> np.ndarray:
    """The little-endian unsigned words of shuffled blocks (byte i of every word together, see
    ``_shuffle``) starting at ``at`` with ``count`` words each, concatenated."""
    total = int(count.sum())
    word = np.arange(total, dtype=np.int64) - np.repeat(_starts(count), count)
    first = np.repeat(at, count) + word
    grid = buf[first[:, None] + np.repeat(count, count)[:, None] * np.arange(width)]
    return np.ascontiguousarray(grid).view(f"<u{width}").reshape(total)
