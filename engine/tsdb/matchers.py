"""Label matchers (=, !=, =~, !~) with Prometheus's fully anchored regex semantics."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.compat.regex import RegexError, Regexp, compile_anchored

OPS = ("=", "!=", "=~", "!~")


class MatcherError(ValueError):
    """A matcher that cannot be built (unknown operator, invalid regex)."""


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: Regexp | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: str, value: str) -> Matcher:
        if op not in OPS:
            raise MatcherError(f"unknown matcher operator {op!r} (expected one of {', '.join(OPS)})")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = compile_anchored(value)  # RE2: linear time whatever the pattern
            except RegexError as exc:
                raise MatcherError(f"invalid regular expression {value!r} for label {name!r}: {exc}") from None
        return cls(name, op, value, regex)

    def matches(self, value: str) -> bool:
        """Does a label value (``""`` for a missing label) satisfy this matcher?"""
        op = self.op
        if op == "=":
            return value == self.value
        if op == "!=":
            return value != self.value
        hit = self._regex.matches(value)  # type: ignore[union-attr]
        return hit if op == "=~" else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def eq(name: str, value: str) -> Matcher:
    return Matcher.make(name, "=", value)
