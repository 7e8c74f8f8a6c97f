"""The console against its embedded server, in a real pseudo-terminal, as a user would run it.

For each size (120x40, then 80x24) the console starts in a pty with TERM=xterm-256color on a fresh
data dir at the default 5 s collection interval. We count every byte it writes to the terminal
(read from the pty master) and note when the first full frame is on screen: the top bar says
"live" and the panels show figures (the memory meter, the disk usage per mount). After it settles
we measure bytes per second, and CPU and RSS of the whole process (console, engine and server
threads), for BENCH_CONSOLE_SECONDS (60); then press q and check it exits with 0.

``first_frame_cpu_s`` is the CPU time the process had used by the first frame: unlike the
wall-clock figure it does not grow when other work shares the machine.

The measured runs start with compiled bytecode, as every start after a user's first does: a first
run to the first frame (then q) compiles every module the start imports, including those the server
imports only when it opens (this machine sets PYTHONDONTWRITEBYTECODE; the bench keeps the bytecode
in a temporary PYTHONPYCACHEPREFIX). That first run's figures are reported as ``*_first_run``.

A third run at 120x40 opens the Processes view (``2`` then ``P``: the server then reads the
host's processes every collection cycle for the ``processes`` topic) and measures the same way.

Targets: first frame <= 1.5 s; <= 1.5 KB/s at 120x40; CPU <= 3 % of one core; RSS <= 80 MB; the same
bytes and CPU with the Processes view open.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("BENCH_CONSOLE_SECONDS", "60"))
SETTLE_S = 6.0  # past the first collection cycle and the chart history requests
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[PX^_].*?\x1b\\|\x1b\][^\x07]*\x07|\x1b.")


class Terminal:
    """A pty whose master side we drain on a thread, counting bytes and keeping a plain-text tail."""

    def __init__(self, columns: int, rows: int) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.bytes = 0
        self.text = b""
        self.lock = threading.Lock()
        self.closed = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.5)
                if not ready:
                    continue
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            with self.lock:
                self.bytes += len(chunk)
                self.text = (self.text + ANSI.sub(b"", chunk))[-20000:]
        self.closed.set()

    def shows(self, *words: str) -> bool:
        with self.lock:
            return all(w.encode() in self.text for w in words)


def environment(data_dir: str, pycache: str) -> dict[str, str]:
    """A user's environment: 256 colours, no Textual overrides, and compiled bytecode kept between
    runs (this machine sets PYTHONDONTWRITEBYTECODE; the cache goes to a temporary prefix)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TEXTUAL", "COLORTERM", "NO_COLOR", "PYTHONDONTWRITEBYTECODE"))}
    env.update({"TERM": "xterm-256color", "DATA_DIR": data_dir, "PYTHONPATH": str(ROOT),
                "PYTHONPYCACHEPREFIX": pycache})
    return env


def run(columns: int, rows: int, measure: bool, pycache: str, keys: bytes = b"", shown: str = "",
        first_frame_only: bool = False) -> dict:
    """``keys`` typed after the first frame, then measured once ``shown`` is on screen; with
    ``first_frame_only`` the console quits as soon as its first frame is on screen."""
    term = Terminal(columns, rows)
    with tempfile.TemporaryDirectory() as data_dir:
        env = environment(data_dir, pycache)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main([]))"],
            stdin=term.slave, stdout=term.slave, stderr=term.slave, env=env, cwd=data_dir,
            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(term.slave)
        first_frame = first_frame_cpu = None
        p = psutil.Process(proc.pid)
        while time.perf_counter() - started < 30:
            if term.shows("live", "swap", "mounts"):
                first_frame = time.perf_counter() - started
                first_frame_cpu = sum(p.cpu_times()[:2])
                break
            time.sleep(0.005)
        if first_frame is None:
            proc.kill()
            raise SystemExit(f"no first frame within 30 s at {columns}x{rows}")
        if first_frame_only:
            os.write(term.master, b"q")
            proc.wait(30)
            os.close(term.master)
            return {"first_frame_s": round(first_frame, 3), "first_frame_cpu_s": round(first_frame_cpu, 3)}
        for key in keys:
            os.write(term.master, bytes([key]))
            time.sleep(0.5)
        while shown and not term.shows(shown):
            if time.perf_counter() - started > 60:
                proc.kill()
                raise SystemExit(f"{shown!r} never shown at {columns}x{rows}")
            time.sleep(0.05)
        time.sleep(SETTLE_S)
        bytes0, cpu0, t0 = term.bytes, sum(p.cpu_times()[:2]), time.perf_counter()
        rss = []
        while time.perf_counter() - t0 < (SECONDS if measure else SECONDS / 2):
            rss.append(p.memory_info().rss)
            time.sleep(1.0)
        elapsed = time.perf_counter() - t0
        out = {"first_frame_s": round(first_frame, 3), "first_frame_cpu_s": round(first_frame_cpu, 3),
               "bytes_per_s": round((term.bytes - bytes0) / elapsed, 1)}
        if measure:
            out["cpu_percent_of_one_core"] = round(100 * (sum(p.cpu_times()[:2]) - cpu0) / elapsed, 2)
            out["rss_mb_max"] = round(max(rss) / 2**20, 1)
        quit_at = time.perf_counter()
        os.write(term.master, b"q")
        out["exit_code"] = proc.wait(30)
        out["quit_s"] = round(time.perf_counter() - quit_at, 2)
        os.close(term.master)
        return out


def main() -> None:
    with tempfile.TemporaryDirectory() as pycache:
        cold = run(120, 40, measure=False, pycache=pycache, first_frame_only=True)
        wide = run(120, 40, measure=True, pycache=pycache)
        narrow = run(80, 24, measure=False, pycache=pycache)
        processes = run(120, 40, measure=True, pycache=pycache, keys=b"2P", shown="processes on the host")
    print(json.dumps({
        "benchmark": "console",
        "seconds": SECONDS,
        "first_frame_s": wide["first_frame_s"],
        "first_frame_s_80x24": narrow["first_frame_s"],
        "first_frame_cpu_s": wide["first_frame_cpu_s"],
        "first_frame_s_first_run": cold["first_frame_s"],
        "first_frame_cpu_s_first_run": cold["first_frame_cpu_s"],
        "bytes_per_s_120x40": wide["bytes_per_s"],
        "bytes_per_s_80x24": narrow["bytes_per_s"],
        "cpu_percent_of_one_core": wide["cpu_percent_of_one_core"],
        "rss_mb_max": wide["rss_mb_max"],
        "bytes_per_s_120x40_processes": processes["bytes_per_s"],
        "cpu_percent_of_one_core_processes": processes["cpu_percent_of_one_core"],
        "rss_mb_max_processes": processes["rss_mb_max"],
        "quit_s": wide["quit_s"],
        "exit_codes": [wide["exit_code"], narrow["exit_code"], processes["exit_code"]],
        "target_first_frame_s": 1.5,
        "target_bytes_per_s_120x40": 1500,
        "target_cpu_percent": 3,
        "target_rss_mb": 80,
    }))


if __name__ == "__main__":
    main()
