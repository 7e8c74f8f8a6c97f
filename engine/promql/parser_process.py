"""Defence in depth for the parser: large texts are parsed first in a child process.

``promql-parser`` is native code: when it crashes or runs out of memory it takes the whole
process with it. The guard keeps such input away; texts big enough to matter are also tried in a
small persistent child (``parse_child.py``) under a memory limit, and parsed in the server only
once the child has survived them. A dead or stuck child is replaced on the next request.
"""

from __future__ import annotations

import logging
import select
import subprocess
import sys
import threading
from pathlib import Path

from engine.promql.parse_child import SURVIVED

log = logging.getLogger(__name__)

CHILD = Path(__file__).with_name("parse_child.py")
MEMORY_BYTES = 512 << 20  # the guard lets through at most ~18 MB of parsing
TIMEOUT_S = 5.0  # the guard lets through at most ~50 ms of parsing


class ParserProcess:
    """One child process that parses each text before the server does; thread-safe."""

    def __init__(self, memory_bytes: int = MEMORY_BYTES, timeout_s: float = TIMEOUT_S) -> None:
        self.memory_bytes = memory_bytes
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._child: subprocess.Popen | None = None

    def survives(self, text: str) -> bool:
        """Whether the parser returns (a tree or a syntax error) on ``text`` without dying."""
        data = text.encode("utf-8", "surrogatepass")
        with self._lock:
            try:
                child = self._running()
            except OSError as exc:  # no process could be started (out of pids, memory or fds)
                log.warning("the PromQL parser's child process could not start: %s; query refused", exc)
                return False
            try:
                child.stdin.write(len(data).to_bytes(4, "big") + data)
                child.stdin.flush()
                ready, _, _ = select.select([child.stdout], [], [], self.timeout_s)
                if ready and child.stdout.read(1) == SURVIVED:
                    return True
            except OSError:  # the pipe broke: the child died
                pass
            self._stop()
            log.warning("the PromQL parser failed on a query of %d characters (exit code %s); refused",
                        len(text), child.returncode)
            return False

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _running(self) -> subprocess.Popen:
        if self._child is not None and self._child.poll() is not None:
            self._stop()  # it died on its own: close its pipes before starting the next
        if self._child is None:
            self._child = subprocess.Popen(
                [sys.executable, "-I", str(CHILD), str(self.memory_bytes)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return self._child

    def _stop(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()
