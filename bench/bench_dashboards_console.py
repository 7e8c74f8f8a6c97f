"""The console's Dashboards screen drawing the System dashboard at 120x40, in a real pseudo-terminal.

As bench_console.py does (its Terminal and environment): the console starts against its embedded
server on a fresh data dir at the default 5 s collection interval. Once the Overview is live we
press 0, wait for the dashboard list, pick System (the last entry: end, enter) and time the first
frame after opening it: the panels on screen answered (the CPU-by-mode and Memory legends and the
Filesystems table's header are drawn, which needs their queries back). Then, for BENCH_CONSOLE_SECONDS (60) with the
dashboard open (its own 30 s refresh, so two refresh rounds of every panel on screen), we count
the bytes written to the terminal and the CPU of the whole process (console, engine, server and
the panel queries it answers).

Targets (as the other screens): <= 1.5 KB/s at 120x40; CPU <= 3 % of one core.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import termios
import time

import psutil
from bench_console import ROOT, SECONDS, Terminal, environment

SETTLE_S = 6.0


def wait_until(term: Terminal, words: tuple[str, ...], what: str, limit: float = 30.0) -> float:
    """Seconds until every word has been on screen (each may come in a different partial update;
    the terminal keeps only a tail of its text, so words seen are remembered)."""
    start = time.perf_counter()
    missing = set(words)
    while time.perf_counter() - start < limit:
        missing = {w for w in missing if not term.shows(w)}
        if not missing:
            return time.perf_counter() - start
        time.sleep(0.005)
    with term.lock:
        tail = term.text[-2000:].decode(errors="replace")
    raise SystemExit(f"no {what} within {limit} s; the terminal's last text: {tail!r}")


def run(columns: int, rows: int, pycache: str) -> dict:
    term = Terminal(columns, rows)
    with tempfile.TemporaryDirectory() as data_dir:
        env = environment(data_dir, pycache)
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main([]))"],
            stdin=term.slave, stdout=term.slave, stderr=term.slave, env=env, cwd=data_dir,
            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(term.slave)
        p = psutil.Process(proc.pid)
        try:
            wait_until(term, ("live", "swap", "mounts"), "live Overview")
            time.sleep(SETTLE_S)  # a few collections: the dashboard has something to draw
            os.write(term.master, b"0")
            wait_until(term, ("Application Performance", "enter opens"), "dashboard list")
            with term.lock:
                term.text = b""
            cpu0 = sum(p.cpu_times()[:2])
            os.write(term.master, b"\x1b[F")  # end: the last entry, System
            time.sleep(0.3)
            os.write(term.master, b"\r")
            first_frame = wait_until(term, ("● idle", "● used", "mountpoint"), "System dashboard frame")
            first_frame_cpu = sum(p.cpu_times()[:2]) - cpu0
            time.sleep(SETTLE_S)
            bytes0, cpu0, t0 = term.bytes, sum(p.cpu_times()[:2]), time.perf_counter()
            time.sleep(SECONDS)
            elapsed = time.perf_counter() - t0
            out = {"first_frame_s": round(first_frame, 3), "first_frame_cpu_s": round(first_frame_cpu, 3),
                   "bytes_per_s": round((term.bytes - bytes0) / elapsed, 1),
                   "cpu_percent_of_one_core": round(100 * (sum(p.cpu_times()[:2]) - cpu0) / elapsed, 2),
                   "rss_mb": round(p.memory_info().rss / 2**20, 1)}
            os.write(term.master, b"q")
            out["exit_code"] = proc.wait(30)
            return out
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(term.master)


def main() -> None:
    with tempfile.TemporaryDirectory() as pycache:
        subprocess.run([sys.executable, "-c", "import console.app, console.embedded"], check=True,
                       env=environment(pycache, pycache), cwd=ROOT)
        wide = run(120, 40, pycache)
    print(json.dumps({
        "benchmark": "dashboards_console",
        "dashboard": "System",
        "seconds": SECONDS,
        "first_frame_s": wide["first_frame_s"],
        "first_frame_cpu_s": wide["first_frame_cpu_s"],
        "bytes_per_s_120x40": wide["bytes_per_s"],
        "cpu_percent_of_one_core": wide["cpu_percent_of_one_core"],
        "rss_mb": wide["rss_mb"],
        "exit_code": wide["exit_code"],
        "target_bytes_per_s_120x40": 1500,
        "target_cpu_percent": 3,
    }))


if __name__ == "__main__":
    main()
