"""The Dockerfile against the source tree, the settings and the CLI; its health check against a real server.

No image is built here (images cannot be pulled on these machines): what the build copies, the
environment, the user, the volume, the entry point and the health check command are each checked
against what the server and the CLI actually read, and the health check and the missing-credentials
start-up error run for real.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import tomllib

from console.cli import build_parser
from console.commands import serve
from engine.dashboards import BUILTIN_DASHBOARDS
from engine.engine import DEFAULT_RULES
from engine.settings import load_settings
from tests.deploy.files import ROOT, SETTING_NAMES, container_env, dockerfile, start_server, wait_live

PROCESS_ENV = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "HOME"}
SECRET = "x" * 32


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's patterns leave ``path`` (relative, '/'-separated) out of the context."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if any(fnmatch.fnmatchcase(p, pattern) for p in prefixes):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatchcase(part, bare) for part in parts):
            return True
    return False


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def runtime_env() -> dict[str, str]:
    return dockerfile()[-1].env()


def copied_sources() -> list[str]:
    sources = []
    for rest in dockerfile()[0].all("COPY"):
        sources += rest.split()[:-1]
    return sources


def test_the_build_copies_what_the_package_and_the_engine_need_and_the_context_holds_it():
    sources = copied_sources()
    patterns = dockerignore()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    needed = ["pyproject.toml", project["project"]["readme"], *packages,
              DEFAULT_RULES.relative_to(ROOT).as_posix(), BUILTIN_DASHBOARDS.relative_to(ROOT).as_posix()]
    assert set(needed) <= set(sources), set(needed) - set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the build context"
        assert not ignored(source, patterns), f"COPY {source} is left out by .dockerignore"
        files = [source] if (ROOT / source).is_file() else [
            p.relative_to(ROOT).as_posix() for p in (ROOT / source).rglob("*") if p.is_file()]
        kept = [f for f in files if not ignored(f, patterns)]
        assert all(f.endswith(".pyc") for f in set(files) - set(kept))
        assert kept, f"COPY {source}: everything in it is ignored"
    for heavy in (".git", ".venv", "tests", "bench"):
        assert ignored(heavy, patterns), f"{heavy} would be sent to the build context"


def test_the_images_environment_is_settings_the_server_reads_and_agrees_with_port_volume_and_user():
    stage = dockerfile()[-1]
    env = runtime_env()
    assert set(env) - PROCESS_ENV <= SETTING_NAMES, set(env) - PROCESS_ENV - SETTING_NAMES
    settings = load_settings(env={k: v for k, v in env.items() if k in SETTING_NAMES} | {"JWT_SECRET": SECRET},
                             dotenv_path=None)
    assert settings.host == "0.0.0.0"
    assert stage.one("EXPOSE") == str(settings.port)
    assert stage.exec_form("VOLUME") == [str(settings.data_dir)]
    assert stage.one("WORKDIR") == env["HOME"] == str(settings.data_dir)
    uid, _, gid = stage.one("USER").partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    setup = " ".join(stage.all("RUN"))
    assert f"--uid {uid}" in setup and f"-o {uid}" in setup and str(settings.data_dir) in setup
    base = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-slim", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and stage.base == dockerfile()[0].base == "${PYTHON_IMAGE}", "both stages on one slim Python"
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, base[1].split("."))) >= tuple(map(int, required.split(".")))


def test_the_entrypoint_is_the_clis_serve_command():
    argv = dockerfile()[-1].exec_form("ENTRYPOINT")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert argv[0] in scripts and scripts[argv[0]] == "console.cli:main"
    assert build_parser().parse_args(argv[1:]).func is serve.run


def healthcheck() -> tuple[list[str], float]:
    """The HEALTHCHECK's command and its --timeout in seconds."""
    rest = dockerfile()[-1].one("HEALTHCHECK")
    options, _, command = rest.partition("CMD ")
    timeout = re.search(r"--timeout=(\d+)s", options)
    assert timeout, "HEALTHCHECK needs a --timeout"
    argv = json.loads(command)
    assert argv[0] == "python", "slim images have no curl: the check runs the image's Python"
    return [sys.executable, *argv[1:]], float(timeout[1])


def test_the_container_refuses_to_start_without_credentials_and_says_which_setting(tmp_path):
    env = container_env(tmp_path)
    for name in ("JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL", "API_KEYS_FILE", "AUTH_ENABLED"):
        env.pop(name, None)
    proc = start_server(env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "AUTH_ENABLED" in err and "Traceback" not in err, err


def test_the_health_check_passes_on_a_live_server_and_fails_without_one(tmp_path):
    command, timeout = healthcheck()
    env = container_env(tmp_path, JWT_SECRET=SECRET)
    proc = start_server(env)
    try:
        wait_live(proc, env)
        ok = subprocess.run(command, env=env, capture_output=True, timeout=60)
        assert ok.returncode == 0, ok.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    down = subprocess.run(command, env=env, capture_output=True, timeout=timeout + 60)
    assert down.returncode != 0
