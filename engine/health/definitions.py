"""The API's checks on disk (DATA_DIR/health/checks.json): rewritten atomically on every change, so a
crash leaves the old file or the new one, never half of one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from engine.datadir import write_atomic
from engine.health.model import CheckError, CheckSpec, parse_check

log = logging.getLogger(__name__)
FILE = Path("health") / "checks.json"


class DefinitionFile:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / FILE

    def load(self) -> list[CheckSpec]:
        """The stored checks; one that no longer validates is logged and skipped, never fatal."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.error("stored health checks unreadable, starting without them",
                      extra={"fields": {"path": str(self.path), "error": str(exc)}})
            return []
        specs = []
        for item in data.get("checks", []) if isinstance(data, dict) else []:
            try:
                specs.append(parse_check(item, "api"))
            except CheckError as exc:
                log.warning("stored health check skipped", extra={"fields": {"path": str(self.path),
                                                                             "error": str(exc)}})
        return specs

    def save(self, specs: list[CheckSpec]) -> None:
        """Write every API check (secrets included: the file is private to the server's user)."""
        write_atomic(self.path, json.dumps({"checks": [s.record() for s in specs]}, indent=1))
