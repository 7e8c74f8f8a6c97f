"""One module per check type; ``CHECKERS`` maps a type to its coroutine ``check(spec, ctx) -> Result``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from engine.health.checkers import command, dns, http, mongodb, postgres, redis, tcp
from engine.health.checkers.base import Context, Result
from engine.health.model import CheckSpec

Checker = Callable[[CheckSpec, Context], Awaitable[Result]]
CHECKERS: dict[str, Checker] = {"http": http.check, "https": http.check, "tcp": tcp.check, "redis": redis.check,
                                "postgres": postgres.check, "mongodb": mongodb.check, "dns": dns.check,
                                "command": command.check}
