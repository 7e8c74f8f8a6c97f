"""Explore's query history: the most recent expressions, newest last, kept in a file so that they
survive a restart (the XDG state dir, like a shell's history)."""

from __future__ import annotations

import os
from pathlib import Path

MAX_QUERIES = 200


def default_path() -> Path:
    """``$XDG_STATE_HOME/metrics-service/queries`` (``~/.local/state`` when unset or relative)."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "metrics-service" / "queries"


class QueryHistory:
    """One expression per line, no duplicates (running one again moves it to the end). A file that
    cannot be read or written only costs the history, never the console."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        self.queries: list[str] = []
        for line in lines:
            self._remember(line)

    def _remember(self, expr: str) -> None:
        expr = " ".join(expr.split())  # one line per query in the file
        if not expr:
            return
        if expr in self.queries:
            self.queries.remove(expr)
        self.queries.append(expr)
        del self.queries[:-MAX_QUERIES]

    def add(self, expr: str) -> None:
        self._remember(expr)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(f"{q}\n" for q in self.queries), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            pass
