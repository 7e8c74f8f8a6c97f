"""The Engine as the server sees it: complete once built, ``close`` releases everything even after
a failed open, and rule edits are Engine methods (the HTTP layer only parses and shapes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.engine import Engine
from engine.rulefiles.loader import RuleLoadError
from engine.rulefiles.managed import ReadOnlyRuleError, RuleNotFoundError, RuleValidationError
from engine.tsdb.backend import StoreError
from tests.integration.conftest import make_settings

BROKEN = "groups:\n- name: extra\n  rules:\n  - record: job:up:sum\n    expr: sum(up\n"


def open_files_under(directory: Path) -> list[str]:
    """Files of this process open below ``directory`` (sqlite connections, the lock file)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


def test_a_built_engine_has_every_part_and_has_not_touched_the_disk(tmp_path):
    engine = Engine(make_settings(tmp_path), collect_system=False)
    assert engine.ruler is not None and engine.managed_rules is not None
    assert not (tmp_path / "data").exists()  # opening is ``open``'s job, under the data-dir lock
    engine.close()


def test_close_after_a_failed_open_releases_every_file_and_the_lock(tmp_path):
    extra = tmp_path / "extra.rules.yaml"
    extra.write_text(BROKEN)
    settings = make_settings(tmp_path, rules_files=str(extra))
    engine = Engine(settings, collect_system=False)
    with pytest.raises(RuleLoadError):
        engine.open()  # after the lock, the metrics and the alert databases were opened
    assert open_files_under(tmp_path / "data")
    engine.close()
    assert open_files_under(tmp_path / "data") == []
    engine.close()  # twice is harmless

    extra.write_text("groups: []\n")
    again = Engine(settings, collect_system=False)
    again.open()  # the lock was released
    again.close()
    assert open_files_under(tmp_path / "data") == []


def test_close_after_open_fails_on_a_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("not a directory")
    engine = Engine(make_settings(tmp_path), collect_system=False)
    with pytest.raises(StoreError):
        engine.open()
    engine.close()
    assert open_files_under(tmp_path) == []


async def test_rule_edits_through_the_engine(tmp_path):
    engine = Engine(make_settings(tmp_path), collect_system=False)
    engine.open()
    try:
        rule, error = await engine.create_rule({"name": "Hot", "expr": "temp_celsius > 80", "for": "1m"})
        assert error is None and rule["editable"] and engine.rule(rule["id"])["expr"] == "temp_celsius > 80"
        rule, error = await engine.update_rule(rule["id"], {"name": "Hot", "expr": "temp_celsius > 90"})
        assert error is None and engine.rule(rule["id"])["expr"] == "temp_celsius > 90"
        with pytest.raises(RuleValidationError):
            await engine.update_rule(rule["id"], {"name": "Hot", "expr": "sum("})
        from_file = next(r for r in engine.rules() if not r["editable"])
        with pytest.raises(ReadOnlyRuleError) as info:
            await engine.delete_rule(from_file["id"])
        assert info.value.file == from_file["file"]
        assert await engine.delete_rule(rule["id"]) is None
        with pytest.raises(RuleNotFoundError):
            engine.rule(rule["id"])
        with pytest.raises(RuleNotFoundError):
            await engine.delete_rule(rule["id"])
    finally:
        engine.close()
