"""The host's top processes by CPU and by memory, read only when someone asks (the Processes view,
/api/metrics/processes, an alert that fires) — never on the collection schedule for its own sake.

Reading every process is the costly part of a monitor (Glances' top complaint), so one pass reads
only what sorting needs (on Linux one ``/proc/PID/stat`` read per process: CPU ticks, RSS, start
time), at most ``MAX_PROCESSES`` of them; the user and command line are read for the rows that make
the top only. Blocking: callers run it in a worker thread.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

MAX_PROCESSES = 20_000
"""A pass stops after this many processes: its time and memory stay bounded on any host."""
MAX_COMMAND_CHARS = 200
SORTS = ("cpu", "memory")
ALERT_TOP = 5
"""Processes kept with an alert that fires: the top five by CPU and by memory."""

_LINUX = sys.platform.startswith("linux")
if _LINUX:
    import pwd
_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, IndexError, psutil.Error)


@dataclass(frozen=True, slots=True)
class ProcessRow:
    pid: int
    user: str
    cpu_percent: float | None
    """Of one core, since the previous reading (since the process started on the first one), as top shows it."""
    rss_bytes: int
    command: str
    name: str
    """The program's name as the kernel has it (``comm``, at most 15 characters)."""

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "user": self.user, "cpu_percent": self.cpu_percent, "rss_bytes": self.rss_bytes,
                "command": self.command, "name": self.name}


ProcessSource = Callable[[int], tuple[int, list[ProcessRow]]]
"""``source(n)``: how many processes there are, and rows holding at least the top ``n`` by CPU and the
top ``n`` by memory (more rows are allowed)."""


def _cpu_key(row: ProcessRow) -> tuple[float, int]:
    return (-(row.cpu_percent or 0.0), row.pid)


def _memory_key(row: ProcessRow) -> tuple[float, int]:
    return (-row.rss_bytes, row.pid)


SORT_KEYS: dict[str, Callable[[ProcessRow], tuple[float, int]]] = {"cpu": _cpu_key, "memory": _memory_key}


class HostProcesses:
    """The ``ProcessSource`` of this host. CPU % is measured between two of its readings, so it keeps
    the previous reading's CPU time per process (bounded by ``MAX_PROCESSES``); thread-safe."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._previous: dict[tuple[int, float], float] = {}
        self._previous_at: float | None = None
        self._users: dict[int, str] = {}
        self._known: dict[tuple[int, float], tuple[str, str, str]] = {}
        """The user, command line and name of the processes in the last top: read once per process."""
        self._tick = os.sysconf("SC_CLK_TCK") if _LINUX else 100
        self._page = os.sysconf("SC_PAGE_SIZE") if _LINUX else 4096
        self._boot = psutil.boot_time()

    def __call__(self, n: int) -> tuple[int, list[ProcessRow]]:
        with self._lock:
            return self._read(n)

    def _read(self, n: int) -> tuple[int, list[ProcessRow]]:
        now = self._now()
        wall = time.time()
        # (pid, start time) -> (cpu seconds, rss bytes)
        current = self._scan_proc() if _LINUX else self._scan_psutil()
        previous, since = self._previous, self._previous_at
        self._previous = {key: cpu for key, (cpu, _) in current.items()}
        self._previous_at = now
        percent: dict[tuple[int, float], float | None] = {}
        for key, (cpu, _) in current.items():
            before = previous.get(key)
            if before is not None and since is not None and now > since:
                percent[key] = round(100.0 * max(0.0, cpu - before) / (now - since), 1)
            else:
                lived = wall - key[1]
                percent[key] = round(100.0 * cpu / lived, 1) if lived > 0 else None
        top: set[tuple[int, float]] = set()
        top.update(sorted(current, key=lambda k: (-(percent[k] or 0.0), k[0]))[:n])
        top.update(sorted(current, key=lambda k: (-current[k][1], k[0]))[:n])
        rows = []
        known, self._known = self._known, {}
        for key in top:
            details = self._known[key] = known.get(key) or self._details(key[0])
            rows.append(ProcessRow(key[0], *details[:1], percent[key], current[key][1], *details[1:]))
        return len(current), rows

    def _scan_proc(self) -> dict[tuple[int, float], tuple[float, int]]:
        """One read of /proc/PID/stat per process: utime+stime, start time and RSS."""
        out: dict[tuple[int, float], tuple[float, int]] = {}
        with os.scandir("/proc") as entries:
            for entry in entries:
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/stat", "rb") as f:
                        stat = f.read()
                    fields = stat[stat.rindex(b")") + 2:].split()
                    started = self._boot + int(fields[19]) / self._tick
                    out[(int(entry.name), started)] = ((int(fields[11]) + int(fields[12])) / self._tick,
                                                       int(fields[21]) * self._page)
                except _ERRORS:
                    continue  # gone, or not ours to read
                if len(out) >= MAX_PROCESSES:
                    break
        return out

    @staticmethod
    def _scan_psutil() -> dict[tuple[int, float], tuple[float, int]]:
        out: dict[tuple[int, float], tuple[float, int]] = {}
        for proc in psutil.process_iter(["cpu_times", "memory_info", "create_time"]):
            info = proc.info
            if info["cpu_times"] is None or info["memory_info"] is None or info["create_time"] is None:
                continue
            out[(proc.pid, info["create_time"])] = (info["cpu_times"].user + info["cpu_times"].system,
                                                    info["memory_info"].rss)
            if len(out) >= MAX_PROCESSES:
                break
        return out

    def _details(self, pid: int) -> tuple[str, str, str]:
        """The user, command line and name of one process ("?" for what the OS does not tell)."""
        if _LINUX:
            try:
                return self._details_proc(pid)
            except _ERRORS:
                return "?", "?", "?"
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                uid = proc.uids().real if hasattr(proc, "uids") else None
                user = self._users.get(uid) if uid is not None else None
                if user is None:
                    user = proc.username()
                    if uid is not None and len(self._users) < MAX_PROCESSES:
                        self._users[uid] = user
                argv = proc.cmdline()
                name = proc.name()
                command = " ".join(argv) if argv else f"[{name}]"  # kernel threads, as ps shows them
        except _ERRORS:
            return "?", "?", "?"
        return user, command[:MAX_COMMAND_CHARS], name[:MAX_COMMAND_CHARS]


    def _details_proc(self, pid: int) -> tuple[str, str, str]:
        """Linux: three small reads, not psutil's dozen (this runs for each process new in the top)."""
        base = f"/proc/{pid}"
        uid = os.stat(base).st_uid
        user = self._users.get(uid)
        if user is None:
            try:
                user = pwd.getpwuid(uid).pw_name
            except KeyError:
                user = str(uid)
            if len(self._users) < MAX_PROCESSES:
                self._users[uid] = user
        with open(f"{base}/comm", "rb") as f:
            name = f.read(64).decode(errors="replace").strip()
        with open(f"{base}/cmdline", "rb") as f:
            argv = f.read(4 * MAX_COMMAND_CHARS).rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
        return user, (argv or f"[{name}]")[:MAX_COMMAND_CHARS], name  # [name]: kernel threads, as ps shows them


class ProcessTable:
    """Top-N answers over a ``ProcessSource`` (this host's unless one is given)."""

    def __init__(self, source: ProcessSource | None = None) -> None:
        self.source: ProcessSource = source or HostProcesses()

    def top(self, sort: str, limit: int) -> dict[str, Any]:
        """The ``limit`` processes first by ``sort`` (cpu or memory), and how many there are."""
        total, rows = self.source(limit)
        ordered = sorted(rows, key=SORT_KEYS[sort])[:limit]
        return {"sort": sort, "total": total, "processes": [r.to_json() for r in ordered]}

    def both(self, limit: int) -> dict[str, Any]:
        """The top ``limit`` by CPU and the top ``limit`` by memory in one list (CPU order): what the
        console sorts and filters locally, and what an alert keeps."""
        total, rows = self.source(limit)
        keep = {r.pid: r for r in sorted(rows, key=_memory_key)[:limit]}
        keep.update({r.pid: r for r in sorted(rows, key=_cpu_key)[:limit]})
        return {"total": total, "processes": [r.to_json() for r in sorted(keep.values(), key=_cpu_key)]}
