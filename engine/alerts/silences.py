"""Silences with Alertmanager's matchers (=, !=, =~, !~, fully anchored) and time window."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.alerts.model import comment_problem
from engine.compat.strconv import NOT_UTF8, invalid_utf8_path, quote
from engine.settings import parse_duration
from engine.timefmt import EARLIEST, LATEST, in_rfc3339_range, rfc3339
from engine.tsdb.matchers import Matcher, MatcherError

MAX_MATCHERS = 64
"""Matchers a silence may have (Alertmanager sets none; nobody needs more, and each is compiled on
the event loop: 40,000 of them in a 1 MiB body froze it for seconds)."""
MAX_SILENCES = 10_000
"""Silences that may be active or pending at once: each new silence, and each alert change, is
matched against all of them. Expired ones do not count."""


class SilenceError(ValueError):
    """An invalid silence; ``field`` names the offending part of the request (``matchers[2]``, for
    the API's ``details.field``), ``label`` the same part as a person counts it (``matcher 3``), which
    the message starts with."""

    def __init__(self, field_name: str, message: str, label: str = "") -> None:
        super().__init__(f"{label or field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True, slots=True)
class SilenceMatcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    @property
    def op(self) -> str:
        return ("=~" if self.is_equal else "!~") if self.is_regex else ("=" if self.is_equal else "!=")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}


@dataclass(slots=True)
class Silence:
    id: str
    matchers: list[SilenceMatcher]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float
    _compiled: list[Matcher] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._compiled = [Matcher.make(m.name, m.op, m.value) for m in self.matchers]

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return "pending"
        if now >= self.ends_at:
            return "expired"
        return "active"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """All matchers must match; a missing label matches as the empty string."""
        return all(m.matches(labels.get(m.name, "")) for m in self._compiled)

    def to_json(self, now: float, rfc3339: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [m.to_json() for m in self.matchers],
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
            "createdBy": self.created_by,
            "comment": self.comment,
            "updatedAt": rfc3339(self.updated_at),
            "status": {"state": self.state(now)},
        }


def parse_silence(body: dict[str, Any], now: float) -> tuple[list[SilenceMatcher], float, float, str]:
    """Matchers, start, end and comment of a new silence; SilenceError naming the field.

    The end is ``endsAt`` or ``now`` plus ``duration``; times must be writable as RFC 3339 (years up
    to 9999, as in Alertmanager), so a stored silence can always be listed."""
    bad_text = invalid_utf8_path(body, "body")
    if bad_text is not None:
        raise SilenceError(bad_text.removeprefix("body."), NOT_UTF8)
    raw_matchers = body.get("matchers")
    if isinstance(raw_matchers, list) and len(raw_matchers) > MAX_MATCHERS:  # before compiling any
        raise SilenceError("matchers", f"at most {MAX_MATCHERS} matchers a silence, not {len(raw_matchers)}")
    matchers = parse_matchers(raw_matchers)
    starts = _time(body, "startsAt", now)
    if "endsAt" not in body and "duration" in body:
        ends = now + _duration(body["duration"])
        if not in_rfc3339_range(ends):
            raise SilenceError("duration", f"must end by {rfc3339(LATEST)}, the latest time RFC 3339 can write")
    else:
        ends = _time(body, "endsAt", None)
    if ends is None:
        raise SilenceError("endsAt", "is required (RFC 3339 time or Unix seconds)")
    if ends <= starts:
        raise SilenceError("endsAt", "must be after startsAt")
    if ends <= now:
        raise SilenceError("endsAt", "is in the past")
    comment = body.get("comment", "")
    problem = comment_problem(comment)
    if problem is None and not comment.strip():
        problem = "is required: say why the alerts are silenced (as Alertmanager requires)"
    if problem is not None:
        raise SilenceError("comment", problem)
    return matchers, starts, ends, comment


def _duration(raw: Any) -> float:
    try:
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError(f"{raw!r} is not a duration")
        seconds = parse_duration(str(raw))
    except ValueError as exc:
        raise SilenceError("duration", str(exc)) from None
    if seconds <= 0:
        raise SilenceError("duration", "must be greater than zero")
    return seconds


def _time(body: dict[str, Any], name: str, default: float | None) -> float | None:
    raw = body.get(name)
    if raw is None:
        return default
    ts = math.nan
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        ts = float(raw)
    elif isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    if not in_rfc3339_range(ts):
        raise SilenceError(name, f"{raw!r} is not an RFC 3339 time or Unix seconds between "
                                 f"{rfc3339(EARLIEST)} and {rfc3339(LATEST)}")
    return ts


def parse_matchers(raw: Any, *, match_all: bool = False) -> list[SilenceMatcher]:
    """Matchers from a request body: Alertmanager's objects or ``name op "value"`` strings.

    ``match_all``: matchers that all match the empty string are fine (a route or inhibition rule may
    match every alert; a silence may not)."""
    if not isinstance(raw, list) or not raw:
        raise SilenceError("matchers", "at least one matcher is required")
    out = []
    for i, item in enumerate(raw):
        where, label = f"matchers[{i}]", f"matcher {i + 1}"
        if isinstance(item, str):
            item = _parse_matcher_text(item, where, label)
        if not isinstance(item, dict):
            raise SilenceError(where, "must be an object with name, value, isRegex, isEqual", label)
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not name:
            raise SilenceError(f"{where}.name", "must be a non-empty string", f"{label} name")
        if not isinstance(value, str):
            raise SilenceError(f"{where}.value", "must be a string", f"{label} value")
        is_regex, is_equal = item.get("isRegex", False), item.get("isEqual", True)
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise SilenceError(where, "isRegex and isEqual must be booleans", label)
        matcher = SilenceMatcher(name, value, is_regex, is_equal)
        try:
            Matcher.make(name, matcher.op, value)
        except MatcherError as exc:
            raise SilenceError(f"{where}.value", str(exc), f"{label} value") from None
        out.append(matcher)
    if not match_all and all(Matcher.make(m.name, m.op, m.value).matches("") for m in out):
        raise SilenceError("matchers", "at least one matcher must not match the empty string")
    return out


def parse_matcher_list(text: str) -> list[SilenceMatcher]:
    """Alertmanager's matcher list as typed (amtool, the silence form): ``{alertname="Disk", dev=~"sd.*"}``,
    braces optional, comma separated, values quoted (``\\"`` inside) or bare. The one parser the API's
    string matchers and the console share; SilenceError names the matcher it cannot read."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    parts, current, quoted, escaped = [], [], False, False
    for ch in body:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quoted:
        raise SilenceError("matchers", f"unterminated quote in {text!r}")
    parts.append("".join(current))
    return parse_matchers([p.strip() for p in parts if p.strip()])


def _parse_matcher_text(text: str, where: str, label: str) -> dict[str, Any]:
    """One ``name op value`` matcher; the operator is the first one found after the name."""
    at = min((i for i in (text.find(op) for op in ("=~", "!~", "!=", "=")) if i >= 0), default=-1)
    if at > 0:
        op = next(op for op in ("=~", "!~", "!=", "=") if text.startswith(op, at))
        name, value = text[:at].strip(), text[at + len(op):].strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _unquote(value[1:-1])
        elif '"' in value:
            raise SilenceError(where, f"cannot parse {text!r}: a quoted value must be all quoted", label)
        if not any(c in name for c in ' "{},'):
            return {"name": name, "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")}
    raise SilenceError(where, f"cannot parse {text!r} (expected name=\"value\", !=, =~ or !~)", label)


def _unquote(inner: str) -> str:
    """The value between quotes, its backslash escapes read as Go's string syntax reads them."""
    out, i = [], 0
    while i < len(inner):
        ch = inner[i]
        if ch == "\\" and i + 1 < len(inner):
            nxt = inner[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def format_matchers(matchers: Iterable[Mapping[str, Any]]) -> str:
    """Matchers as the API lists them (name, value, isRegex, isEqual), written back in the syntax
    ``parse_matcher_list`` reads: ``alertname="Disk", dev=~"sd.*"``."""
    out = []
    for m in matchers:
        matcher = SilenceMatcher(str(m.get("name")), str(m.get("value", "")), bool(m.get("isRegex")),
                                 bool(m.get("isEqual", True)))
        out.append(f"{matcher.name}{matcher.op}{quote(matcher.value)}")
    return ", ".join(out)


def new_silence_id() -> str:
    return str(uuid.uuid4())
