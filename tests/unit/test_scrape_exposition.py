"""The scrape parser reads what prometheus_client writes in both formats, and refuses malformed text."""

from __future__ import annotations

import math
import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from engine.scrape.exposition import ParseError, is_openmetrics, parse, parse_series, read_samples, read_strictly


@pytest.fixture
def registry():
    reg = CollectorRegistry()
    Counter("http_requests_total", "Requests.", ["route"], registry=reg).labels("/a").inc(3)
    Histogram("latency_seconds", "Latency.", registry=reg, buckets=(0.1, 1)).observe(0.5)
    Gauge("odd", 'Help with \\ and "quotes".', ["v"], registry=reg).labels('a"b\\c\nd}{ 1').set(-2.5)
    return reg


@pytest.mark.parametrize("openmetrics", [False, True])
def test_reads_prometheus_client_output(registry, openmetrics):
    body = (generate_openmetrics if openmetrics else generate_latest)(registry).decode()
    families = parse(body, openmetrics)
    by_name = {f.name: f for f in families}
    assert by_name["latency_seconds"].type == "histogram"
    assert by_name["odd"].help == 'Help with \\ and "quotes".'
    samples = {(name, tuple(sorted(labels.items()))): v
               for fam in families for key, v in fam.samples for name, labels in [parse_series(key)]}
    assert samples[("http_requests_total", (("route", "/a"),))] == 3
    assert samples[("latency_seconds_bucket", (("le", "1.0"),))] == 1
    assert samples[("odd", (("v", 'a"b\\c\nd}{ 1'),))] == -2.5
    if openmetrics:
        assert by_name["http_requests"].type == "counter"
        assert len(by_name["http_requests"].samples) == 2  # _total and _created in one family


def test_values_and_timestamps():
    families = parse('a NaN\nb +Inf 1700000000000\nc{x="1"} -Inf\nd 1e3\n')
    values = [v for f in families for _, v in f.samples]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 1000.0]


def test_openmetrics_exemplar_does_not_end_the_label_set():
    body = ('# TYPE h histogram\nh_bucket{le="1"} 3 # {trace_id="x}y"} 0.5 1.0\nh_bucket{le="+Inf"} 3\n'
            "h_count 3\nh_sum 1\n# EOF\n")
    (fam,) = parse(body, openmetrics=True)
    assert fam.samples[0] == ('h_bucket{le="1"}', 3.0)


@pytest.mark.parametrize(("body", "openmetrics", "problem"), [
    ("a\n", False, "no value"),
    ("a x\n", False, "not a number"),
    ("a 1 notatime\n", False, "not a timestamp"),
    ("# TYPE a counter\na 1\n# TYPE a counter\n", False, "second TYPE"),
    ("# TYPE a flux\n", False, "unknown metric type"),
    ("a 1\n", True, "# EOF"),
    ("a 1\n\n# EOF\n", True, "empty line"),
])
def test_malformed_text_is_refused(body, openmetrics, problem):
    with pytest.raises(ParseError, match=problem):
        parse(body, openmetrics)


@pytest.mark.parametrize("key", ['1a', 'a{b="1",b="2"}', 'a{b="\\x"}', 'a{b=1}', 'a{b="1" c="2"}'])
def test_malformed_series_are_refused(key):
    with pytest.raises(ParseError):
        parse_series(key)


def test_content_type_decides_the_format():
    assert is_openmetrics("application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert not is_openmetrics("text/plain; version=0.0.4; charset=utf-8")
    assert not is_openmetrics("")


@pytest.mark.parametrize("openmetrics", [False, True])
def test_quick_reader_agrees_with_the_full_parser(registry, openmetrics):
    body = (generate_openmetrics if openmetrics else generate_latest)(registry).decode()
    quick, full = read_samples(body, openmetrics), read_strictly(body, openmetrics)
    assert sorted(zip(quick.keys, quick.values, strict=True)) == sorted(zip(full.keys, full.values, strict=True))
    assert quick.metadata == full.metadata
    assert quick.family_of("latency_seconds_bucket") == ("latency_seconds", full.metadata["latency_seconds"])
    assert quick.family_of("unknown_thing")[1].type == "untyped"


@pytest.mark.parametrize(("body", "openmetrics"), [
    ("a 1 1700000000000\n", False),  # a timestamp: the quick split takes it into the key
    ('a{b="1"}\t2\n', False),
    ("# TYPE a gauge\n# TYPE a gauge\na 1\n", False),
    ('h_bucket{le="1"} 3 # {trace_id="x"} 0.5\n# EOF\n', True),
])
def test_irregular_bodies_read_like_the_full_parser_says(body, openmetrics):
    try:
        full = read_strictly(body, openmetrics)
    except ParseError as exc:
        with pytest.raises(ParseError, match=re.escape(str(exc))):
            read_samples(body, openmetrics)
        return
    samples = read_samples(body, openmetrics)
    keys = samples.keys
    if any(not _parses(k) for k in keys):  # what the scrape loop does on such a key
        samples = read_strictly(body, openmetrics)
    assert (samples.keys, samples.values) == (full.keys, full.values)


def _parses(key: str) -> bool:
    try:
        parse_series(key)
    except ParseError:
        return False
    return True
