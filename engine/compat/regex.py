"""Go's regexp package (RE2 syntax, linear time) for every pattern a user supplies.

Python's ``re`` backtracks: ``([a-z_]|[a-z_])*Q`` against a long label value holds the GIL for
minutes and freezes the whole server. google-re2 is the C++ RE2 that Go's regexp was ported from,
so syntax (``\\z``, ``(?i)``, ``\\pL``, ``[[:alpha:]]``, ``\\Q..\\E``), leftmost-first matching and
match time linear in the input all agree with Prometheus. This module adds what Go does
differently: Go's wording of compile errors, ``\\C`` refused, matching on the UTF-8 bytes of the
text, and Go's ``ReplaceAllString`` / ``Expand``. Compilation is bounded in pattern length and in
memory, so a hostile pattern cannot bloat the process either.
"""

from __future__ import annotations

import re2

MAX_PATTERN_LENGTH = 65536
"""Longer patterns are refused (Go has no such limit), as long as the longest query
(QUERY_MAX_LENGTH): generated alternations of thousands of values are real. A compiled pattern
takes up to ~40 bytes per character, and google-re2 keeps the last 128 compiled."""

MAX_MEM = 1 << 20
"""RE2's memory budget per pattern: a program beyond it (``\\pL{200}``) is refused as Go's
"expression too large"; a DFA that outgrows it falls back to RE2's slower, still linear, NFA."""

_OPTIONS = re2.Options()
_OPTIONS.max_mem = MAX_MEM
_OPTIONS.log_errors = False  # RE2 would otherwise print every bad pattern to stderr

# C++ RE2's error code texts -> Go's regexp/syntax ErrorCode texts (same codes, other words).
_GO_CODES = {
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class range": "invalid character class range",
    "invalid character class": "invalid character class",
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
}
_SPECIAL = frozenset("\\.+*?()|[]{}^$")


class RegexError(ValueError):
    """regexp.Compile's error, worded as Go words it: ``error parsing regexp: <code>: `<expr>```."""

    def __init__(self, code: str, expr: str) -> None:
        super().__init__(f"error parsing regexp: {code}: `{expr}`")


class ResultTooLarge(ValueError):
    """An expansion or replacement would pass the caller's size limit: raised as soon as it does,
    before the oversized text is built (``$1`` repeated in a replacement multiplies its input)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"result exceeds the limit of {limit} bytes")
        self.limit = limit


class Regexp:
    """A compiled Go regexp. Matching works on the text's UTF-8 bytes, as Go's does."""

    __slots__ = ("_re", "_literals")

    def __init__(self, compiled: re2._Regexp, literals: frozenset[str] | None) -> None:
        self._re = compiled
        self._literals = literals

    def matches(self, text: str) -> bool:
        """Regexp.MatchString: is there a match anywhere in text?"""
        if self._literals is not None:
            return text in self._literals
        return self._re.search(_encode(text)) is not None

    def find_submatch(self, text: str) -> list[str | None] | None:
        """Regexp.FindStringSubmatch: the leftmost match and its groups (None for a group that took
        no part, where Go gives ""); None when there is no match."""
        src = _encode(text)
        m = self._re.search(src)
        if m is None:
            return None
        spans = (m.span(i) for i in range(self._re.groups + 1))
        return [None if start < 0 else _decode(src[start:end]) for start, end in spans]

    def expand(self, template: str, text: str, max_bytes: int | None = None) -> str | None:
        """FindStringSubmatchIndex then ExpandString (what label_replace does); None when no match.
        Raises ResultTooLarge past ``max_bytes`` of UTF-8 output."""
        src = _encode(text)
        m = self._re.search(src)
        return None if m is None else self._expand(template, src, m, max_bytes)

    def replace_all(self, text: str, template: str, max_bytes: int | None = None) -> str:
        """Regexp.ReplaceAllString: ``$1``, ``${1}``, ``$name`` expand (``$1x`` is the group named
        ``1x``) and an empty match right after a match is not replaced. Raises ResultTooLarge past
        ``max_bytes`` of UTF-8 output."""
        src = _encode(text)
        out: list[bytes] = []
        size = 0
        last_end = 0
        search = 0
        while search <= len(src):
            m = self._re.search(src, search)
            if m is None:
                break
            start, end = m.span()
            out.append(src[last_end:start])
            size += start - last_end
            if end > last_end or start == 0:
                try:
                    budget = None if max_bytes is None else max(0, max_bytes - size)
                    out.append(_encode(self._expand(template, src, m, budget)))
                except ResultTooLarge:
                    raise ResultTooLarge(max_bytes or 0) from None
                size += len(out[-1])
            if max_bytes is not None and size > max_bytes:
                raise ResultTooLarge(max_bytes)
            last_end = end
            width = _rune_width(src, search)
            if search + width > end:
                search += width
            elif search + 1 > end:
                search += 1
            else:
                search = end
        if max_bytes is not None and size + len(src) - last_end > max_bytes:
            raise ResultTooLarge(max_bytes)
        out.append(src[last_end:])
        return _decode(b"".join(out))

    def _expand(self, template: str, src: bytes, m: re2._Match, max_bytes: int | None = None) -> str:
        """Regexp.expand: ``$$`` is ``$``, a malformed reference is kept as text, groups that did
        not take part (or do not exist) expand to nothing."""
        out: list[str] = []
        size = 0  # template characters plus group bytes: checked before the text is joined
        while template:
            before, sep, template = template.partition("$")
            out.append(before)
            size += len(before)
            if not sep:
                break
            if template.startswith("$"):
                out.append("$")
                size += 1
                template = template[1:]
            elif (ref := _reference(template)) is None:
                out.append("$")
                size += 1
            else:
                name, template = ref
                index = _group_number(name)
                if index < 0:
                    index = self._re.groupindex.get(_encode(name), -1)
                if 0 <= index <= self._re.groups:
                    start, end = m.span(index)
                    if start >= 0:
                        out.append(_decode(src[start:end]))
                        size += end - start
            if max_bytes is not None and size > max_bytes:
                raise ResultTooLarge(max_bytes)
        if max_bytes is not None and size > max_bytes:
            raise ResultTooLarge(max_bytes)
        return "".join(out)


def compile(pattern: str) -> Regexp:
    """regexp.Compile; raises RegexError worded as Go's."""
    _check_length(pattern)
    return _compile(pattern)


def compile_anchored(pattern: str) -> Regexp:
    """A label matcher's regexp as Prometheus builds it: ``^(?s:pattern)$``, so it matches the whole
    value and ``.`` matches a newline (Prometheus 3; in 2.x ``.`` stopped at newlines)."""
    _check_length(pattern)
    return _compile(pattern, anchored=True)


def quote_meta(text: str) -> str:
    """regexp.QuoteMeta: a pattern matching text literally."""
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


def _check_length(pattern: str) -> None:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError("expression too large", pattern[:64] + "…")


def _compile(pattern: str, anchored: bool = False) -> Regexp:
    """An anchored alternation of plain words (``api|db``, the usual label matcher) also gets a
    set to look values up in, as Prometheus's FastRegexMatcher does: a hash beats a call into RE2."""
    full = "^(?s:" + pattern + ")$" if anchored else pattern
    try:
        raw = full.encode("utf-8")
    except UnicodeEncodeError:
        raise RegexError("invalid UTF-8", full.encode("utf-8", "backslashreplace").decode()) from None
    _refuse_any_byte(pattern)
    try:
        compiled = re2.compile(raw, _OPTIONS)  # google-re2 caches the last 128 compiled patterns
    except re2.error as exc:
        raise _go_error(exc, full) from None
    literal = anchored and _SPECIAL.isdisjoint(pattern.replace("|", ""))
    return Regexp(compiled, frozenset(pattern.split("|")) if literal else None)


def _refuse_any_byte(pattern: str) -> None:
    """C++ RE2 accepts ``\\C`` (any byte, which would split a UTF-8 rune); Go refuses it."""
    i = pattern.find("\\")
    while 0 <= i < len(pattern) - 1:
        after = pattern[i + 1]
        if after == "C":
            raise RegexError("invalid escape sequence", "\\C")
        if after == "Q":
            end = pattern.find("\\E", i + 2)
            if end < 0:
                return
            i = pattern.find("\\", end + 2)
        else:
            i = pattern.find("\\", i + 2)


def _go_error(exc: re2.error, pattern: str) -> RegexError:
    text = exc.args[0].decode("utf-8", "replace") if isinstance(exc.args[0], bytes) else str(exc.args[0])
    for cxx, go in _GO_CODES.items():
        if text == cxx:
            return RegexError(go, "" if go.startswith("trailing") else pattern)
        if text.startswith(cxx + ": "):
            return RegexError(go, text[len(cxx) + 2 :])
    return RegexError(text, pattern)


def _encode(text: str) -> bytes:
    """UTF-8 where every surrogate (a byte that was invalid UTF-8, or a lone JSON escape) stays one
    character that ``.`` matches, as Go matches an invalid byte as U+FFFD."""
    return text.encode("utf-8", "surrogatepass")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def _rune_width(src: bytes, pos: int) -> int:
    """utf8.DecodeRune's width at pos (0 at the end); src is well-formed, as _encode makes it."""
    if pos >= len(src):
        return 0
    lead = src[pos]
    return 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


def _reference(template: str) -> tuple[str, str] | None:
    """Regexp's extract: the group name after ``$`` (letters, digits, ``_``; ``{}`` optional) and
    the rest of the template; None when malformed."""
    brace = template.startswith("{")
    start = 1 if brace else 0
    i = start
    while i < len(template) and (template[i].isalpha() or template[i].isdecimal() or template[i] == "_"):
        i += 1
    if i == start:
        return None
    name = template[start:i]
    if brace:
        if i >= len(template) or template[i] != "}":
            return None
        i += 1
    return name, template[i:]


def _group_number(name: str) -> int:
    """The group number a name spells (ASCII digits, no leading zero, at most nine), else -1."""
    if not (name.isascii() and name.isdigit()) or (name[0] == "0" and len(name) > 1) or len(name) > 9:
        return -1
    return int(name)
