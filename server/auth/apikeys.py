"""API keys for machines (pushers, Prometheus remote write, scrapers): API_KEYS_FILE.

The file is JSON, ``{"keys": [{"name", "role", "sha256", "created"}]}``; only the SHA-256 of each
key is kept (a key is 256 random bits, so a plain hash is enough: nothing to brute-force). Keys look
like ``msk_<43 characters>`` so the server tells them from JWTs. ``metrics-service apikey create``
adds one; a running server sees a changed file (a key added or revoked) within a second.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

from engine.datadir import write_atomic
from engine.tsdb.backend import StoreError
from server.auth.principal import ROLES, Principal

PREFIX = "msk_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)
RELOAD_CHECK_S = 1.0


class ApiKeyError(ValueError):
    """An unusable keys file or a refused new key; the message names the file or the problem."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The file's entries (none when it does not exist yet); ApiKeyError when it is unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ApiKeyError(f"API_KEYS_FILE {path}: cannot be read: {exc}") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        raise ApiKeyError(f'API_KEYS_FILE {path}: expected {{"keys": [...]}}')
    for n, entry in enumerate(keys):
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry.get("role") in ROLES
                and isinstance(entry.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])):
            raise ApiKeyError(f"API_KEYS_FILE {path}: key {n + 1} needs a name, a role ({', '.join(ROLES)}) "
                              "and a sha256")
    return keys


class ApiKeys:
    """The keys of API_KEYS_FILE by hash."""

    def __init__(self, path: Path | None, recheck_s: float = RELOAD_CHECK_S) -> None:
        self.path = path
        self.recheck_s = recheck_s
        self._by_hash: dict[str, Principal] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0

    def load(self) -> None:
        """Read the file (ApiKeyError when it is unusable)."""
        if self.path is None:
            return
        self._stamp = _stamp(self.path)
        self._by_hash = {e["sha256"]: Principal(e["name"], e["role"], "apikey") for e in read_entries(self.path)}

    def __len__(self) -> int:
        return len(self._by_hash)

    def lookup(self, key: str) -> Principal | None:
        """The key's principal. A changed file (a key added or revoked) is read again first, checked
        at most every ``recheck_s``; an unusable one keeps the keys already loaded."""
        if self._changed():
            try:
                self.load()
            except ApiKeyError:
                pass
        return self._by_hash.get(hash_key(key))

    def _changed(self) -> bool:
        now = time.monotonic()
        if self.path is None or now - self._checked < self.recheck_s:
            return False
        self._checked = now
        return _stamp(self.path) != self._stamp


def _stamp(path: Path) -> tuple[int, int] | None:
    """Inode and mtime: every write (``write_atomic`` renames a new file in) changes the inode."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def add_key(path: Path, name: str, role: str, created: str) -> str:
    """Add a key to the file (created 0600 if new) and return it: the only time it is ever shown."""
    if not NAME_RE.fullmatch(name):
        raise ApiKeyError(f"name {name!r}: use 1 to 64 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise ApiKeyError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    entries = read_entries(path)
    if any(e["name"] == name for e in entries):
        raise ApiKeyError(f"a key named {name!r} already exists in {path}")
    key = PREFIX + secrets.token_urlsafe(32)
    _write(path, [*entries, {"name": name, "role": role, "sha256": hash_key(key), "created": created}])
    return key


def remove_key(path: Path, name: str) -> None:
    """Revoke the key called ``name`` (ApiKeyError when there is none)."""
    entries = read_entries(path)
    kept = [e for e in entries if e["name"] != name]
    if len(kept) == len(entries):
        raise ApiKeyError(f"no key named {name!r} in {path}")
    _write(path, kept)


def _write(path: Path, entries: list[dict[str, Any]]) -> None:
    try:
        write_atomic(path, json.dumps({"keys": entries}, indent=2) + "\n", 0o600)
    except (OSError, StoreError) as exc:  # StoreError: a full disk
        raise ApiKeyError(f"API_KEYS_FILE {path}: cannot be written: {getattr(exc, 'strerror', None) or exc}") from None
