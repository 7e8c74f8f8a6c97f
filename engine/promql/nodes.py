"""The validated expression tree the evaluator walks (immutable, so parsed queries can be cached)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.tsdb.matchers import Matcher

SCALAR = "scalar"
VECTOR = "vector"
MATRIX = "matrix"
STRING = "string"

# The names Prometheus uses for value types in its messages.
DOCUMENTED_TYPE = {SCALAR: "scalar", VECTOR: "instant vector", MATRIX: "range vector", STRING: "string"}

ONE_TO_ONE = "one-to-one"
MANY_TO_ONE = "many-to-one"
ONE_TO_MANY = "one-to-many"
MANY_TO_MANY = "many-to-many"


@dataclass(frozen=True, slots=True)
class NumberLiteral:
    value: float
    type: str = SCALAR


@dataclass(frozen=True, slots=True)
class StringLiteral:
    value: str
    type: str = STRING


# An ``@`` modifier: a time in milliseconds, or the query's own start or end.
AT_START = "start"
AT_END = "end"
At = int | str | None


@dataclass(frozen=True, slots=True)
class VectorSelector:
    matchers: tuple[Matcher, ...]
    offset_ms: int
    at: At = None
    type: str = VECTOR


@dataclass(frozen=True, slots=True)
class MatrixSelector:
    selector: VectorSelector
    range_ms: int
    type: str = MATRIX


@dataclass(frozen=True, slots=True)
class Subquery:
    """``expr[range:step]``; ``step_ms`` 0 is the default evaluation interval."""

    expr: Node
    range_ms: int
    step_ms: int
    offset_ms: int
    at: At = None
    type: str = MATRIX


@dataclass(frozen=True, slots=True)
class Negation:
    expr: Node
    type: str


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Node, ...]
    type: str


@dataclass(frozen=True, slots=True)
class Aggregate:
    op: str
    expr: Node
    param: Node | None
    grouping: tuple[str, ...]
    without: bool
    type: str = VECTOR


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool
    card: str
    on: bool
    matching: tuple[str, ...]
    include: tuple[str, ...]
    type: str


Node = (NumberLiteral | StringLiteral | VectorSelector | MatrixSelector | Subquery | Negation | Call | Aggregate
        | Binary)
