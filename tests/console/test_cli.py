"""`metrics-service` / `metrics-service console` as a real process, in a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

import pyte
import pytest

CLI = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]
WRAP = re.compile(r"[\s▌]+")  # a toast's line breaks and its left border, between two drawn lines
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[PX^_].*?\x1b\\|\x1b\][^\x07]*\x07|\x1b.")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args", [(), ("console",), ("console", "--server", "localhost:1")])
def test_without_a_terminal_it_says_so_and_exits_2(args, tmp_path):
    r = run_cli(*args, env={"DATA_DIR": str(tmp_path)})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "metrics-service: error: the console needs a terminal (stdin and stdout must be a TTY); "
        "for a headless server run 'metrics-service serve'"]


@pytest.mark.parametrize("args", [("console", "--frobnicate"), ("--theme", "pink"),
                                  ("console", "--server", "ftp://host"), ("console", "--server", "http://h:99999")])
def test_a_wrong_option_prints_usage_and_exits_2(args):
    r = run_cli(*args)
    assert r.returncode == 2 and r.stderr.startswith("usage: metrics-service") and "error:" in r.stderr


class Terminal:
    """The console in a pty of its own (its controlling terminal), with what it draws as plain text:
    the whole stream (`text`) and the screen as a terminal shows it now (`screen_text`)."""

    def __init__(self, args: list[str], env: dict[str, str], columns: int = 80, rows: int = 24) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "NO_COLOR"))}
        self.proc = subprocess.Popen([*CLI, *args], stdin=slave, stdout=slave, stderr=slave,
                                     env={**clean, "TERM": "xterm-256color", **env}, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.raw = b""
        self.screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self.screen)
        self._lock = threading.Lock()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                if select.select([self.master], [], [], 0.2)[0]:
                    chunk = os.read(self.master, 65536)
                    if not chunk:
                        return
                    with self._lock:
                        self.raw += chunk
                        self._stream.feed(chunk)
            except OSError:
                return

    @property
    def text(self) -> str:
        with self._lock:
            return ANSI.sub(b"", self.raw).decode(errors="replace")

    @property
    def screen_text(self) -> str:
        """The screen's rows, then the text of a toast (right of its `▌` border, less the panel border it
        leaves uncovered) as one line: a toast drawn over a chart that redraws meanwhile is contiguous
        only on the screen, not in the stream."""
        with self._lock:
            rows = list(self.screen.display)
        toast = " ".join(row[row.rindex("▌") + 1:].strip(" │─╯") for row in rows if "▌" in row)
        return "\n".join(rows) + "\n" + toast

    def wait_for(self, *words: str, timeout: float = 30.0) -> None:
        """Wait until every phrase is drawn; a phrase a toast wrapped over lines counts too."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text
            flat = WRAP.sub(" ", text)
            screen = self.screen_text
            if all(w in text or w in flat or w in screen for w in words):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{words} not on screen; exit code {self.proc.poll()}; screen:\n{self.text[-2000:]}")

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        try:
            os.close(self.master)
        except OSError:
            pass


@pytest.fixture
def terminal():
    opened: list[Terminal] = []

    def open_(args: list[str], **env: str) -> Terminal:
        term = Terminal(args, env)
        opened.append(term)
        return term

    yield open_
    for term in opened:
        term.close()


def test_embedded_console_shows_live_data_quits_on_q_and_keeps_logs_off_the_terminal(terminal, tmp_path):
    term = terminal([], DATA_DIR=str(tmp_path), COLLECTION_INTERVAL="0.5", LOG_LEVEL="debug")
    term.wait_for("● live", "mounts", "embedded 127.0.0.1:")
    term.press(b"2")
    term.wait_for("Network interfaces")
    term.press(b"q")
    assert term.proc.wait(30) == 0
    assert '"level"' not in term.text and "Traceback" not in term.text
    assert (tmp_path / "console.log").stat().st_size > 0  # debug logs went to the file instead
    assert (tmp_path / "metrics.db").exists()


def test_the_console_exits_cleanly_when_its_terminal_goes_away(terminal, tmp_path):
    term = terminal(["console"], DATA_DIR=str(tmp_path), COLLECTION_INTERVAL="0.5")
    term.wait_for("● live")
    os.close(term.master)  # the SSH session drops: the kernel hangs up the terminal
    assert term.proc.wait(30) == 0
    log = (tmp_path / "console.log").read_text()
    assert "died" not in log and "Traceback" not in log


def test_an_unreachable_server_is_explained_and_retried_until_quit(terminal, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = s.getsockname()[1]
        term = terminal(["--server", f"127.0.0.1:{port}"], DATA_DIR=str(tmp_path))
        term.wait_for("Cannot reach 127.0.0.1:", "connection refused", "reconnecting")
        term.press(b"q")
        assert term.proc.wait(30) == 0
