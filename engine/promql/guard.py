"""A linear scan that refuses PromQL text the parser cannot handle safely, before it sees it.

``promql-parser`` 0.12 needs time and memory that grow with the number of nodes times their depth
(an 800-term ``1+1+...`` takes 90 MB, 6,000 nested parentheses abort on 2 GB) and it crashes the
process on very deep trees (a 20,000-term chain segfaults). The scan estimates the tree the parser
would build without parsing: its depth (open brackets plus the operators of each enclosing group,
since an operator chain nests one level per operator) and its cost (the sum of every token's depth,
proportional to the parser's time and memory: measured at up to 180 bytes and 0.45 µs per unit).
String literals and comments are skipped; label matchers inside braces are a flat list and count
as one term.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.promql.errors import BAD_DATA, QueryError

_SPACE = frozenset(" \t\r\n")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.")
_OPERATOR = frozenset("+-*/%^=!<>~")
_KEYWORD_OPERATORS = frozenset(("and", "or", "unless", "atan2"))
_CLOSE = frozenset(")]}")


# ~18 MB and ~45 ms of parsing at most; a 200-term operator chain costs 40,000.
MAX_COST = 100_000


@dataclass(frozen=True)
class Limits:
    """How much PromQL one text may hold (QUERY_MAX_LENGTH, QUERY_MAX_DEPTH).

    ``max_cost`` is not a setting: it follows from the parser's measured cost per unit.
    """

    max_length: int
    max_depth: int
    max_cost: int = MAX_COST


@dataclass(frozen=True)
class Shape:
    """What the scan found: the estimated tree depth and parser cost of an accepted text."""

    depth: int
    cost: int


def _too_complex(what: str) -> QueryError:
    return QueryError(BAD_DATA, f"parse error: query is too complex: {what}")


def _string_end(text: str, i: int) -> int:
    """Index after the string literal opening at ``i`` (the end of text if it is unterminated)."""
    quote = text[i]
    n = len(text)
    i += 1
    if quote == "`":
        j = text.find("`", i)
        return n if j < 0 else j + 1
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == quote:
            return i + 1
        else:
            i += 1
    return n


def check(text: str, limits: Limits) -> Shape:
    """Refuse a text over the limits with ``QueryError(bad_data)`` naming the limit; else its shape."""
    if len(text) > limits.max_length:
        raise _too_complex(f"{len(text)} characters, more than QUERY_MAX_LENGTH={limits.max_length}")
    n = len(text)
    groups: list[list] = [["(", 0]]  # open bracket, operators seen in it (since its last comma)
    level = 0  # open brackets plus the operators of every open group
    deepest = cost = 0
    after_operand = False  # a + or - after an operand is binary, else unary: both nest one level
    i = 0
    while i < n:
        c = text[i]
        if c in _SPACE:
            i += 1
            continue
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        top = groups[-1]
        if top[0] != "{":  # matchers are a flat list: the braces count, not what is inside
            cost += level
        if c in "\"'`":
            i = _string_end(text, i)
            after_operand = True
        elif c in _WORD:
            j = i + 1
            while j < n and text[j] in _WORD:
                j += 1
            word = text[i:j]
            i = j
            if word in _KEYWORD_OPERATORS and after_operand and top[0] != "{":
                top[1] += 1
                level += 1
                after_operand = False
            else:
                after_operand = True
        elif c in _OPERATOR:
            j = i + 1
            while j < n and text[j] in "=~" and text[i] not in "+-*/%^":
                j += 1
            i = j
            if top[0] != "{":
                top[1] += 1
                level += 1
            after_operand = False
        elif c in "([{":
            groups.append([c, 0])
            level += 1
            i += 1
            after_operand = False
        elif c in _CLOSE:
            if len(groups) > 1:
                level -= 1 + groups.pop()[1]
            i += 1
            after_operand = True
        else:  # , @ and anything the parser will reject
            if c == ",":
                level -= top[1]
                top[1] = 0
            i += 1
            after_operand = False
        if level > deepest:
            deepest = level
            if deepest > limits.max_depth:
                raise _too_complex(f"nesting deeper than QUERY_MAX_DEPTH={limits.max_depth} "
                                   "(brackets, and operators chained in one expression)")
        if cost > limits.max_cost:
            raise _too_complex(f"more than {limits.max_cost} units of nesting cost (terms times their depth)")
    return Shape(deepest, cost)
