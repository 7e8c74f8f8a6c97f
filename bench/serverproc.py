"""`metrics-service serve` in a child process for benchmarks, so clients never share its interpreter."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
UNLIMITED = {"RATE_LIMIT": "off", "RATE_LIMIT_INGEST": "off"}
"""Benchmarks measure what a server does, not the per-client limits that would cap one client's load
(bench_auth_overhead.py measures those by setting its own)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(*, stderr: Path | None = None, memory_limit: int | None = None, data_dir: Path | None = None,
          **settings: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """A server on a free port with its own data dir, ready (livez answers) when the block starts.

    ``stderr`` keeps the server's log in a file; ``memory_limit`` (bytes of address space) makes a
    runaway server fail its allocations instead of taking the machine's memory; ``data_dir`` serves
    data prepared beforehand instead of a new empty directory.
    """
    port = free_port()
    limit = None if memory_limit is None else lambda: resource.setrlimit(resource.RLIMIT_AS, (memory_limit,) * 2)
    with tempfile.TemporaryDirectory() as tmp, open(stderr or os.devnull, "wb") as err:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(data_dir or tmp), "PORT": str(port), **UNLIMITED,
               **settings}
        proc = subprocess.Popen([sys.executable, "-c", "import sys; from console.cli import main; "
                                 "sys.exit(main(['serve']))"], env=env, stderr=err, preexec_fn=limit)
        try:
            for _ in range(400):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield proc, port
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:  # a frozen server never handles SIGTERM
                proc.kill()
                proc.wait()
