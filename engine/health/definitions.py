"""The API's checks on disk (DATA_DIR/health/checks.json): rewritten atomically on every change, so a
crash leaves the old file or the new one, never half of one. Their credentials (header values,
passwords in URLs) are secrets: the list is stored encrypted (engine/secretbox.py), as
``{"sealed": "enc:v1:..."}``; a file written before encryption is read and rewritten encrypted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from engine.datadir import write_atomic
from engine.health.model import CheckError, CheckSpec, parse_check
from engine.secretbox import SecretBox

log = logging.getLogger(__name__)
FILE = Path("health") / "checks.json"


class DefinitionFile:
    def __init__(self, data_dir: str | Path, secrets: SecretBox) -> None:
        self.path = Path(data_dir) / FILE
        self.secrets = secrets

    def load(self) -> list[CheckSpec]:
        """The stored checks; one that no longer validates is logged and skipped, never fatal. A file
        the key cannot decrypt raises SecretsKeyError (the next save would otherwise lose it)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("sealed"), str):
                data = json.loads(self.secrets.open(data["sealed"], f"the health checks in {self.path}"))
            elif isinstance(data, dict) and data.get("checks"):
                self._write(data)
                log.info("health check credentials encrypted at rest", extra={"fields": {"path": str(self.path)}})
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
        """Write every API check, secrets included, encrypted."""
        self._write({"checks": [s.record() for s in specs]})

    def _write(self, data: dict) -> None:
        write_atomic(self.path, json.dumps({"sealed": self.secrets.seal(json.dumps(data))}))
