"""The deployment files as data, for tests that hold them to what the server and the CLI really read."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from engine.settings import CONFIG_ENV, FIELD_NAMES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTING_NAMES = frozenset(name.upper() for name in FIELD_NAMES) | {CONFIG_ENV}
"""Every environment variable the server reads: Settings' fields and the config file's path."""
CLI = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]

    def one(self, keyword: str) -> str:
        found = self.all(keyword)
        assert len(found) == 1, f"{keyword}: expected once, found {found}"
        return found[0]

    def env(self) -> dict[str, str]:
        """ENV KEY=VALUE pairs (the ``$PATH`` in a value is left as written)."""
        pairs: dict[str, str] = {}
        for rest in self.all("ENV"):
            for item in shlex.split(rest):
                key, sep, value = item.partition("=")
                assert sep, f"ENV {rest!r}: only the KEY=VALUE form is used"
                pairs[key] = value
        return pairs

    def exec_form(self, keyword: str) -> list[str]:
        return json.loads(self.one(keyword))


def dockerfile() -> list[Stage]:
    """The Dockerfile's stages, each with its (KEYWORD, rest) instructions, continuations joined."""
    stages: list[Stage] = []
    logical = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, rest = logical.partition(" ")
        logical = ""
        if keyword.upper() == "FROM":
            stages.append(Stage(rest.split()[0]))
        elif stages:
            stages[-1].instructions.append((keyword.upper(), rest.strip()))
    return stages


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def replica_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run our image (``build: .``)."""
    return {name: svc for name, svc in spec["services"].items() if svc.get("build") == "."}


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """{container path: host path} of a compose service's bind mounts (``./x:/y[:ro]``)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def container_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The image's settings on this machine: its own data dir and a free port."""
    settings = {k: v for k, v in dockerfile()[-1].env().items() if k in SETTING_NAMES}
    return {**os.environ, "PYTHONPATH": str(ROOT), **settings, "DATA_DIR": str(tmp_path),
            "PORT": str(free_port()), **extra}


def start_server(env: dict[str, str]) -> subprocess.Popen:
    """The image's entry point (``metrics-service serve``) as a real process."""
    return subprocess.Popen([*CLI, *dockerfile()[-1].exec_form("ENTRYPOINT")[1:]], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_live(proc: subprocess.Popen, env: dict[str, str]) -> None:
    """Until the server answers /livez (generous: a loaded 2-core machine); fails if it exits."""
    for _ in range(1200):
        try:
            if httpx.get(f"http://127.0.0.1:{env['PORT']}/livez", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "the server exited"
            time.sleep(0.1)
    pytest.fail("the server did not answer /livez")
