"""Where targets come from: ``static_configs`` and ``file_sd_configs`` (JSON or YAML files of target
groups, as Prometheus's file SD reads them). Files are watched by polling their mtimes and sizes;
a file that stops parsing keeps the targets it last gave (Prometheus does the same) and its error
is kept for the log and the API.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from dataclasses import dataclass, field

import yaml

from engine.scrape.config import ConfigError, FileSDConfig, TargetGroup, target_group

log = logging.getLogger(__name__)

MAX_SD_FILE_BYTES = 16 << 20


@dataclass
class FileSD:
    """The target groups of one job's ``file_sd_configs``, re-read when a file changes."""

    configs: tuple[FileSDConfig, ...]
    _stamps: dict[str, tuple[int, int]] = field(default_factory=dict)
    groups: dict[str, list[TargetGroup]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def paths(self) -> list[str]:
        found: set[str] = set()
        for cfg in self.configs:
            for pattern in cfg.files:
                found.update(glob.glob(pattern))
        return sorted(found)

    def refresh(self) -> bool:
        """Re-read files that changed, appeared or went away; True when the groups changed (blocking)."""
        stamps: dict[str, tuple[int, int]] = {}
        for path in self.paths():
            try:
                st = os.stat(path)
            except OSError:
                continue
            stamps[path] = (st.st_mtime_ns, st.st_size)
        if stamps == self._stamps:
            return False
        changed = False
        for path in set(self.groups) - set(stamps):
            del self.groups[path]
            self.errors.pop(path, None)
            changed = True
        for path, stamp in stamps.items():
            if self._stamps.get(path) == stamp:
                continue
            try:
                groups = read_sd_file(path)
            except (OSError, ValueError) as exc:
                self.errors[path] = str(exc)
                log.warning("file_sd file not read; its previous targets stay",
                            extra={"fields": {"path": path, "error": str(exc)}})
                continue
            self.errors.pop(path, None)
            if self.groups.get(path) != groups:
                self.groups[path] = groups
                changed = True
        self._stamps = stamps
        return changed


def read_sd_file(path: str) -> list[TargetGroup]:
    """The target groups of one SD file; ValueError names the bad entry."""
    if os.path.getsize(path) > MAX_SD_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_SD_FILE_BYTES} bytes")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of target groups")
    try:
        return [target_group(g, f"{path}[{i}]", source=path) for i, g in enumerate(data)]
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
