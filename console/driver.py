"""The terminal driver: Textual's LinuxDriver, made safe for a terminal that goes away.

When an SSH session drops, writes to the tty fail with EIO. Textual's writer thread then dies,
its bounded queue fills, and the next frame blocks the app forever: the process lingers with the
embedded server never stopped. Here failed writes are dropped (the thread keeps draining the
queue) and the app is told to exit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver

from console.app import TerminalLost


class _HangupSafeFile:
    def __init__(self, file: IO[str], on_lost: Callable[[], None]) -> None:
        self._file = file
        self._on_lost = on_lost
        self.lost = False

    def _guard(self, operation: Callable[..., Any], *args: Any) -> None:
        if self.lost:
            return
        try:
            operation(*args)
        except OSError:
            self.lost = True
            self._on_lost()

    def write(self, text: str) -> None:
        self._guard(self._file.write, text)

    def flush(self) -> None:
        self._guard(self._file.flush)

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return self._file.isatty()


class ConsoleDriver(LinuxDriver):
    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._file = _HangupSafeFile(self._file, lambda: app.post_message(TerminalLost()))
