"""command: a local command from the config (never the API), healthy on exit status 0."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from engine.health.checkers.base import MAX_ERROR_CHARS, Context, Result
from engine.health.model import CheckSpec


async def check(spec: CheckSpec, ctx: Context) -> Result:
    proc = await asyncio.create_subprocess_exec(*spec.params["command"], stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                start_new_session=True)
    try:
        output = await proc.stdout.read(64 * 1024) if proc.stdout is not None else b""
        code = await proc.wait()
    finally:
        # Cancelled at the timeout, or done: nothing the command started outlives its check (it leads
        # its own process group, start_new_session).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            await proc.wait()
    if code == 0:
        return Result(ok=True, duration=0.0)
    last = output.decode(errors="replace").strip().splitlines()[-1:] or [""]
    return Result(ok=False, duration=0.0, error=f"exit status {code}: {last[0][:MAX_ERROR_CHARS]}".rstrip(": "))
