"""Go text/template's builtin functions (Go 1.19) and the function-signature model.

Go checks argument types against each function's signature and words its
errors from them, so every function declares its Go parameter types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as _urlquote

from engine.compat.strconv import from_bytes, to_bytes

from .gofmt import sprint, sprintf, sprintln
from .values import (
    EMPTY_INTERFACE,
    REFLECT_VALUE,
    GoMap,
    GoStruct,
    GoTime,
    Ptr,
    QueryResult,
    Uint8,
    go_type,
    is_true,
    kind,
)


class FuncError(Exception):
    """The error a Go template function returns; execution reports ``error calling <name>: <msg>``."""


@dataclass(frozen=True)
class Func:
    """A callable with its Go signature: fixed parameter types plus an optional variadic element type."""

    params: tuple[str, ...]
    impl: Callable[..., Any]
    variadic: str | None = None
    uses_env: bool = False  # impl receives the template data first (query, external URL)


def printable(v: Any) -> Any:
    """text/template's printableValue: pointers are followed, nothing prints as <no value>."""
    if isinstance(v, Ptr):
        v = v.elem
    return "<no value>" if v is None else v


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and go_type(args[0]) == "string":
        return args[0]
    return sprint([printable(a) for a in args])


def html_escape(*args: Any) -> str:
    s = _eval_args(args)
    table = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\x00": "\ufffd"}
    return "".join(table.get(c, c) for c in s)


def js_escape(*args: Any) -> str:
    out = []
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}
    for c in _eval_args(args):
        if c in table:
            out.append(table[c])
        elif c < " ":
            out.append(f"\\u{ord(c):04X}")
        elif ord(c) < 0x80 or c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04X}")
    return "".join(out)


def query_escape(s: str) -> str:
    """url.QueryEscape."""
    return _urlquote(to_bytes(s), safe="-_.~").replace("%20", "+")


def urlquery(*args: Any) -> str:
    return query_escape(_eval_args(args))


def _index_arg(index: Any, cap: int) -> int:
    k = kind(index)
    if k in ("int", "uint"):
        x = index
    elif k == "invalid":
        raise FuncError("cannot index slice/array with nil")
    else:
        raise FuncError(f"cannot index slice/array with type {go_type(index)}")
    if x < 0 or x > cap:
        raise FuncError(f"index out of range: {x}")
    return x


def _indirect(v: Any) -> Any:
    return v.elem if isinstance(v, Ptr) else v


def index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise FuncError("index of untyped nil")
    for idx in indexes:
        item = _indirect(item)
        if isinstance(item, (str, QueryResult)):
            seq = to_bytes(item) if isinstance(item, str) else item
            x = _index_arg(idx, len(seq))
            if x == len(seq):
                raise FuncError(f"index out of range: {x}")
            item = Uint8(seq[x]) if isinstance(item, str) else seq[x]
        elif isinstance(item, GoMap):
            if idx is None:
                raise FuncError("value is nil; should be of type string")
            if go_type(idx) != "string":
                raise FuncError(f"value has type {go_type(idx)}; should be string")
            item = item.get(idx, item.zero())
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def slice_(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        seq: Any = to_bytes(item)
    elif isinstance(item, QueryResult):
        seq = item
    else:
        raise FuncError(f"can't slice item of type {go_type(item)}")
    idx = [0, len(seq), len(seq)]
    for i, x in enumerate(indexes):
        idx[i] = _index_arg(x, len(seq))
    if idx[0] > idx[1]:
        raise FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = seq[idx[0] : idx[1]]
    return from_bytes(part) if isinstance(item, str) else QueryResult(part)


def length(item: Any) -> int:
    item = _indirect(item)
    if isinstance(item, str):
        return len(to_bytes(item))
    if isinstance(item, (GoMap, QueryResult)):
        return len(item)
    if item is None:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    raise FuncError(f"len of type {go_type(item)}")


def call(fn: Any, *args: Any) -> Any:
    if fn is None:
        raise FuncError("call of nil")
    raise FuncError(f"non-function of type {go_type(fn)}")


def not_(arg: Any) -> bool:
    return not is_true(arg)


# --- comparison ---------------------------------------------------------------

_BASIC = {"bool", "int", "uint", "float", "complex", "string"}


def _basic_kind(v: Any) -> str:
    k = kind(v)
    return k if k in _BASIC else "invalid"


def _comparable(v: Any) -> bool:
    return not isinstance(v, (GoMap, QueryResult)) and not (
        isinstance(v, GoStruct) and any(isinstance(f, GoMap) for f in v.fields.values()))


def eq(arg1: Any, *arg2: Any) -> bool:
    if not arg2:
        raise FuncError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in arg2:
        k2 = _basic_kind(arg)
        truth = False
        if k1 != k2:
            if {k1, k2} == {"int", "uint"}:
                truth = arg1 == arg
            elif arg1 is not None and arg is not None:
                raise FuncError("incompatible types for comparison")
        elif k1 != "invalid":
            truth = arg1 == arg
        elif arg1 is None or arg is None:
            truth = arg1 is None and arg is None
        elif kind(arg1) != kind(arg):
            raise FuncError(sprintf("non-comparable types %s: %v, %s: %v", [arg1, go_type(arg1), go_type(arg), arg]))
        elif not _comparable(arg):
            raise FuncError(sprintf("non-comparable type %s: %v", [arg, go_type(arg)]))
        else:
            truth = arg1 is arg or (isinstance(arg1, GoTime) and isinstance(arg, GoTime)
                                    and arg1.unix_nanos == arg.unix_nanos)
        if truth:
            return True
    return False


def ne(arg1: Any, arg2: Any) -> bool:
    return not eq(arg1, arg2)


def lt(arg1: Any, arg2: Any) -> bool:
    k1 = _basic_kind(arg1)
    if k1 == "invalid":
        raise FuncError("invalid type for comparison")
    k2 = _basic_kind(arg2)
    if k2 == "invalid":
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        if {k1, k2} == {"int", "uint"}:
            return arg1 < arg2
        raise FuncError("incompatible types for comparison")
    if k1 in ("bool", "complex"):
        raise FuncError("invalid type for comparison")
    if k1 == "string":
        return to_bytes(arg1) < to_bytes(arg2)
    return arg1 < arg2


def le(arg1: Any, arg2: Any) -> bool:
    return lt(arg1, arg2) or eq(arg1, arg2)


def gt(arg1: Any, arg2: Any) -> bool:
    return not le(arg1, arg2)


def ge(arg1: Any, arg2: Any) -> bool:
    return not lt(arg1, arg2)


def _printf(fmt: str, *args: Any) -> str:
    return sprintf(fmt, list(args))


RV = REFLECT_VALUE
BUILTINS: dict[str, Func] = {
    "and": Func((RV,), lambda *a: a[-1], variadic=RV),  # short-circuit handled by the executor
    "or": Func((RV,), lambda *a: a[-1], variadic=RV),
    "call": Func((RV,), call, variadic=RV),
    "html": Func((), html_escape, variadic=EMPTY_INTERFACE),
    "index": Func((RV,), index, variadic=RV),
    "slice": Func((RV,), slice_, variadic=RV),
    "js": Func((), js_escape, variadic=EMPTY_INTERFACE),
    "len": Func((RV,), length),
    "not": Func((RV,), not_),
    "print": Func((), lambda *a: sprint(list(a)), variadic=EMPTY_INTERFACE),
    "printf": Func(("string",), _printf, variadic=EMPTY_INTERFACE),
    "println": Func((), lambda *a: sprintln(list(a)), variadic=EMPTY_INTERFACE),
    "urlquery": Func((), urlquery, variadic=EMPTY_INTERFACE),
    "eq": Func((RV,), eq, variadic=RV),
    "ge": Func((RV, RV), ge),
    "gt": Func((RV, RV), gt),
    "le": Func((RV, RV), le),
    "lt": Func((RV, RV), lt),
    "ne": Func((RV, RV), ne),
}
