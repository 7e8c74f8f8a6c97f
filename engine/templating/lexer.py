"""Lexer for Go text/template, as in Go 1.19 (the Go that built Prometheus 2.42).

Token boundaries decide which error a broken template reports, so the state
machine follows Go's closely, including the ``{{- `` / `` -}}`` trim markers.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from engine.compat.strconv import quote


class T(enum.IntEnum):
    """Item types; keywords sort after KEYWORD, as in Go."""

    ERROR = 0
    BOOL = enum.auto()
    CHAR = enum.auto()
    CHAR_CONSTANT = enum.auto()
    COMPLEX = enum.auto()
    ASSIGN = enum.auto()
    DECLARE = enum.auto()
    EOF = enum.auto()
    FIELD = enum.auto()
    IDENTIFIER = enum.auto()
    LEFT_DELIM = enum.auto()
    LEFT_PAREN = enum.auto()
    NUMBER = enum.auto()
    PIPE = enum.auto()
    RAW_STRING = enum.auto()
    RIGHT_DELIM = enum.auto()
    RIGHT_PAREN = enum.auto()
    SPACE = enum.auto()
    STRING = enum.auto()
    TEXT = enum.auto()
    VARIABLE = enum.auto()
    KEYWORD = enum.auto()
    BLOCK = enum.auto()
    BREAK = enum.auto()
    CONTINUE = enum.auto()
    DOT = enum.auto()
    DEFINE = enum.auto()
    ELSE = enum.auto()
    END = enum.auto()
    IF = enum.auto()
    NIL = enum.auto()
    RANGE = enum.auto()
    TEMPLATE = enum.auto()
    WITH = enum.auto()


KEYWORDS = {
    ".": T.DOT, "block": T.BLOCK, "break": T.BREAK, "continue": T.CONTINUE, "define": T.DEFINE,
    "else": T.ELSE, "end": T.END, "if": T.IF, "range": T.RANGE, "nil": T.NIL, "template": T.TEMPLATE,
    "with": T.WITH,
}

LEFT_DELIM, RIGHT_DELIM = "{{", "}}"
LEFT_COMMENT, RIGHT_COMMENT = "/*", "*/"
SPACE_CHARS = " \t\r\n"
_EOF = ""
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]*")


@dataclass
class Item:
    typ: T
    pos: int  # index into the template text
    val: str
    line: int

    def __str__(self) -> str:
        """Go's item.String, used in "unexpected ..." messages."""
        if self.typ == T.EOF:
            return "EOF"
        if self.typ == T.ERROR:
            return self.val
        if self.typ > T.KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return quote(self.val[:10]) + "..."
        return quote(self.val)


def is_space(r: str) -> bool:
    return r != _EOF and r in SPACE_CHARS


def is_alnum(r: str) -> bool:
    return r == "_" or r.isalpha() or r.isdigit()


def _print_ascii(r: str) -> bool:
    return r != _EOF and " " <= r <= "~"


def format_rune(r: str) -> str:
    """Go's %#U: U+0023 '#'."""
    text = f"U+{ord(r):04X}"
    return text + f" '{r}'" if r.isprintable() else text


def _has_left_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] == "-" and s[i + 1] in SPACE_CHARS


def _has_right_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] in SPACE_CHARS and s[i + 1] == "-"


State = Callable[["Lexer"], "State | None"]


class Lexer:
    """Go's lexer with its items queued instead of sent on a channel."""

    def __init__(self, text: str, break_ok: bool = True, continue_ok: bool = True) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.width = 0
        self.line = 1
        self.start_line = 1
        self.paren_depth = 0
        self.break_ok = break_ok
        self.continue_ok = continue_ok
        self.items: deque[Item] = deque()
        self.state: State | None = lex_text

    # --- primitives ------------------------------------------------------------

    def next(self) -> str:
        if self.pos >= len(self.input):
            self.width = 0
            return _EOF
        r = self.input[self.pos]
        self.width = 1
        self.pos += 1
        if r == "\n":
            self.line += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        self.pos -= self.width
        if self.width == 1 and self.input[self.pos] == "\n":
            self.line -= 1

    def emit(self, typ: T) -> None:
        self.items.append(Item(typ, self.start, self.input[self.start : self.pos], self.start_line))
        self.start = self.pos
        self.start_line = self.line

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r != _EOF and r in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            r = self.next()
            if r == _EOF or r not in valid:
                break
        self.backup()

    def skip_word(self) -> None:
        """Consume a run of alphanumerics: ASCII in one step, the rest rune by rune."""
        while True:
            self.pos = _ASCII_WORD.match(self.input, self.pos).end()
            r = self.next()
            if r == _EOF or not is_alnum(r):
                self.backup()
                return

    def errorf(self, msg: str) -> None:
        self.items.append(Item(T.ERROR, self.start, msg, self.start_line))
        return None

    def next_item(self) -> Item:
        while not self.items:
            if self.state is None:
                return Item(T.EOF, self.pos, "", self.line)
            self.state = self.state(self)
        return self.items.popleft()

    def at_right_delim(self) -> tuple[bool, bool]:
        if _has_right_trim(self.input, self.pos) and self.input.startswith(RIGHT_DELIM, self.pos + 2):
            return True, True
        if self.input.startswith(RIGHT_DELIM, self.pos):
            return True, False
        return False, False

    def at_terminator(self) -> bool:
        r = self.peek()
        return is_space(r) or r in (_EOF, ".", ",", "|", ":", ")", "(") or r == RIGHT_DELIM[0]


# --- state functions ---------------------------------------------------------------


def lex_text(lx: Lexer) -> State | None:
    lx.width = 0
    x = lx.input.find(LEFT_DELIM, lx.pos)
    if x >= 0:
        lx.pos = x
        trim = 0
        if _has_left_trim(lx.input, x + len(LEFT_DELIM)):
            segment = lx.input[lx.start : lx.pos]
            trim = len(segment) - len(segment.rstrip(SPACE_CHARS))
        lx.pos -= trim
        if lx.pos > lx.start:
            lx.line += lx.input.count("\n", lx.start, lx.pos)
            lx.emit(T.TEXT)
        lx.pos += trim
        lx.ignore()
        return lex_left_delim
    lx.pos = len(lx.input)
    if lx.pos > lx.start:
        lx.line += lx.input.count("\n", lx.start, lx.pos)
        lx.emit(T.TEXT)
    lx.emit(T.EOF)
    return None


def _skip_leading_space(lx: Lexer) -> None:
    rest = lx.input[lx.pos :]
    lx.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))


def lex_left_delim(lx: Lexer) -> State | None:
    lx.pos += len(LEFT_DELIM)
    trim = _has_left_trim(lx.input, lx.pos)
    after = 2 if trim else 0
    if lx.input.startswith(LEFT_COMMENT, lx.pos + after):
        lx.pos += after
        lx.ignore()
        return lex_comment
    lx.emit(T.LEFT_DELIM)
    lx.pos += after
    lx.ignore()
    lx.paren_depth = 0
    return lex_inside_action


def lex_comment(lx: Lexer) -> State | None:
    lx.pos += len(LEFT_COMMENT)
    i = lx.input.find(RIGHT_COMMENT, lx.pos)
    if i < 0:
        return lx.errorf("unclosed comment")
    lx.pos = i + len(RIGHT_COMMENT)
    delim, trim = lx.at_right_delim()
    if not delim:
        return lx.errorf("comment ends before closing delimiter")
    if trim:
        lx.pos += 2
    lx.pos += len(RIGHT_DELIM)
    if trim:
        _skip_leading_space(lx)
    lx.ignore()
    return lex_text


def lex_right_delim(lx: Lexer) -> State | None:
    trim = _has_right_trim(lx.input, lx.pos)
    if trim:
        lx.pos += 2
        lx.ignore()
    lx.pos += len(RIGHT_DELIM)
    lx.emit(T.RIGHT_DELIM)
    if trim:
        _skip_leading_space(lx)
        lx.ignore()
    return lex_text


def lex_inside_action(lx: Lexer) -> State | None:
    delim, _ = lx.at_right_delim()
    if delim:
        if lx.paren_depth == 0:
            return lex_right_delim
        return lx.errorf("unclosed left paren")
    r = lx.next()
    if r == _EOF:
        return lx.errorf("unclosed action")
    if is_space(r):
        lx.backup()
        return lex_space
    if r == "=":
        lx.emit(T.ASSIGN)
    elif r == ":":
        if lx.next() != "=":
            return lx.errorf("expected :=")
        lx.emit(T.DECLARE)
    elif r == "|":
        lx.emit(T.PIPE)
    elif r == '"':
        return lex_quote
    elif r == "`":
        return lex_raw_quote
    elif r == "$":
        return lex_variable
    elif r == "'":
        return lex_char
    elif r == "." and lx.pos < len(lx.input) and not ("0" <= lx.input[lx.pos] <= "9"):
        return lex_field
    elif r in "+-." or "0" <= r <= "9":
        lx.backup()
        return lex_number
    elif is_alnum(r):
        lx.backup()
        return lex_identifier
    elif r == "(":
        lx.emit(T.LEFT_PAREN)
        lx.paren_depth += 1
    elif r == ")":
        lx.emit(T.RIGHT_PAREN)
        lx.paren_depth -= 1
        if lx.paren_depth < 0:
            return lx.errorf(f"unexpected right paren {format_rune(r)}")
    elif _print_ascii(r):
        lx.emit(T.CHAR)
    else:
        return lx.errorf(f"unrecognized character in action: {format_rune(r)}")
    return lex_inside_action


def lex_space(lx: Lexer) -> State | None:
    spaces = 0
    while is_space(lx.peek()):
        lx.next()
        spaces += 1
    if _has_right_trim(lx.input, lx.pos - 1) and lx.input.startswith(RIGHT_DELIM, lx.pos + 1):
        lx.backup()
        if spaces == 1:
            return lex_right_delim
    lx.emit(T.SPACE)
    return lex_inside_action


def lex_identifier(lx: Lexer) -> State | None:
    lx.skip_word()
    word = lx.input[lx.start : lx.pos]
    if not lx.at_terminator():
        return lx.errorf(f"bad character {format_rune(lx.peek())}")
    keyword = KEYWORDS.get(word)
    if keyword is not None and keyword > T.KEYWORD:
        if (keyword == T.BREAK and not lx.break_ok) or (keyword == T.CONTINUE and not lx.continue_ok):
            lx.emit(T.IDENTIFIER)
        else:
            lx.emit(keyword)
    elif word[0] == ".":
        lx.emit(T.FIELD)
    elif word in ("true", "false"):
        lx.emit(T.BOOL)
    else:
        lx.emit(T.IDENTIFIER)
    return lex_inside_action


def lex_field(lx: Lexer) -> State | None:
    return _lex_field_or_variable(lx, T.FIELD)


def lex_variable(lx: Lexer) -> State | None:
    if lx.at_terminator():
        lx.emit(T.VARIABLE)
        return lex_inside_action
    return _lex_field_or_variable(lx, T.VARIABLE)


def _lex_field_or_variable(lx: Lexer, typ: T) -> State | None:
    if lx.at_terminator():
        lx.emit(T.VARIABLE if typ == T.VARIABLE else T.DOT)
        return lex_inside_action
    lx.skip_word()
    if not lx.at_terminator():
        return lx.errorf(f"bad character {format_rune(lx.peek())}")
    lx.emit(typ)
    return lex_inside_action


def lex_char(lx: Lexer) -> State | None:
    while True:
        r = lx.next()
        if r == "\\":
            r = lx.next()
            if r not in (_EOF, "\n"):
                continue
        if r in (_EOF, "\n"):
            return lx.errorf("unterminated character constant")
        if r == "'":
            break
    lx.emit(T.CHAR_CONSTANT)
    return lex_inside_action


def lex_number(lx: Lexer) -> State | None:
    if not _scan_number(lx):
        return lx.errorf(f"bad number syntax: {quote(lx.input[lx.start : lx.pos])}")
    sign = lx.peek()
    if sign in ("+", "-") and sign != _EOF:
        if not _scan_number(lx) or lx.input[lx.pos - 1] != "i":
            return lx.errorf(f"bad number syntax: {quote(lx.input[lx.start : lx.pos])}")
        lx.emit(T.COMPLEX)
    else:
        lx.emit(T.NUMBER)
    return lex_inside_action


def _scan_number(lx: Lexer) -> bool:
    lx.accept("+-")
    digits = "0123456789_"
    if lx.accept("0"):
        if lx.accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif lx.accept("oO"):
            digits = "01234567_"
        elif lx.accept("bB"):
            digits = "01_"
    lx.accept_run(digits)
    if lx.accept("."):
        lx.accept_run(digits)
    if len(digits) == 10 + 1 and lx.accept("eE"):
        lx.accept("+-")
        lx.accept_run("0123456789_")
    if len(digits) == 16 + 6 + 1 and lx.accept("pP"):
        lx.accept("+-")
        lx.accept_run("0123456789_")
    lx.accept("i")
    r = lx.peek()
    if r != _EOF and is_alnum(r):
        lx.next()
        return False
    return True


def lex_quote(lx: Lexer) -> State | None:
    while True:
        r = lx.next()
        if r == "\\":
            r = lx.next()
            if r not in (_EOF, "\n"):
                continue
        if r in (_EOF, "\n"):
            return lx.errorf("unterminated quoted string")
        if r == '"':
            break
    lx.emit(T.STRING)
    return lex_inside_action


def lex_raw_quote(lx: Lexer) -> State | None:
    while True:
        r = lx.next()
        if r == _EOF:
            return lx.errorf("unterminated raw quoted string")
        if r == "`":
            break
    lx.emit(T.RAW_STRING)
    return lex_inside_action
