"""Logs: JSON lines parsed back, readable TTY lines, secrets hidden, set-up idempotent."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from engine.logs import TracebackBudget, log_fields, setup_logging

log = logging.getLogger("tests.logs")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class TtyStream(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging():
    """setup_logging changes the process-wide root logger: put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("aiohttp.access", "apscheduler")}
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def setup(level: str = "info") -> io.StringIO:
    stream = io.StringIO()
    setup_logging(level, "booking-api", stream=stream)
    return stream


def test_json_line_shape_with_extra_fields():
    stream = setup()
    log.info("listening on %s", "127.0.0.1:3000", extra=log_fields(url="http://127.0.0.1:3000", workers=2,
                                                                  ratio=0.5, ok=True, none=None, tags=["a"]))
    (entry,) = json_lines(stream)
    assert TIMESTAMP.match(entry.pop("timestamp"))
    assert entry == {"level": "info", "message": "listening on 127.0.0.1:3000", "service": "booking-api",
                     "url": "http://127.0.0.1:3000", "workers": 2, "ratio": 0.5, "ok": True, "none": None,
                     "tags": ["a"]}


def test_levels_are_lowercase_and_filtered():
    stream = setup("warn")
    log.info("hidden")
    log.warning("shown")
    log.error("also shown")
    seen = [(e["level"], e["message"]) for e in json_lines(stream)]
    assert seen == [("warning", "shown"), ("error", "also shown")]


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="loud"):
        setup_logging("loud", "svc", stream=io.StringIO())


def test_exception_goes_into_the_error_field():
    stream = setup()
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError:
        log.exception("flush failed", extra=log_fields(attempt=3))
    (entry,) = json_lines(stream)
    assert entry["level"] == "error" and entry["message"] == "flush failed" and entry["attempt"] == 3
    assert entry["error"].startswith("Traceback (most recent call last):")
    assert entry["error"].rstrip().endswith("RuntimeError: disk on fire")


def test_fields_never_overwrite_the_core_keys():
    stream = setup()
    log.info("real message", extra=log_fields(message="spoof", level="debug", service="other", error="text"))
    (entry,) = json_lines(stream)
    assert (entry["message"], entry["level"], entry["service"]) == ("real message", "info", "booking-api")
    assert entry["fields.message"] == "spoof" and entry["fields.level"] == "debug"
    assert entry["error"] == "text"  # no exception, so a field may use the name


def test_values_that_are_not_json_become_strings():
    stream = setup()
    log.info("odd values", extra=log_fields(path=Path("/var/lib/x"), nan=float("nan"), obj=object()))
    (entry,) = json_lines(stream)
    assert entry["path"] == "/var/lib/x" and entry["nan"] == "nan" and entry["obj"].startswith("<object")


SECRET = "hunter2"


def test_secret_fields_are_hidden_by_key_name():
    stream = setup()
    log.info("request", extra=log_fields(
        password=SECRET, db_password=SECRET, client_secret=SECRET, access_token=SECRET, api_key=SECRET,
        Authorization=f"Bearer {SECRET}", headers={"X-Api-Key": SECRET, "Accept": "text/plain"}, user="ops"))
    text = stream.getvalue()
    assert SECRET not in text
    (entry,) = json_lines(stream)
    for key in ("password", "db_password", "client_secret", "access_token", "Authorization", "api_key"):
        assert entry[key] == "***"
    assert entry["headers"] == {"X-Api-Key": "***", "Accept": "text/plain"}
    assert entry["user"] == "ops"


def test_uri_passwords_are_hidden_in_messages_fields_and_tracebacks():
    stream = setup()
    log.info("connecting to mongodb://admin:%s@db:27017/app", SECRET,
             extra=log_fields(redis="redis://:hunter2@cache:6379/0", urls=["amqp://u:hunter2@mq"]))
    try:
        raise ConnectionError(f"cannot reach mongodb://admin:{SECRET}@db:27017/app")
    except ConnectionError:
        log.exception("giving up")
    assert SECRET not in stream.getvalue()
    first, second = json_lines(stream)
    assert first["message"] == "connecting to mongodb://admin:***@db:27017/app"
    assert first["redis"] == "redis://:***@cache:6379/0" and first["urls"] == ["amqp://u:***@mq"]
    assert "mongodb://admin:***@db:27017/app" in second["error"]


def test_tty_gets_one_readable_line():
    stream = TtyStream()
    setup_logging("info", "booking-api", stream=stream)
    log.warning("slow flush", extra=log_fields(seconds=2.5, store="sqlite", note="two words", token=SECRET))
    line = stream.getvalue()
    expected = r'\d\d:\d\d:\d\d WARNING slow flush seconds=2.5 store=sqlite note="two words" token=\*\*\*\n'
    assert re.fullmatch(expected, line), line
    assert not line.startswith("{")


def test_tty_format_appends_the_traceback_and_hides_uri_passwords():
    stream = TtyStream()
    setup_logging("info", "booking-api", stream=stream)
    try:
        raise ValueError(f"bad redis://:{SECRET}@cache")
    except ValueError:
        log.exception("oops")
    text = stream.getvalue()
    assert SECRET not in text
    first, *rest = text.splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d ERROR   oops", first)
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: bad redis://:***@cache"


def test_setup_twice_keeps_one_handler_and_leaves_other_handlers_alone():
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    first = setup()
    second = setup()
    log.info("once")
    assert first.getvalue() == ""
    assert [e["message"] for e in json_lines(second)] == ["once"]
    assert other in root.handlers
    root.removeHandler(other)


def test_setup_writes_to_stderr_by_default(capsys):
    setup_logging("info", "svc")
    log.info("to stderr")
    captured = capsys.readouterr()
    assert captured.out == "" and json.loads(captured.err)["message"] == "to stderr"


def test_noisy_third_party_loggers_are_quieted_even_at_debug():
    stream = setup("debug")
    logging.getLogger("aiohttp.access").info("GET /metrics 200")
    logging.getLogger("apscheduler.executors.default").info("Running job collect")
    log.debug("ours")
    assert [e["message"] for e in json_lines(stream)] == ["ours"]


def _raise_at_one_site() -> KeyError:
    try:
        {}["missing"]
    except KeyError as exc:
        return exc
    raise AssertionError("unreachable")


def test_traceback_budget_allows_one_per_site_per_interval():
    budget = TracebackBudget(interval_s=60)
    first, again = _raise_at_one_site(), _raise_at_one_site()
    assert budget.allows(first, now=0.0)
    assert not budget.allows(again, now=59.0)  # same type and line: within the minute, no traceback
    try:
        int("x")
    except ValueError as other:
        assert budget.allows(other, now=59.0)  # another site has its own budget
    assert budget.allows(again, now=60.0)
