"""Go regexp (RE2 syntax) semantics on top of Python's re, for ``match`` and ``reReplaceAll``.

The two engines agree on most syntax and on leftmost-first matching; this module
translates what differs (``\\z``, ``$``, ``\\d``/``\\w``/``\\s``/``\\b`` being ASCII,
POSIX classes, ``\\Q..\\E``), rejects Perl features RE2 lacks with Go's messages,
and reimplements Go's ReplaceAllString (``$1x`` names group "1x"; empty matches
right after a match are not replaced).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .gostrconv import can_backquote, quote

_WORD = "0-9A-Za-z_"
_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": _WORD, "xdigit": "0-9A-Fa-f",
}
_OUTSIDE = {
    "d": "[0-9]", "D": "[^0-9]", "w": f"[{_WORD}]", "W": f"[^{_WORD}]", "s": "[\\t\\n\\f\\r ]",
    "S": "[^\\t\\n\\f\\r ]", "z": "\\Z",
    "b": f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))",
    "B": f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))",
}
_INSIDE = {"d": "0-9", "w": _WORD, "s": "\\t\\n\\f\\r "}
_PERL_GROUPS = ("(?=", "(?!", "(?<", "(?>", "(?#")
_REPEAT = re.compile(r"\{(\d+)(,)?(\d*)\}")


class RegexpError(ValueError):
    """regexp.Compile's error: ``error parsing regexp: <code>: `<expr>```."""

    def __init__(self, code: str, expr: str) -> None:
        super().__init__(f"error parsing regexp: {code}: `{expr}`")


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    in_class = False
    flags = re.match(r"\(\?([imsU]+)\)", pattern)
    multiline = flags is not None and "m" in flags.group(1)
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            if n == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = len(pattern) if end < 0 else end + 2
                continue
            if n.isdigit() and n != "0":
                raise RegexpError("invalid escape sequence", pattern[i : i + 2])
            table = _INSIDE if in_class else _OUTSIDE
            out.append(table.get(n, c + n))
            i += 2
            continue
        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                name = pattern[i + 2 : end] if end > 0 else ""
                if name in _POSIX:
                    out.append(_POSIX[name])
                    i = end + 2
                    continue
            if c == "[":
                out.append("\\[")
            else:
                if c == "]" and not (out[-1] in ("[", "[^") and pattern[i - 1] in "[^"):
                    in_class = False
                out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
            else:
                out.append("[")
                i += 1
            if i < len(pattern) and pattern[i] == "]":  # a leading ] is literal
                out.append("\\]")
                i += 1
            continue
        if c == "(" and pattern.startswith(_PERL_GROUPS, i):
            raise RegexpError("invalid or unsupported Perl syntax", pattern[i : i + 3])
        repeat = _REPEAT.match(pattern, i) if c == "{" else None
        if repeat is not None:
            low, high = int(repeat.group(1)), repeat.group(3)
            if low > 1000 or (high and (int(high) > 1000 or int(high) < low)):
                raise RegexpError("invalid repeat count", repeat.group(0))
            out.append(repeat.group(0))
            i = repeat.end()
            continue
        if c == "$" and not multiline:
            out.append("\\Z")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _go_error(err: re.error, pattern: str) -> RegexpError:
    msg = err.msg
    pos = err.pos or 0
    if msg.startswith("missing ), unterminated subpattern"):
        return RegexpError("missing closing )", pattern)
    if msg.startswith("unbalanced parenthesis"):
        return RegexpError("unexpected )", pattern)
    if msg.startswith("unterminated character set"):
        return RegexpError("missing closing ]", pattern[pos:])
    if msg.startswith("nothing to repeat"):
        return RegexpError("missing argument to repetition operator", pattern[pos : pos + 1])
    if msg.startswith("multiple repeat"):
        return RegexpError("invalid nested repetition operator", pattern[pos - 1 : pos + 1])
    if msg.startswith("bad escape"):
        return RegexpError("invalid escape sequence", pattern[pos : pos + 2])
    return RegexpError(msg, pattern)


@lru_cache(maxsize=256)
def compile_go(pattern: str) -> re.Pattern[str]:
    """regexp.Compile; raises RegexpError worded as Go's."""
    try:
        return re.compile(_translate(pattern))
    except re.error as e:
        raise _go_error(e, pattern) from None


def must_compile_message(pattern: str, err: RegexpError) -> str:
    """The panic text of regexp.MustCompile."""
    shown = "`" + pattern + "`" if can_backquote(pattern) else quote(pattern)
    return f"regexp: Compile({shown}): {err}"


def _extract(template: str) -> tuple[str, int, str] | None:
    brace = template.startswith("{")
    s = template[1:] if brace else template
    i = 0
    while i < len(s) and (s[i].isalpha() or s[i].isdigit() or s[i] == "_"):
        i += 1
    if i == 0:
        return None
    name = s[:i]
    if brace:
        if i >= len(s) or s[i] != "}":
            return None
        i += 1
    num = int(name) if name.isascii() and name.isdigit() and (name[0] != "0" or len(name) == 1) else -1
    if num >= 10**8:
        num = -1
    return name, num, s[i:]


def _expand(template: str, m: re.Match[str]) -> str:
    out = []
    while template:
        before, sep, after = template.partition("$")
        if not sep:
            break
        out.append(before)
        template = after
        if template.startswith("$"):
            out.append("$")
            template = template[1:]
            continue
        extracted = _extract(template)
        if extracted is None:
            out.append("$")
            continue
        name, num, template = extracted
        if num >= 0:
            if num <= m.re.groups and m.group(num) is not None:
                out.append(m.group(num))
        elif name in m.re.groupindex and m.group(name) is not None:
            out.append(m.group(name))
    out.append(template)
    return "".join(out)


def replace_all(pattern: re.Pattern[str], src: str, repl: str) -> str:
    """Regexp.ReplaceAllString."""
    out = []
    last_end = 0
    search = 0
    while search <= len(src):
        m = pattern.search(src, search)
        if m is None:
            break
        start, end = m.span()
        out.append(src[last_end:start])
        if end > last_end or start == 0:
            out.append(_expand(repl, m))
        last_end = end
        search = search + 1 if search + 1 > end else end
    out.append(src[last_end:])
    return "".join(out)
