"""Keeping what the data dir holds safe: one owner at a time, damaged files refused, a full disk noticed.

- ``DataDirLock``: an exclusive ``flock`` on ``DATA_DIR/lock``, so two servers never write the same
  files. The kernel drops the lock when the process dies (even by SIGKILL); the file's JSON (pid,
  url, start time) only tells a second process who holds it.
- ``open_sqlite``: the one way our SQLite files are opened: a file that exists but is empty or fails
  ``PRAGMA quick_check`` is refused (``DamagedFileError``) instead of starting as if empty; with
  ``repair`` it is moved aside (``NAME.damaged-<time>``) and a new one is started, loudly;
  ``open_database`` adds WAL and a schema for the small databases.
- ``DiskHealth``: whether writes fail for lack of space, logged once when it starts and once when it
  ends, for readiness and for the flush retry loop.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from engine.tsdb.backend import StoreError

log = logging.getLogger(__name__)

LOCK_FILE = "lock"
FREE_MARGIN_BYTES = 1 << 20
"""Free space a full disk must get back before writes count as recovered (SQLite can still write a
small transaction into journal space it already holds while the disk has no byte left)."""
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DataDirBusy(StoreError):
    """Another live process holds the data dir; ``holder`` is what it wrote in the lock file."""

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


class DamagedFileError(StoreError):
    """A data file exists but cannot be trusted; the message names it and says what to do."""


class StorageFullError(StoreError):
    """A write failed because the disk (or the quota) is full; the API answers 507."""


# -- one owner ---------------------------------------------------------------------------------------


class DataDirLock:
    """Held from ``acquire()`` to ``release()``; ``announce(url)`` tells others where we serve."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise DataDirBusy naming the holder (StoreError if the dir is unusable)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"data directory {self.path.parent} cannot be used: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _read_holder(self.path)
            raise DataDirBusy(f"data dir {self.path.parent} is in use by {describe_holder(holder)}",
                              holder) from None
        self._fd = fd
        self._write({"pid": os.getpid(), "url": None, "started": time.time()})

    def announce(self, url: str) -> None:
        """Record the address we serve on, for a second server's message and a second console."""
        self._write({"pid": os.getpid(), "url": url, "started": time.time()})

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # what a later reader finds is "nobody", not a dead pid
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def _write(self, holder: dict[str, Any]) -> None:
        assert self._fd is not None
        data = json.dumps(holder).encode()
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
        except OSError as exc:  # only information for others: never a reason not to start
            log.warning("cannot write the data dir lock file", extra={"fields": {"path": str(self.path),
                                                                                   "error": exc.strerror}})


def describe_holder(holder: dict[str, Any]) -> str:
    pid = holder.get("pid", "?")
    url = holder.get("url")
    return f"pid {pid} serving {url}" if url else f"pid {pid} (starting, not listening yet)"


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


# -- damaged files -----------------------------------------------------------------------------------


def open_sqlite(path: Path, what: str, repair: bool) -> sqlite3.Connection:
    """A connection to ``path`` after checking the file (absent: created; empty or damaged: refused).

    ``what`` names the file's role in messages ("metrics database"). With ``repair`` a damaged file
    is moved aside and a new one is created in its place.
    """
    existed = path.exists()
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    problem = _damage(path, conn) if existed else None
    if problem is None:
        return conn
    conn.close()
    if not repair:
        raise DamagedFileError(f"{path} is not a valid {what} ({problem}): restore it from a backup, or "
                               f"start with 'metrics-service serve --repair' to move it aside and start anew")
    aside = move_aside(path)
    log.warning("damaged file moved aside, starting a new one", extra={"fields": {
        "file": str(path), "moved_to": str(aside), "problem": problem}})
    return sqlite3.connect(path, check_same_thread=False, isolation_level=None)


def open_database(path: Path, what: str, schema: str, repair: bool, *,
                  synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> sqlite3.Connection:
    """One of our small WAL databases (alerts, health history, notifications outbox): its directory
    created, the file checked (``open_sqlite``), its ``schema`` applied; a file that cannot be used
    raises StoreError naming ``path`` and ``what`` ("alert database"). ``synchronous=FULL`` where a
    commit must survive a power loss (what the outbox promises a receiver)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = open_sqlite(path, what, repair)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.executescript(schema)
    except (OSError, sqlite3.DatabaseError) as exc:
        raise StoreError(f"{path} cannot be used as the {what}: {exc}") from None
    return conn


def _damage(path: Path, conn: sqlite3.Connection) -> str | None:
    """Why an existing SQLite file cannot be trusted, or None (quick_check reads every page once)."""
    if path.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if rows == ["ok"] else "; ".join(rows)


def move_aside(path: Path) -> Path:
    """Rename a file and its SQLite journals to ``NAME.damaged-<UTC time>``; returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("-wal", "-shm", ""):  # a stale journal must never be replayed into the new file
        src = path.with_name(path.name + suffix)
        if src.exists():
            os.replace(src, aside.with_name(aside.name + suffix))
    return aside


# -- full disk ---------------------------------------------------------------------------------------


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, or SQLite's SQLITE_FULL ("database or disk is full")."""
    if isinstance(exc, OSError):
        return exc.errno in _DISK_FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return False


def raise_if_disk_full(exc: BaseException, path: Path | str) -> None:
    """Turn a full-disk failure into StorageFullError (the caller re-raises anything else)."""
    if is_disk_full(exc):
        raise StorageFullError(f"disk full: cannot write {path} ({exc})") from exc


@contextmanager
def transaction(conn: sqlite3.Connection, path: Path | str) -> Iterator[sqlite3.Connection]:
    """``BEGIN`` … ``COMMIT``: on any failure the transaction is rolled back (unless SQLite already
    did, as after SQLITE_FULL) and a full disk is raised as StorageFullError naming ``path``."""
    conn.execute("BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise_if_disk_full(exc, path)
        raise


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a temporary file, fsync it, rename it over ``path`` and fsync the directory, so a crash
    leaves the old file or the new one, never half of one. A full disk raises StorageFullError and
    leaves no temporary file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise_if_disk_full(exc, path)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def free_bytes(directory: Path) -> int | None:
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


class DiskHealth:
    """The data dir's writability as the flush loop sees it: one log line when writes start failing for
    lack of space, one when they work again (never one per attempt)."""

    def __init__(self, directory: Path, free: Callable[[Path], int | None] = free_bytes) -> None:
        self.directory = directory
        self.problem: str | None = None
        self.since: float | None = None
        self._free = free
        self._dropped_before = 0
        self._dropping = False

    def failed(self, error: StorageFullError, pending_samples: int, dropped_samples: int) -> None:
        """A flush failed for lack of space (the store keeps ``pending_samples`` in memory)."""
        if self.problem is None:
            self.since = time.time()
            self._dropped_before = dropped_samples
            log.error("disk full: writes fail, samples are kept in memory and retried", extra={"fields": {
                "data_dir": str(self.directory), "error": str(error), "pending_samples": pending_samples}})
        elif dropped_samples > self._dropped_before and not self._dropping:
            log.error("disk full for longer than HEAD_RETENTION: the oldest samples are dropped", extra={
                "fields": {"data_dir": str(self.directory), "dropped_samples": dropped_samples}})
        self._dropping = dropped_samples > self._dropped_before
        self.problem = str(error)

    def succeeded(self) -> None:
        """A write went through; recovered only once there is room again (see FREE_MARGIN_BYTES)."""
        if self.problem is None:
            return
        free = self._free(self.directory)
        if free is not None and free < FREE_MARGIN_BYTES:
            return
        log.info("disk writable again, pending samples written", extra={"fields": {
            "data_dir": str(self.directory), "failing_for_s": round(time.time() - (self.since or 0.0), 1)}})
        self.problem = None
        self.since = None
        self._dropping = False
