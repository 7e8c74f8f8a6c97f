"""Logs: JSON lines for machines, a short readable line on a terminal, and never a secret in either.

Attach structured fields with ``log.info("listening", extra=log_fields(url=url))``; they become
top-level keys of the JSON line (``key=value`` on a terminal). A field named like a core key
(timestamp, level, message, service, error) is written as ``fields.<name>`` instead of clobbering it.
A line written inside a tracing span (engine/tracing.py) also carries its ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from engine.settings import redact_uris
from engine.timefmt import rfc3339
from engine.tracing import current_ids

SECRET_KEY_PARTS = ("password", "passwd", "secret", "token", "authorization", "api_key", "apikey")
REDACTED = "***"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "warn": logging.WARNING, "error": logging.ERROR}
_QUIET = {"aiohttp.access": logging.WARNING, "apscheduler": logging.WARNING}


def log_fields(**fields: object) -> dict[str, dict[str, object]]:
    """The ``extra`` argument that attaches ``fields`` to a log record."""
    return {"fields": fields}


def is_secret_key(key: str) -> bool:
    """True for keys such as ``password``, ``X-Api-Key`` or ``auth_token`` whose value must not be logged."""
    k = key.lower().replace("-", "_")
    return any(part in k for part in SECRET_KEY_PARTS)


def _clean(key: str, value: Any) -> Any:
    """A JSON-safe copy of value with secrets hidden, by key name and by URI password."""
    if is_secret_key(key):
        return REDACTED
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN is not JSON
    if isinstance(value, Mapping):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(key, v) for v in value]
    return redact_uris(str(value))


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's fields, then trace_id and span_id when it was logged inside a span."""
    fields = getattr(record, "fields", None)
    if fields is None:
        out: dict[str, Any] = {}
    elif isinstance(fields, Mapping):
        out = {str(k): _clean(str(k), v) for k, v in fields.items()}
    else:
        out = {"fields": _clean("fields", fields)}
    ids = current_ids()
    if ids is not None:
        out["trace_id"], out["span_id"] = ids
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, message, service, error, then the record's fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": rfc3339(record.created),
            "level": record.levelname.lower(),
            "message": redact_uris(record.getMessage()),
            "service": self.service,
        }
        if record.exc_info:
            entry["error"] = redact_uris(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact_uris(self.formatStack(record.stack_info))
        for key, value in _record_fields(record).items():
            entry[f"fields.{key}" if key in entry else key] = value
        return json.dumps(entry, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL message key=value ...`` in local time, for a human at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [time.strftime("%H:%M:%S", time.localtime(record.created)), f"{record.levelname:<7}",
                 redact_uris(record.getMessage())]
        parts += [f"{key}={_console_value(value)}" for key, value in _record_fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + redact_uris(self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + redact_uris(self.formatStack(record.stack_info))
        return line


def _console_value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in "\"'=" for c in value):
        return value
    return json.dumps(value, ensure_ascii=False)


class _ServiceHandler(logging.StreamHandler):
    """Our handler on the root logger, told apart from others (pytest's, an embedding app's) on re-setup."""


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def setup_logging(level: str, service: str, stream: IO[str] | None = None, *, json_lines: bool = False) -> None:
    """Send the root logger to stderr (or ``stream``): JSON lines, or readable lines on a TTY.

    Calling it again replaces our handler (new level, stream or service) and leaves other handlers
    alone. Raises ValueError for a level other than debug, info, warning (warn) or error.
    """
    try:
        numeric = _LEVELS[level.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use debug, info, warning or error") from None
    target = sys.stderr if stream is None else stream
    handler = _ServiceHandler(target)
    handler.setFormatter(ConsoleFormatter() if _is_tty(target) and not json_lines else JsonFormatter(service))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ServiceHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, quiet_level in _QUIET.items():
        logging.getLogger(name).setLevel(quiet_level)


class TracebackBudget:
    """At most one traceback per error site (exception type and the line that raised it) per interval.

    A bug hit by every request would otherwise write a kilobyte of identical traceback per request;
    one copy a minute is enough to fix it, and the other occurrences keep their one-line record.
    """

    def __init__(self, interval_s: float = 60.0, max_sites: int = 1000) -> None:
        self.interval_s = interval_s
        self.max_sites = max_sites
        self._last: dict[tuple[str, str, int], float] = {}

    def allows(self, exc: BaseException, now: float | None = None) -> bool:
        """True when this site has not had a traceback within the interval (and records that it has now)."""
        t = time.monotonic() if now is None else now
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        site = (type(exc).__qualname__, tb.tb_frame.f_code.co_filename if tb else "", tb.tb_lineno if tb else 0)
        last = self._last.get(site)
        if last is not None and t - last < self.interval_s:
            return False
        if len(self._last) >= self.max_sites:
            self._last = {s: seen for s, seen in self._last.items() if t - seen < self.interval_s}
        self._last[site] = t
        return True


_TRACEBACKS = TracebackBudget()


def log_failure(logger: logging.Logger, message: str, exc: BaseException, **fields: object) -> None:
    """One error line for an unexpected exception, naming it; its traceback rides along at most once
    per site per minute (every time when the logger is at debug level)."""
    with_traceback = logger.isEnabledFor(logging.DEBUG) or _TRACEBACKS.allows(exc)
    logger.error("%s: %s: %s", message, type(exc).__name__, exc,
                 exc_info=(type(exc), exc, exc.__traceback__) if with_traceback else None,
                 extra=log_fields(**fields))
