"""Silences with Alertmanager's matchers (=, !=, =~, !~, fully anchored) and time window."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.tsdb.matchers import Matcher, MatcherError


class SilenceError(ValueError):
    """An invalid silence; ``field`` names the offending part of the request."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
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


def parse_matchers(raw: Any) -> list[SilenceMatcher]:
    """Matchers from a request body: Alertmanager's objects or ``name op "value"`` strings."""
    if not isinstance(raw, list) or not raw:
        raise SilenceError("matchers", "at least one matcher is required")
    out = []
    for i, item in enumerate(raw):
        where = f"matchers[{i}]"
        if isinstance(item, str):
            item = _parse_matcher_text(item, where)
        if not isinstance(item, dict):
            raise SilenceError(where, "must be an object with name, value, isRegex, isEqual")
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not name:
            raise SilenceError(f"{where}.name", "must be a non-empty string")
        if not isinstance(value, str):
            raise SilenceError(f"{where}.value", "must be a string")
        is_regex, is_equal = item.get("isRegex", False), item.get("isEqual", True)
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise SilenceError(where, "isRegex and isEqual must be booleans")
        matcher = SilenceMatcher(name, value, is_regex, is_equal)
        try:
            Matcher.make(name, matcher.op, value)
        except MatcherError as exc:
            raise SilenceError(f"{where}.value", str(exc)) from None
        out.append(matcher)
    if all(Matcher.make(m.name, m.op, m.value).matches("") for m in out):
        raise SilenceError("matchers", "at least one matcher must not match the empty string")
    return out


def _parse_matcher_text(text: str, where: str) -> dict[str, Any]:
    for op in ("=~", "!~", "!=", "="):
        name, sep, value = text.partition(op)
        if sep:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            return {"name": name.strip(), "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")}
    raise SilenceError(where, f"cannot parse matcher {text!r} (expected name=\"value\", !=, =~ or !~)")


def new_silence_id() -> str:
    return str(uuid.uuid4())
