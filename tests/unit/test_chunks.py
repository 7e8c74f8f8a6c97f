"""The chunk codec: bit-exact round trips in both format versions (version 1 is what older
releases wrote: it must stay readable), the batch decoder agreeing with the one-chunk decoder bit
for bit, compact encodings, and clean failures on bad blobs."""

from __future__ import annotations

import math
import random
import re
import struct
import zlib
from array import array

import pytest

from engine.tsdb.chunks import FORMAT_V1, FORMAT_V2, ChunkError, decode_chunk, decode_chunks, encode_chunk
from engine.tsdb.types import STALE_NAN, is_stale

T0 = 1_700_000_000_000
STEP = 5000


def regular(n: int, start: int = T0) -> list[int]:
    return [start + STEP * i for i in range(n)]


def from_bits(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def bits_of(values) -> bytes:
    return array("d", values).tobytes()


def roundtrip(ts, values) -> bytes:
    """Encode in both versions, check both decoders on both blobs; the blob written now (version 2)."""
    blobs = [encode_chunk(ts, values, version=FORMAT_V1), encode_chunk(ts, values)]
    assert [b[0] for b in blobs] == [FORMAT_V1, FORMAT_V2]
    for blob in blobs:
        dts, dvals = decode_chunk(blob)
        assert dts.typecode == "q" and dvals.typecode == "d"
        assert list(dts) == list(ts)
        assert dvals.tobytes() == bits_of(values), "values must round-trip bit for bit"
    bts, bvals, offsets = decode_chunks(blobs * 2)
    assert offsets.tolist() == [len(ts) * i for i in range(5)]
    assert bts.tobytes() == array("q", ts).tobytes() * 4
    assert bvals.tobytes() == bits_of(values) * 4
    return blobs[1]


PLAIN_NAN = float("nan")
ODD_NANS = [from_bits(bits) for bits in (0x7FF8_0000_DEAD_BEEF, 0xFFF8_0000_0000_0000, 0x7FF0_0000_0000_0001)]
SPECIALS = [STALE_NAN, PLAIN_NAN, *ODD_NANS, math.inf, -math.inf, -0.0, 0.0,
            5e-324, -5e-324, 2.2250738585072009e-308, 1.7976931348623157e308, -1e300, 1e-300]


@pytest.mark.parametrize("values", [
    pytest.param([float(i) for i in range(100)], id="integers"),
    pytest.param([i / 100 for i in range(100_000, 100_360)], id="two-decimals"),
    pytest.param([round(0.1 * i, 1) for i in range(360)], id="one-decimal"),
    pytest.param([i * 1e-9 for i in range(50)], id="nine-decimals"),
    pytest.param([0.1 + 0.2, 0.3, 1 / 3, 2 / 3] * 20, id="not-decimals"),
    pytest.param([math.pi * 10**k for k in range(-300, 300, 7)], id="wide-exponents"),
    pytest.param(SPECIALS * 10, id="specials"),
    pytest.param([float(2**62 + 2**11 * i) for i in range(40)], id="beyond-mantissa-limit"),
    pytest.param([-1.5, -0.25, 3.75, -1e6] * 30, id="negative-decimals"),
])
def test_round_trip_value_classes(values):
    roundtrip(regular(len(values)), values)


@pytest.mark.parametrize("special", SPECIALS, ids=repr)
def test_each_special_value_survives_alone_and_inside_a_decimal_series(special):
    roundtrip([T0], [special])
    # One odd value among many decimals: kept aside as an exception, or the chunk falls back.
    values = [i / 100 for i in range(360)]
    values[123] = special
    roundtrip(regular(360), values)


def test_stale_marker_stays_a_stale_marker():
    values = [float(i) for i in range(360)]
    for pos in (0, 1, 180, 359):
        values[pos] = STALE_NAN
    _, dvals = decode_chunk(roundtrip(regular(360), values))
    assert [i for i, v in enumerate(dvals) if is_stale(v)] == [0, 1, 180, 359]
    _, single = decode_chunk(encode_chunk([T0], [STALE_NAN]))
    assert is_stale(single[0])


def test_plain_nan_is_not_turned_into_a_stale_marker():
    values = [1.0, PLAIN_NAN] + [2.0] * 30
    _, dvals = decode_chunk(roundtrip(regular(32), values))
    assert math.isnan(dvals[1]) and not is_stale(dvals[1])


def test_stale_markers_do_not_spoil_a_decimal_chunk():
    rng = random.Random(7)
    counter, values = 0, []
    for _ in range(360):
        counter += rng.randrange(20)
        values.append(float(counter))
    clean = len(roundtrip(regular(360), values))
    values[100] = values[250] = STALE_NAN
    assert len(roundtrip(regular(360), values)) <= clean + 30


def test_single_sample():
    roundtrip([T0], [42.0])
    roundtrip([0], [0.5])
    roundtrip([-(2**63)], [-0.0])


def test_constant_series_is_tiny():
    blob = roundtrip(regular(360), [3.25] * 360)
    assert len(blob) < 32  # version 2's fixed header costs a few bytes over version 1's varints


def test_counter_with_resets():
    rng = random.Random(1)
    counter, values = 10**9, []
    for i in range(720):
        counter = 0 if i in (200, 500) else counter + rng.randrange(1, 10_000)
        values.append(float(counter))
    roundtrip(regular(720), values)


def test_jittered_and_irregular_timestamps():
    rng = random.Random(2)
    jittered = [T0 + STEP * i + rng.randint(-3, 3) for i in range(360)]
    roundtrip(jittered, [float(i) for i in range(360)])
    irregular = sorted(rng.sample(range(T0, T0 + 10**9), 500))
    roundtrip(irregular, [rng.random() for _ in range(500)])
    extremes = [-(2**63), -1, 0, 1, 2**63 - 1]
    roundtrip(extremes, [1.0, 2.0, 3.0, 4.0, 5.0])


def test_large_chunk():
    rng = random.Random(3)
    n = 100_000
    ts = array("q", (T0 + 1000 * i + rng.randrange(3) for i in range(n)))
    roundtrip(ts, array("d", (rng.gauss(0, 1) for _ in range(n))))
    roundtrip(ts, array("d", (float(i // 7) for i in range(n))))


def test_accepts_lists_and_arrays_alike():
    ts, values = regular(10), [i / 4 for i in range(10)]
    assert encode_chunk(ts, values) == encode_chunk(array("q", ts), array("d", values))


def test_blob_starts_with_the_format_version():
    assert encode_chunk([T0], [1.0])[0] == FORMAT_V2
    assert encode_chunk([T0], [1.0], version=FORMAT_V1)[0] == FORMAT_V1


def test_timestamps_too_far_apart_for_version_2_are_written_in_version_1():
    blob = encode_chunk([-(2**63), 2**63 - 1], [1.0, 2.0])
    assert blob[0] == FORMAT_V1
    assert decode_chunk(blob) == (array("q", [-(2**63), 2**63 - 1]), array("d", [1.0, 2.0]))
    ts, vals, _ = decode_chunks([blob])
    assert ts.tolist() == [-(2**63), 2**63 - 1] and vals.tolist() == [1.0, 2.0]


def random_chunk(rng: random.Random) -> tuple[list[int], list[float]]:
    """Timestamps regular, jittered or scattered; values of every class the codec tells apart."""
    n = rng.choice([1, 2, 3, 120, rng.randint(1, 400)])
    t = rng.randint(-10**13, 10**13)
    ts = []
    for _ in range(n):
        ts.append(t)
        t += rng.choice([STEP, STEP + rng.randint(-50, 50), rng.randint(1, 2 ** rng.randint(1, 50))])
    kind = rng.randrange(6)
    if kind == 0:
        vals = [rng.randint(0, 10**6) / 100 for _ in range(n)]
    elif kind == 1:
        vals = [rng.random() * 10 ** rng.randint(-5, 5) for _ in range(n)]
    elif kind == 2:
        vals = [float(i * rng.choice([1, 4096, 2**40])) for i in range(n)]
    elif kind == 3:
        vals = [rng.choice(SPECIALS) if rng.random() < 0.1 else rng.randint(-999, 999) / 10 for _ in range(n)]
    elif kind == 4:
        vals = [float(2**62 + 2**11 * i) for i in range(n)]  # mantissas a float64 cannot hold
    else:
        vals = [rng.randint(-2**52, 2**52) / 10 ** rng.randint(0, 3) for _ in range(n)]
    return ts, vals


@pytest.mark.parametrize("seed", range(4))
def test_batch_decoding_equals_one_chunk_at_a_time_across_versions_and_kinds(seed):
    rng = random.Random(seed)
    chunks = [random_chunk(rng) for _ in range(300)]
    blobs = [encode_chunk(ts, vals, version=rng.choice([FORMAT_V1, FORMAT_V2])) for ts, vals in chunks]
    bts, bvals, offsets = decode_chunks(blobs)
    assert len(offsets) == len(blobs) + 1
    for i, (ts, vals) in enumerate(chunks):
        one_ts, one_vals = decode_chunk(blobs[i])
        lo, hi = offsets[i], offsets[i + 1]
        assert list(one_ts) == ts and one_vals.tobytes() == bits_of(vals)
        assert bts[lo:hi].tobytes() == one_ts.tobytes() and bvals[lo:hi].tobytes() == one_vals.tobytes()


def test_batch_decoding_of_nothing():
    ts, vals, offsets = decode_chunks([])
    assert len(ts) == len(vals) == 0 and offsets.tolist() == [0]


def test_regular_integer_counter_is_under_one_byte_per_sample():
    rng = random.Random(4)
    counter, values = 0, []
    for _ in range(360):
        counter += rng.randrange(16)
        values.append(float(counter))
    assert len(roundtrip(regular(360), values)) / 360 < 1.0


def test_two_decimal_cpu_counter_with_jitter_is_under_two_bytes_per_sample():
    rng = random.Random(5)
    ticks, values = 123_456_789, []
    for _ in range(360):
        ticks += max(0, round(250 + rng.gauss(0, 20)))
        values.append(ticks / 100)
    ts = [T0 + STEP * i + rng.randint(-2, 2) for i in range(360)]
    assert len(roundtrip(ts, values)) / 360 < 2.0


def test_kib_granular_byte_gauge_costs_what_the_same_gauge_in_kib_costs():
    rng = random.Random(6)
    kib = [4_000_000]
    for _ in range(359):
        kib.append(kib[-1] + rng.randrange(-500, 500))
    in_kib = len(roundtrip(regular(360), [float(k) for k in kib]))
    in_bytes = len(roundtrip(regular(360), [float(k * 1024) for k in kib]))
    assert in_bytes <= in_kib + 4


@pytest.mark.parametrize("ts, values, message", [
    ([], [], "1 to"),
    ([T0, T0 + 1], [1.0], "2 timestamps but 1 values"),
    ([T0, T0], [1.0, 2.0], "strictly increasing"),
    ([T0 + 1, T0], [1.0, 2.0], "strictly increasing"),
])
def test_encode_rejects_bad_input(ts, values, message):
    with pytest.raises(ValueError, match=message):
        encode_chunk(ts, values)


def sample_blob() -> bytes:
    values = [i / 100 for i in range(200)]
    values[50] = STALE_NAN
    return encode_chunk([T0 + STEP * i + i % 3 for i in range(200)], values)


@pytest.mark.parametrize("blob, message", [
    (b"", "empty"),
    (b"\x00" + zlib.compress(b"x"), "unknown chunk format version 0"),
    (b"\x01", "truncated"),
    (b"\x01not zlib at all", "corrupted"),
    (sample_blob() + b"\x00", "after the compressed stream"),
    (b"\x01" + zlib.compress(b""), "corrupted"),
    (b"\x01" + zlib.compress(b"\x05\x00\x01\x01"), "shorter than its header"),
])
def test_decode_rejects_malformed_blobs(blob, message):
    with pytest.raises(ChunkError, match=message):
        decode_chunk(blob)
    with pytest.raises(ChunkError, match=message):
        decode_chunks([encode_chunk([T0], [1.0]), blob])


def uv(x: int) -> bytes:
    out = bytearray()
    while x > 0x7F:
        out.append(x & 0x7F | 0x80)
        x >>= 7
    return bytes(out) + bytes((x,))


def sv(x: int) -> bytes:
    return uv(x << 1 if x >= 0 else (-x << 1) - 1)


def crafted(body: bytes) -> bytes:
    """A blob with an intact checksum around a hand-written (format 1) body."""
    return bytes((FORMAT_V1,)) + zlib.compress(body)


ONE_XOR_VALUE = b"\x01" + bytes(8)
EXCEPTION_BITS = struct.pack("<d", STALE_NAN)


def test_crafted_bodies_decode_as_documented():
    assert decode_chunk(crafted(uv(1) + sv(-7) + ONE_XOR_VALUE)) == (array("q", [-7]), array("d", [0.0]))
    # Three regular timestamps, decimal mantissas 150, 175, 200 at e=2, a stale marker at 1.
    body = uv(3) + sv(T0) + sv(STEP) + b"\x00" + b"\x00\x02" + sv(150) + sv(25) + b"\x00"
    ts, vals = decode_chunk(crafted(body + uv(1) + uv(1) + EXCEPTION_BITS))
    assert list(ts) == [T0, T0 + STEP, T0 + 2 * STEP]
    assert vals[0] == 1.5 and is_stale(vals[1]) and vals[2] == 2.0


@pytest.mark.parametrize("body, message", [
    pytest.param(uv(0) + sv(T0) + ONE_XOR_VALUE, "sample count 0", id="no-samples"),
    pytest.param(uv(1 << 21) + sv(T0) + sv(1) + b"\x00", "sample count", id="too-many-samples"),
    pytest.param(uv(2) + sv(T0) + sv(0) + b"\x00", "not increasing", id="zero-delta"),
    pytest.param(uv(2) + sv(T0) + sv(-5) + b"\x01" + uv(1) + b"\x09", "not increasing", id="negative-delta"),
    pytest.param(uv(2) + sv(2**63 - 1) + sv(1) + b"\x00" + b"\x01" + bytes(16), "out of range",
                 id="timestamp-overflow"),
    pytest.param(uv(2) + sv(T0) + sv(1) + b"\x03" + uv(1) + bytes(3), "integer width 3", id="bad-width"),
    pytest.param(uv(2) + sv(T0) + sv(1) + b"\x01" + uv(0) + bytes(1), "zero integer step", id="zero-step"),
    pytest.param(uv(1) + sv(T0) + b"\x07", "unknown value encoding 7", id="bad-kind"),
    pytest.param(uv(1) + sv(T0) + b"\x00\x0a" + sv(1) + uv(0), "decimal exponent 10", id="bad-exponent"),
    pytest.param(uv(1) + sv(T0) + b"\x00\x00" + sv(1) + uv(2), "2 exceptions in 1 samples",
                 id="too-many-exceptions"),
    pytest.param(uv(1) + sv(T0) + b"\x00\x00" + sv(1) + uv(1) + uv(1) + EXCEPTION_BITS,
                 "exception position out of range", id="exception-outside"),
    pytest.param(uv(1) + sv(T0) + ONE_XOR_VALUE + b"\x00", "1 unexpected trailing bytes", id="trailing"),
    pytest.param(uv(1) + sv(T0) + b"\x01" + bytes(5), "shorter than its header", id="short-value"),
    pytest.param(b"\xff" * 11, "varint longer than 64 bits", id="long-varint"),
])
def test_decode_rejects_inconsistent_bodies(body, message):
    with pytest.raises(ChunkError, match=message):
        decode_chunk(crafted(body))
    with pytest.raises(ChunkError, match=message):
        decode_chunks([crafted(body)])


def v2_header(n=2, t0=T0, t_lo=STEP, t_step=0, t_width=0, kind=0, e=0, m0=1, m_lo=0, m_step=0, m_width=0, k=0):
    return struct.pack("<IqqQBBBqqQBI", n, t0, t_lo, t_step, t_width, kind, e, m0, m_lo, m_step, m_width, k)


def v2(body: bytes) -> bytes:
    return bytes((FORMAT_V2,)) + zlib.compress(body)


def test_version_2_bodies_decode_as_documented():
    # three samples: timestamps T0 + 5000 * (0, 1, 3) (lo 5000, step 5000, u 0 and 1 in one byte),
    # mantissas 150, 175, 200 at e=2, a stale marker set aside at position 1
    body = v2_header(n=3, t_step=STEP, t_width=1, e=2, m0=150, m_lo=25, k=1) + bytes((0, 1))
    ts, vals = decode_chunk(v2(body + struct.pack("<I", 1) + EXCEPTION_BITS))
    assert list(ts) == [T0, T0 + STEP, T0 + 3 * STEP]
    assert vals[0] == 1.5 and is_stale(vals[1]) and vals[2] == 2.0


@pytest.mark.parametrize("body, message", [
    pytest.param(b"\x00" * 10, "shorter than its header", id="short-header"),
    pytest.param(v2_header(n=0), "sample count 0", id="no-samples"),
    pytest.param(v2_header(t_lo=0), "not increasing", id="zero-delta"),
    pytest.param(v2_header(t_width=3, t_step=1) + bytes(3), "integer width 3", id="bad-width"),
    pytest.param(v2_header(t_width=1, t_step=0) + bytes(1), "zero integer step", id="zero-step"),
    pytest.param(v2_header(kind=7), "unknown value encoding 7", id="bad-kind"),
    pytest.param(v2_header(e=10), "decimal exponent 10", id="bad-exponent"),
    pytest.param(v2_header(k=3), "3 exceptions in 2 samples", id="too-many-exceptions"),
    pytest.param(v2_header(k=1) + struct.pack("<I", 2) + EXCEPTION_BITS, "exception position out of range",
                 id="exception-outside"),
    pytest.param(v2_header(k=2) + struct.pack("<II", 1, 1) + EXCEPTION_BITS * 2, "exception position out of range",
                 id="exception-twice"),
    pytest.param(v2_header(m_width=1, m_step=1), "shorter than its header", id="missing-words"),
    pytest.param(v2_header() + b"\x00", "1 unexpected trailing bytes", id="trailing"),
    pytest.param(v2_header(t0=2**63 - 1, t_lo=2**62), "out of range", id="timestamp-overflow"),
])
def test_decode_rejects_inconsistent_version_2_bodies(body, message):
    with pytest.raises(ChunkError, match=message):
        decode_chunk(v2(body))
    with pytest.raises(ChunkError, match=message):
        decode_chunks([v2(body)])


def test_every_truncation_is_a_chunk_error():
    blob = sample_blob()
    for end in range(len(blob)):
        with pytest.raises(ChunkError):
            decode_chunk(blob[:end])


def test_every_corrupted_byte_is_a_chunk_error():
    blob = sample_blob()
    for pos in range(len(blob)):
        damaged = bytearray(blob)
        damaged[pos] ^= 0xFF
        with pytest.raises(ChunkError):
            decode_chunk(bytes(damaged))


@pytest.mark.parametrize("version", [FORMAT_V1, FORMAT_V2])
@pytest.mark.parametrize("values", [
    pytest.param([i / 100 for i in range(60)] + [STALE_NAN], id="decimal"),
    pytest.param([random.Random(8).random() for _ in range(60)], id="xor"),
])
def test_damaged_body_behind_a_valid_checksum_never_escapes_as_another_error(values, version):
    """The zlib checksum stops random damage; this drives the parsers themselves with garbage, and
    the batch decoder must come to the same answer or the same error as the one-chunk decoder."""
    blob = encode_chunk([T0 + STEP * i + i % 5 for i in range(len(values))], values, version=version)
    body = zlib.decompress(blob[1:])
    rng = random.Random(9)
    outcomes = set()
    for _ in range(3000):
        damaged = bytearray(body)
        for _ in range(rng.randint(1, 3)):
            if not damaged:
                break
            pos = rng.randrange(len(damaged))
            if rng.random() < 0.8:
                damaged[pos] = rng.randrange(256)
            else:
                del damaged[pos:]
        blob = bytes((version,)) + zlib.compress(bytes(damaged))
        try:
            ts, vals = decode_chunk(blob)
        except ChunkError as exc:
            outcomes.add("error")
            with pytest.raises(ChunkError, match=re.escape(str(exc))):
                decode_chunks([blob])
        else:
            assert len(ts) == len(vals) > 0
            bts, bvals, _ = decode_chunks([blob])
            assert bts.tobytes() == ts.tobytes() and bvals.tobytes() == vals.tobytes()
            assert all(a < b for a, b in zip(ts, ts[1:], strict=False))
            outcomes.add("decoded")
    assert "error" in outcomes
