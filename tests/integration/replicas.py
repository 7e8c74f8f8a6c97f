"""Server processes sharing one Redis (REDIS_URL): start them, read their cluster view, await states."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
RULE = "Seen"
RULES = f"""groups:
- name: seen
  interval: 1s
  rules:
  - alert: {RULE}
    expr: vector(1)
    labels: {{severity: warning}}
"""


class Replica:
    """One ``metrics-service serve`` process with its own data dir and port."""

    def __init__(self, tmp_path: Path, name: str, redis_port: int, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        rules = tmp_path / "seen.rules.yaml"
        if not rules.exists():
            rules.write_text(RULES)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / name), "PORT": str(self.port),
                    "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "LEADER_LEASE": "3s",
                    "COLLECTION_INTERVAL": "1", "RULES_FILES": str(rules), "RATE_LIMIT": "off", **env}
        self.proc: subprocess.Popen | None = None
        self.id = ""

    def start(self) -> Replica:
        code = "import sys; from console.cli import main; sys.exit(main(['serve']))"
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            response = await client.get(path)
            response.raise_for_status()
            return response.json()

    async def cluster(self) -> dict[str, Any]:
        view = await self.get("/api/cluster")
        self.id = view["self"]
        return view

    async def firing(self) -> dict[str, Any] | None:
        """The test rule's firing alert as this replica lists it."""
        alerts = (await self.get("/api/alerts"))["alerts"]
        return next((a for a in alerts if a["name"] == RULE and a["state"] == "firing"), None)

    async def last_evaluation(self) -> float | None:
        """When this replica last evaluated the test's rule (Unix seconds), None if never."""
        rules = (await self.get("/api/alerts/rules"))["rules"]
        stamp = next(r["lastEvaluation"] for r in rules if r["name"] == RULE)
        return None if stamp is None else datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def until(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Await ``check()`` (a coroutine function) returning something truthy; servers may be starting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        try:
            last = await check()
            if last:
                return last
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            last = exc
        await asyncio.sleep(0.1)
    pytest.fail(f"{what}: never happened (last seen: {last!r})")
