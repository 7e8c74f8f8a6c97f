"""Python stand-ins for the Go values a Prometheus alert template sees.

Go's messages name types ("wrong type for value; expected string; got float64")
and Go prints values by type, so every value carries its Go type:

- ``None`` is an untyped nil (an invalid reflect.Value or a nil interface).
- ``bool``/``int``/``float``/``complex``/``str`` are bool, int, float64, complex128, string.
- :class:`Uint8` is a byte (indexing a string yields one).
- :class:`HTML` is html/template.HTML (what ``safeHtml`` returns).
- :class:`GoMap`, :class:`QueryResult`, :class:`GoStruct`, :class:`Ptr`, :class:`GoTime`
  stand for maps, ``template.queryResult``, structs, pointers and time.Time.
"""

from __future__ import annotations

from typing import Any

EMPTY_INTERFACE = "interface {}"
REFLECT_VALUE = "reflect.Value"


class Uint8(int):
    """A Go byte."""


class HTML(str):
    """html/template.HTML: a string type of its own."""


class GoMap(dict):
    """A Go map with string keys; missing keys read as the element type's zero value."""

    def __init__(self, items: dict[str, Any], elem_type: str = "string") -> None:
        super().__init__(items)
        self.elem_type = elem_type

    @property
    def go_type(self) -> str:
        return f"map[string]{self.elem_type}"

    def zero(self) -> Any:
        return "" if self.elem_type == "string" else None


class QueryResult(list):
    """template.queryResult: []*template.sample."""


class GoStruct:
    """A Go struct value with exported fields in declaration order."""

    def __init__(self, type_name: str, fields: dict[str, Any]) -> None:
        self.type_name = type_name
        self.fields = fields


class Ptr:
    """A non-nil pointer to a struct or time.Time (``*template.sample``, ``*time.Time``)."""

    def __init__(self, elem: Any) -> None:
        self.elem = elem


class GoTime:
    """time.Time in UTC, as Unix nanoseconds."""

    def __init__(self, unix_nanos: int) -> None:
        self.unix_nanos = unix_nanos


SAMPLE_TYPE = "template.sample"


def new_sample(labels: dict[str, str], value: float) -> Ptr:
    """A ``*template.sample`` as Prometheus builds from a query result."""
    return Ptr(GoStruct(SAMPLE_TYPE, {"Labels": GoMap(dict(labels)), "Value": float(value)}))


def go_type(v: Any) -> str:
    """reflect.TypeOf(v).String(); ``<nil>`` for untyped nil."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Uint8):
        return "uint8"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, HTML):
        return "template.HTML"
    if isinstance(v, str):
        return "string"
    if isinstance(v, GoMap):
        return v.go_type
    if isinstance(v, QueryResult):
        return "template.queryResult"
    if isinstance(v, GoStruct):
        return v.type_name
    if isinstance(v, GoTime):
        return "time.Time"
    if isinstance(v, Ptr):
        return "*" + go_type(v.elem)
    raise TypeError(f"not a template value: {v!r}")


def kind(v: Any) -> str:
    """reflect.Kind name of a value."""
    if v is None:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Uint8):
        return "uint"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    if isinstance(v, GoMap):
        return "map"
    if isinstance(v, QueryResult):
        return "slice"
    if isinstance(v, (GoStruct, GoTime)):
        return "struct"
    return "ptr"


def type_kind(type_name: str) -> str:
    """reflect.Kind of a parameter type used by the template functions."""
    if type_name in ("string", "bool", "int"):
        return type_name
    if type_name == "float64":
        return "float"
    if type_name == EMPTY_INTERFACE:
        return "interface"
    if type_name == REFLECT_VALUE:
        return "reflect.Value"
    if type_name.startswith("*"):
        return "ptr"
    if type_name.startswith("map["):
        return "map"
    if type_name == "template.queryResult":
        return "slice"
    return "struct"


def is_true(v: Any) -> bool:
    """Go template truth: the zero value of a type is false."""
    if v is None:
        return False
    if isinstance(v, (bool, int, float, complex)):
        return v != 0
    if isinstance(v, (str, GoMap, QueryResult)):
        return len(v) > 0
    return True
