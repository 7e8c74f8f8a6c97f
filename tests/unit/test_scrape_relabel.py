"""Relabelling, one action at a time, with the outcomes Prometheus's documentation gives (the same
steps are run through the real prometheus binary in tests/integration/test_scrape_prometheus.py)."""

from __future__ import annotations

import pytest

from engine.scrape.config import relabel_configs
from engine.scrape.relabel import hashmod, process
from engine.scrape.target import merge_target_labels


def run(labels: dict[str, str], *steps: dict) -> dict[str, str] | None:
    return process(dict(labels), relabel_configs(list(steps), "relabel_configs"))


def test_replace_defaults_copy_joined_sources_and_expand_groups():
    lb = {"a": "x", "b": "y"}
    assert run(lb, {"source_labels": ["a", "b"], "target_label": "c"}) == {"a": "x", "b": "y", "c": "x;y"}
    assert run(lb, {"source_labels": ["a", "b"], "separator": "-", "regex": "(.)-(.)", "target_label": "c_$2",
                    "replacement": "${2}_$1"}) == {"a": "x", "b": "y", "c_y": "y_x"}


def test_replace_regex_is_anchored_and_no_match_changes_nothing():
    assert run({"a": "xyz"}, {"source_labels": ["a"], "regex": "y", "target_label": "c"}) == {"a": "xyz"}


def test_replace_with_empty_result_deletes_the_target_label():
    assert run({"a": "x", "c": "old"}, {"source_labels": ["missing"], "target_label": "c"}) == {"a": "x"}


def test_replace_to_an_invalid_expanded_name_deletes_the_template_label():
    lb = {"a": "1x", "$1": "unused"}
    assert run(lb, {"source_labels": ["a"], "regex": "(.*)", "target_label": "$1"}) == {"a": "1x"}


def test_keep_and_drop_match_the_joined_value():
    lb = {"__name__": "up", "job": "api"}
    assert run(lb, {"action": "keep", "source_labels": ["job"], "regex": "api|db"}) == lb
    assert run(lb, {"action": "keep", "source_labels": ["job"], "regex": "db"}) is None
    assert run(lb, {"action": "drop", "source_labels": ["__name__", "job"], "regex": "up;api"}) is None
    assert run(lb, {"action": "drop", "source_labels": ["job"], "regex": "a"}) == lb


def test_keep_with_missing_source_matches_empty_string():
    assert run({"a": "x"}, {"action": "keep", "source_labels": ["nope"], "regex": ""}) == {"a": "x"}


def test_labelmap_copies_matching_names_with_replacement():
    lb = {"__meta_kubernetes_pod_label_app": "web", "__meta_other": "z", "job": "j"}
    out = run(lb, {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"})
    assert out == {**lb, "app": "web"}


def test_labeldrop_and_labelkeep_act_on_names():
    lb = {"__name__": "m", "pod": "p", "pod_ip": "1", "job": "j"}
    assert run(lb, {"action": "labeldrop", "regex": "pod.*"}) == {"__name__": "m", "job": "j"}
    assert run(lb, {"action": "labelkeep", "regex": "__name__|job"}) == {"__name__": "m", "job": "j"}


def test_hashmod_takes_md5_low_64_bits():
    # md5("a") = 0cc175b9c0f1b6a8 31c399e269772661: the low 8 bytes, big-endian, mod 1000
    assert hashmod("a", 1000) == 0x31C399E269772661 % 1000
    out = run({"__address__": "a"}, {"action": "hashmod", "source_labels": ["__address__"], "modulus": 1000,
                                     "target_label": "shard"})
    assert out == {"__address__": "a", "shard": str(0x31C399E269772661 % 1000)}


def test_case_and_equality_actions():
    lb = {"a": "MiXed", "b": "MiXed"}
    assert run(lb, {"action": "lowercase", "source_labels": ["a"], "target_label": "c"})["c"] == "mixed"
    assert run(lb, {"action": "uppercase", "source_labels": ["a"], "target_label": "c"})["c"] == "MIXED"
    assert run(lb, {"action": "keepequal", "source_labels": ["a"], "target_label": "b"}) == lb
    assert run(lb, {"action": "dropequal", "source_labels": ["a"], "target_label": "b"}) is None


@pytest.mark.parametrize(("honor", "expected"), [
    (False, {"__name__": "m", "job": "target", "exported_job": "scraped", "instance": "i"}),
    (True, {"__name__": "m", "job": "scraped", "instance": "i"}),
])
def test_target_labels_win_unless_honor_labels(honor, expected):
    assert merge_target_labels({"__name__": "m", "job": "scraped"}, {"job": "target", "instance": "i"},
                               honor) == expected


def test_clash_with_an_existing_exported_label_prefixes_again():
    out = merge_target_labels({"job": "s", "exported_job": "e"}, {"job": "t"}, False)
    assert out == {"job": "t", "exported_job": "e", "exported_exported_job": "s"}
