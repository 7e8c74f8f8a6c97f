"""RE2 syntax (Prometheus's regex dialect) that Python's ``re`` spells differently."""

from __future__ import annotations

import re

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_POSIX = re.compile(r"\[:(" + "|".join(_POSIX_CLASSES) + r"):\]")
_END_OF_TEXT = re.compile(r"(?<!\\)((?:\\\\)*)\\z")


def to_python(pattern: str) -> str:
    """Translate POSIX bracket classes (``[[:alpha:]]``) and ``\\z``; the rest of RE2 is shared."""
    if "[:" in pattern:
        pattern = _POSIX.sub(lambda m: _POSIX_CLASSES[m.group(1)], pattern)
    if "\\z" in pattern:
        pattern = _END_OF_TEXT.sub(lambda m: m.group(1) + "\\Z", pattern)
    return pattern


def compile_anchored(pattern: str) -> re.Pattern[str]:
    """Prometheus anchors label regexes and lets ``.`` match newlines: ``^(?s:pattern)$``."""
    return re.compile("(?s:" + to_python(pattern) + ")")
