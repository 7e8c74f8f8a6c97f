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


@dataclass(frozen=True, slots=True)
class VectorSelector:
    matchers: tuple[Matcher, ...]
    offset_ms: int
    type: str = VECTOR


@dataclass(frozen=True, slots=True)
class MatrixSelector:
    selector: VectorSelector
    range_ms: int
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


Node = NumberLiteral | StringLiteral | VectorSelector | MatrixSelector | Negation | Call | Aggregate | Binary
