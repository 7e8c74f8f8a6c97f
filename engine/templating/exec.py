"""Executor for parsed templates, following Go 1.19's text/template exec.go.

Which node is "current" when an error happens decides the ``at <...>`` part of
Go's message, so evaluation order and the points where the current node changes
mirror Go's.
"""

from __future__ import annotations

from typing import Any, NoReturn

from engine.compat.strconv import format_float, quote, to_bytes

from .errors import ExecError, TemplateLimitError
from .funcs import BUILTINS, Func, FuncError, printable
from .gofmt import sprint, sprintf
from .limits import MAX_EXEC_DEPTH, MAX_OUTPUT_BYTES, MAX_STEPS, QUERY_STEPS, utf8_len
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    WithNode,
)
from .promfuncs import PROMETHEUS_FUNCS, TIME_METHODS
from .values import EMPTY_INTERFACE, REFLECT_VALUE, GoMap, GoStruct, GoTime, Ptr, QueryResult, go_type, is_true
from .values import type_kind as _type_kind

_MISSING = object()  # Go's missingVal: "no value was piped in"


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _can_be_nil(typ: str) -> bool:
    return _type_kind(typ) in ("interface", "ptr", "map", "slice", REFLECT_VALUE)


def _zero(typ: str) -> Any:
    return QueryResult() if typ == "template.queryResult" else None


class State:
    """One execution: output, variable stack, the node to blame for errors and what is left of the budget."""

    def __init__(self, trees: dict[str, ListNode], text: str, parse_name: str, env: Any) -> None:
        self.trees = trees
        self.text = text
        self.parse_name = parse_name
        self.env = env
        self.name = parse_name
        self.out: list[str] = []
        self.vars: list[list[Any]] = []
        self.node: Node | None = None
        self.depth = 0
        self.size = 0
        self.steps = 0

    # --- errors ------------------------------------------------------------------

    def at(self, node: Node) -> None:
        self.node = node

    def errorf(self, msg: str, error: type[ExecError] = ExecError) -> NoReturn:
        if self.node is None:
            raise error(f"template: {self.name}: {msg}")
        pos = self.node.pos
        before = self.text[:pos]
        newline = before.rfind("\n")
        col = len(to_bytes(before if newline < 0 else before[newline + 1 :]))
        line = 1 + before.count("\n")
        raise error(f"template: {self.parse_name}:{line}:{col}: executing {quote(self.name)} "
                    f"at <{self.node}>: {msg}")

    # --- budget --------------------------------------------------------------------------

    def spend(self, steps: int) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            self.errorf(f"template execution exceeds the limit of {MAX_STEPS} steps", TemplateLimitError)

    def emit(self, text: str) -> None:
        self.size += utf8_len(text)
        if self.size > MAX_OUTPUT_BYTES:
            self.errorf(f"expansion exceeds the limit of {MAX_OUTPUT_BYTES} bytes", TemplateLimitError)
        self.out.append(text)

    # --- variables ---------------------------------------------------------------------

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, value: Any) -> None:
        for var in reversed(self.vars):
            if var[0] == name:
                var[1] = value
                return
        self.errorf(f"undefined variable: {name}")

    def var_value(self, name: str) -> Any:
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        self.errorf(f"undefined variable: {name}")

    # --- walking -------------------------------------------------------------------------

    def walk(self, dot: Any, node: Node) -> None:
        self.at(node)
        self.spend(1)
        walker = _WALKERS.get(type(node))
        if walker is None:
            self.errorf(f"unknown node: {node}")
        walker(self, dot, node)

    def walk_action(self, dot: Any, node: ActionNode) -> None:
        val = self.eval_pipeline(dot, node.pipe)
        if not node.pipe.decl:
            if type(val) is str:  # the common cases, printed without the general printer
                self.emit(val)
            elif type(val) is float:
                self.emit(format_float(val, "g", -1))
            else:
                self.emit(sprint([printable(val)]))

    def walk_list(self, dot: Any, node: ListNode) -> None:
        for n in node.nodes:
            self.walk(dot, n)

    def walk_text(self, dot: Any, node: TextNode) -> None:
        self.emit(node.text)

    def walk_break(self, dot: Any, node: BreakNode) -> None:
        raise _Break

    def walk_continue(self, dot: Any, node: ContinueNode) -> None:
        raise _Continue

    def walk_if(self, dot: Any, node: IfNode) -> None:
        self.walk_if_or_with(False, dot, node)

    def walk_with(self, dot: Any, node: WithNode) -> None:
        self.walk_if_or_with(True, dot, node)

    def walk_if_or_with(self, is_with: bool, dot: Any, node: IfNode | WithNode) -> None:
        mark = self.mark()
        try:
            val = self.eval_pipeline(dot, node.pipe)
            if is_true(val):
                self.walk(val if is_with else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(mark)

    def walk_range(self, dot: Any, r: RangeNode) -> None:
        self.at(r)
        outer = self.mark()
        try:
            val = self.eval_pipeline(dot, r.pipe)
            if isinstance(val, Ptr):
                val = val.elem
            mark = self.mark()

            def one_iteration(index: Any, elem: Any) -> None:
                if r.pipe.decl:
                    self.vars[mark - 1][1] = elem
                if len(r.pipe.decl) > 1:
                    self.vars[mark - 2][1] = index
                try:
                    self.walk(elem, r.list)
                except _Continue:
                    pass
                finally:
                    self.pop(mark)

            try:
                if isinstance(val, QueryResult) and val:
                    for i, elem in enumerate(list(val)):
                        one_iteration(i, elem)
                    return
                if isinstance(val, GoMap) and val:
                    for key in sorted(val, key=to_bytes):
                        one_iteration(key, val[key])
                    return
            except _Break:
                return
            if val is not None and not isinstance(val, (QueryResult, GoMap)):
                self.errorf(f"range can't iterate over {sprintf('%v', [val])}")
            if r.else_list is not None:
                self.walk(dot, r.else_list)
        finally:
            self.pop(outer)

    def walk_template(self, dot: Any, t: TemplateNode) -> None:
        self.at(t)
        tree = self.trees.get(t.name)
        if tree is None:
            self.errorf(f"template {quote(t.name)} not defined")
        if self.depth == MAX_EXEC_DEPTH:
            self.errorf(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
        dot = self.eval_pipeline(dot, t.pipe)
        saved = (self.name, self.vars, self.depth)
        self.name, self.vars, self.depth = t.name, [["$", dot]], self.depth + 1
        try:
            self.walk(dot, tree)
        except RecursionError:
            # Python's stack ends long before Go's limit; report it as Go does at the limit.
            self.name, self.vars, self.depth = saved
            self.at(t)
            self.errorf(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
        finally:
            self.name, self.vars, self.depth = saved

    # --- evaluation ------------------------------------------------------------------------

    def eval_pipeline(self, dot: Any, pipe: PipeNode | None) -> Any:
        if pipe is None:
            return None
        self.at(pipe)
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.vars.append([var.ident[0], value])
        return value

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            self.errorf("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        self.errorf(f"can't evaluate command {quote(str(first))}")

    def ideal_constant(self, c: NumberNode) -> Any:
        self.at(c)
        text = c.text
        is_hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(ch in text for ch in "pP")
        if c.is_complex:
            return c.complex128
        if c.is_float and not is_hex_int and not text.startswith("'") and any(ch in text for ch in ".eEpP"):
            return c.float64
        if c.is_int:
            return c.int64
        if c.is_uint:
            self.errorf(f"{text} overflows int")
        return None

    def eval_field_node(self, dot: Any, field: FieldNode, args: list[Node] | None, final: Any) -> Any:
        self.at(field)
        return self.eval_field_chain(dot, dot, field, field.ident, args, final)

    def eval_chain_node(self, dot: Any, chain: ChainNode, args: list[Node] | None, final: Any) -> Any:
        self.at(chain)
        if isinstance(chain.node, NilNode):
            self.errorf(f"indirection through explicit nil in {chain}")
        pipe = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, pipe, chain, chain.fields, args, final)

    def eval_variable_node(self, dot: Any, var: VariableNode, args: list[Node] | None, final: Any) -> Any:
        self.at(var)
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args or [var], final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(self, dot: Any, receiver: Any, node: Node, ident: list[str], args: list[Node] | None,
                         final: Any) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, None, _MISSING, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_function(self, dot: Any, node: IdentifierNode, cmd: Node, args: list[Node] | None, final: Any) -> Any:
        self.at(node)
        name = node.ident
        if name in PROMETHEUS_FUNCS:
            return self.eval_call(dot, PROMETHEUS_FUNCS[name], False, cmd, name, args, final)
        return self.eval_call(dot, BUILTINS[name], True, cmd, name, args, final)

    def eval_field(self, dot: Any, name: str, node: Node, args: list[Node] | None, final: Any, receiver: Any) -> Any:
        if receiver is None:
            return None
        typ = go_type(receiver)
        target = receiver.elem if isinstance(receiver, Ptr) else receiver
        if isinstance(target, GoTime) and name in TIME_METHODS:
            return self.eval_call(dot, TIME_METHODS[name], False, node, name, args, final, target)
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(target, GoStruct) and name in target.fields:
            if has_args:
                self.errorf(f"{name} has arguments but cannot be invoked as function")
            return target.fields[name]
        if isinstance(target, GoMap):
            if has_args:
                self.errorf(f"{name} is not a method but has arguments")
            return target.get(name, target.zero())
        self.errorf(f"can't evaluate field {name} in type {typ}")

    def eval_call(self, dot: Any, fn: Func, is_builtin: bool, node: Node, name: str, args: list[Node] | None,
                  final: Any, receiver: Any = _MISSING) -> Any:
        args = args[1:] if args is not None else []
        num_in = len(args) + (final is not _MISSING)
        num_fixed = len(args)
        if fn.variadic is not None:
            num_fixed = len(fn.params)
            if num_in < num_fixed:
                self.errorf(f"wrong number of args for {name}: want at least {len(fn.params)} got {len(args)}")
        elif num_in != len(fn.params):
            self.errorf(f"wrong number of args for {name}: want {len(fn.params)} got {num_in}")
        if is_builtin and name in ("and", "or"):
            return self.eval_and_or(dot, name, args, final)
        argv = [self.eval_arg(dot, fn.params[i], args[i]) for i in range(min(num_fixed, len(args)))]
        argv += [self.eval_arg(dot, fn.variadic, a) for a in args[len(argv):]] if fn.variadic is not None else []
        if final is not _MISSING:
            if fn.variadic is None or num_in - 1 < num_fixed:
                t = fn.params[num_in - 1]
            else:
                t = fn.variadic
            argv.append(self.validate_type(final, t))
        if receiver is not _MISSING:
            argv.insert(0, receiver)
        if fn.uses_env:
            argv.insert(0, self.env)
        self.spend(QUERY_STEPS if name == "query" else 1)
        try:
            result = fn.impl(*argv)
        except TemplateLimitError as e:
            self.at(node)
            self.errorf(f"error calling {name}: {e}", TemplateLimitError)
        except FuncError as e:
            self.at(node)
            self.errorf(f"error calling {name}: {e}")
        if type(result) is str and utf8_len(result) > MAX_OUTPUT_BYTES:
            self.at(node)
            self.errorf(f"error calling {name}: its result exceeds the limit of {MAX_OUTPUT_BYTES} bytes",
                        TemplateLimitError)
        return result

    def eval_and_or(self, dot: Any, name: str, args: list[Node], final: Any) -> Any:
        """and/or evaluate arguments only until the result is known."""
        v = None
        for arg in args:
            v = self.eval_arg(dot, REFLECT_VALUE, arg)
            if is_true(v) == (name == "or"):
                return v
        if final is not _MISSING:
            v = self.validate_type(final, REFLECT_VALUE)
        return v

    def validate_type(self, value: Any, typ: str | None) -> Any:
        if value is None:
            if typ is None:
                return None
            if _can_be_nil(typ):
                return _zero(typ)
            self.errorf(f"invalid value; expected {typ}")
        if typ is None or typ in (REFLECT_VALUE, EMPTY_INTERFACE) or go_type(value) == typ:
            return value
        if isinstance(value, Ptr) and go_type(value.elem) == typ:
            return value.elem
        self.errorf(f"wrong type for value; expected {typ}; got {go_type(value)}")

    def eval_arg(self, dot: Any, typ: str | None, n: Node) -> Any:
        self.at(n)
        if isinstance(n, DotNode):
            return self.validate_type(dot, typ)
        if isinstance(n, NilNode):
            if typ is not None and _can_be_nil(typ):
                return _zero(typ)
            self.errorf(f"cannot assign nil to {typ}")
        if isinstance(n, FieldNode):
            return self.validate_type(self.eval_field_node(dot, n, [n], _MISSING), typ)
        if isinstance(n, VariableNode):
            return self.validate_type(self.eval_variable_node(dot, n, None, _MISSING), typ)
        if isinstance(n, PipeNode):
            return self.validate_type(self.eval_pipeline(dot, n), typ)
        if isinstance(n, IdentifierNode):
            return self.validate_type(self.eval_function(dot, n, n, None, _MISSING), typ)
        if isinstance(n, ChainNode):
            return self.validate_type(self.eval_chain_node(dot, n, None, _MISSING), typ)
        kind = _type_kind(typ or "")
        if kind == "bool":
            if isinstance(n, BoolNode):
                return n.value
            self.errorf(f"expected bool; found {n}")
        if kind == "float":
            if isinstance(n, NumberNode) and n.is_float:
                return n.float64
            self.errorf(f"expected float; found {n}")
        if kind == "int":
            if isinstance(n, NumberNode) and n.is_int:
                return n.int64
            self.errorf(f"expected integer; found {n}")
        if kind == "string":
            if isinstance(n, StringNode):
                return n.text
            self.errorf(f"expected string; found {n}")
        if kind in ("interface", REFLECT_VALUE):
            return self.eval_empty_interface(n)
        self.errorf(f"can't handle {n} for arg of type {typ}")

    def eval_empty_interface(self, n: Node) -> Any:
        self.at(n)
        if isinstance(n, BoolNode):
            return n.value
        if isinstance(n, NumberNode):
            return self.ideal_constant(n)
        if isinstance(n, StringNode):
            return n.text
        self.errorf(f"can't handle assignment of {n} to empty interface argument")


_WALKERS = {
    ActionNode: State.walk_action, IfNode: State.walk_if, WithNode: State.walk_with, ListNode: State.walk_list,
    RangeNode: State.walk_range, TemplateNode: State.walk_template, TextNode: State.walk_text,
    BreakNode: State.walk_break, ContinueNode: State.walk_continue,
}


def execute(trees: dict[str, ListNode], name: str, text: str, data: Any, env: Any) -> str:
    """Run template ``name`` with dot = data; ``env`` feeds the query/externalURL functions."""
    state = State(trees, text, name, env)
    state.vars = [["$", data]]
    state.walk(data, trees[name])
    return "".join(state.out)
