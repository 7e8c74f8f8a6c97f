"""deploy/systemd/metrics-service.service: its ExecStart is the CLI's serve, its sandbox as documented,
and ``systemd-analyze verify`` finds nothing to say (with ExecStart pointed at this installation)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import build_parser
from console.commands import serve
from tests.deploy.files import DEPLOY, SETTING_NAMES

UNIT = DEPLOY / "systemd" / "metrics-service.service"


def service_section() -> dict[str, list[str]]:
    """[Service] as {key: every value given} (a key may repeat, as SystemCallFilter does)."""
    values: dict[str, list[str]] = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_exec_start_is_the_serve_command_on_the_state_directory():
    service = service_section()
    argv = shlex.split(service["ExecStart"][0])
    assert Path(argv[0]).name == "metrics-service"
    args = build_parser().parse_args(argv[1:])
    assert args.func is serve.run
    assert args.data_dir == f"/var/lib/{service['StateDirectory'][0]}" == service["WorkingDirectory"][0]
    for assignment in service["Environment"]:
        assert assignment.partition("=")[0] in SETTING_NAMES


def test_the_unit_is_sandboxed():
    service = service_section()
    expected = {"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                "NoNewPrivileges": "yes", "CapabilityBoundingSet": ""}
    assert {k: service[k][0] for k in expected} == expected


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package 'systemd')")
    entry_point = Path(sys.executable).parent / "metrics-service"
    if not entry_point.exists():
        pytest.skip(f"{entry_point} is not installed (pip install -e .)")
    installed = shlex.split(service_section()["ExecStart"][0])[0]
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(f"ExecStart={installed}", f"ExecStart={entry_point}"))
    check = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and not check.stderr.strip(), check.stderr
    typo = tmp_path / "typo.service"
    typo.write_text(unit.read_text().replace("StateDirectory=", "StateDirectry="))
    bad = subprocess.run([analyze, "verify", str(typo)], capture_output=True, text=True, timeout=120)
    assert "StateDirectry" in bad.stderr, "verify must report unknown keys for the check above to mean anything"
