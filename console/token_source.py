"""The token the console sends to a server with authentication on: ``--token``, else
``$METRICS_SERVICE_TOKEN``, else the file ``$XDG_CONFIG_HOME/metrics-service/token``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

TOKEN_ENV = "METRICS_SERVICE_TOKEN"
MAX_TOKEN_BYTES = 8192
_TOKEN_RE = re.compile(r"[\x21-\x7e]+", re.ASCII)
"""Printable ASCII without spaces: what fits in ``Authorization: Bearer ...``."""


def token_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/metrics-service/token`` (``~/.config`` when unset or relative)."""
    xdg = (os.environ if env is None else env).get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"
    return base / "metrics-service" / "token"


def find_token(given: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The first token found, or None; ValueError naming the source of one that cannot be a token."""
    env = os.environ if env is None else env
    if given is not None:
        return _checked(given, "--token")
    if env.get(TOKEN_ENV):
        return _checked(env[TOKEN_ENV], TOKEN_ENV)
    return read_token_file(token_path(env))


def token_file_in_use(given: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The token file when it is where the token comes from (no ``--token``, no ``$METRICS_SERVICE_TOKEN``):
    the console reads it again after a refusal, so a token renewed there is taken without a restart."""
    env = os.environ if env is None else env
    return None if given is not None or env.get(TOKEN_ENV) else token_path(env)


def read_token_file(path: Path) -> str | None:
    """The token in ``path``, None when there is no such file; ValueError when it holds no token."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TOKEN_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    return _checked(data.decode("ascii", "replace"), str(path))


def _checked(text: str, source: str) -> str:
    token = text.strip()
    if len(token) > MAX_TOKEN_BYTES or not _TOKEN_RE.fullmatch(token):
        raise ValueError(f"{source}: not a token (expected one line of printable ASCII, at most "
                         f"{MAX_TOKEN_BYTES} bytes)")
    return token
