"""The pushed state on disk: JSON API families and Pushgateway groups, in one file in the data dir.

Pushgateway keeps its groups in memory and saves them to ``--persistence.file`` every
``--persistence.interval``; we do the same every FLUSH_INTERVAL (when something changed) and at
shutdown, so a restart keeps counter totals, histogram buckets and groups as samples are kept.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from engine.ingest.push import PushStore
from engine.ingest.pushgateway import PushGroups

log = logging.getLogger(__name__)

FILE_NAME = "pushed.json"
VERSION = 1


def snapshot(push: PushStore, groups: PushGroups) -> dict[str, Any] | None:
    """The state to save, taken on the loop; None when nothing changed since the last one."""
    if not (push.dirty or groups.dirty):
        return None
    push.dirty = groups.dirty = False
    return {"version": VERSION, "push": push.dump(), "groups": groups.dump()}


def save(data_dir: Path, data: dict[str, Any]) -> None:
    """Write atomically (a crash leaves the previous file); blocking."""
    path = Path(data_dir) / FILE_NAME
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(data_dir: Path, push: PushStore, groups: PushGroups) -> None:
    """Restore the saved state; an unreadable file is moved aside and logged, never fatal."""
    path = Path(data_dir) / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError(f"not a version {VERSION} pushed-state file")
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        aside = path.with_suffix(".bad")
        log.error("pushed state unreadable; moved aside, pushes start empty",
                  extra={"fields": {"path": str(path), "error": str(exc)}})
        os.replace(path, aside)
        return
    push.load(data.get("push") or [])
    groups.load(data.get("groups") or [])
