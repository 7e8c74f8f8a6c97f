"""Parser for Go text/template (Go 1.19 grammar and error messages).

Prometheus test-parses every label and annotation template when it loads rules;
a template it rejects must be rejected here with the same message.
"""

from __future__ import annotations

import math
from typing import NoReturn

from engine.compat.strconv import parse_float, parse_int, quote, unquote, unquote_char

from .errors import TemplateError
from .lexer import Item, Lexer, T
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
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

_OPERAND_START = {
    T.BOOL, T.CHAR_CONSTANT, T.COMPLEX, T.DOT, T.FIELD, T.IDENTIFIER, T.NUMBER, T.NIL, T.RAW_STRING,
    T.STRING, T.VARIABLE, T.LEFT_PAREN,
}


def _is_empty_tree(node: Node | None) -> bool:
    if node is None:
        return True
    if isinstance(node, ListNode):
        return all(_is_empty_tree(n) for n in node.nodes)
    if isinstance(node, TextNode):
        return not node.text.strip()
    return False


class Parser:
    """Parses one template text into a set of named trees (the main one plus {{define}}s)."""

    def __init__(self, name: str, text: str, funcs: set[str], tree_set: dict[str, ListNode],
                 lexer: Lexer | None = None) -> None:
        self.name = name  # Go's ParseName: errors always name the top-level template
        self.tree_name = name
        self.text = text
        self.funcs = funcs
        self.tree_set = tree_set
        self.lex = lexer or Lexer(text, break_ok="break" not in funcs, continue_ok="continue" not in funcs)
        self.token: list[Item] = [Item(T.EOF, 0, "", 1)] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0
        self.root: ListNode | None = None

    # --- token stream -----------------------------------------------------------

    def next(self) -> Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: Item, t1: Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> Item:
        while True:
            token = self.next()
            if token.typ != T.SPACE:
                return token

    def peek_non_space(self) -> Item:
        token = self.next_non_space()
        self.backup()
        return token

    # --- errors ------------------------------------------------------------------

    def errorf(self, msg: str) -> NoReturn:
        raise TemplateError(f"template: {self.name}:{self.token[0].line}: {msg}")

    def expect(self, expected: T, context: str) -> Item:
        token = self.next_non_space()
        if token.typ != expected:
            self.unexpected(token, context)
        return token

    def unexpected(self, token: Item, context: str) -> NoReturn:
        if token.typ == T.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at {self.name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            self.errorf(f"{token}{extra}")
        self.errorf(f"unexpected {token} in {context}")

    # --- grammar -------------------------------------------------------------------

    def parse(self) -> None:
        """Top level: text, actions and {{define}} blocks up to EOF."""
        self.root = ListNode(self.peek().pos)
        while self.peek().typ != T.EOF:
            if self.peek().typ == T.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == T.DEFINE:
                    sub = Parser("definition", self.text, self.funcs, self.tree_set, self.lex)
                    sub.name = self.name
                    sub.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, (EndNode, ElseNode)):
                self.errorf(f"unexpected {n}")
            self.root.nodes.append(n)
        self.add()

    def add(self) -> None:
        existing = self.tree_set.get(self.tree_name)
        if existing is None or _is_empty_tree(existing):
            self.tree_set[self.tree_name] = self.root
            return
        if not _is_empty_tree(self.root):
            self.errorf(f"template: multiple definition of template {quote(self.tree_name)}")

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (T.STRING, T.RAW_STRING):
            self.unexpected(token, context)
        self.tree_name = self._unquote(token.val)
        self.expect(T.RIGHT_DELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, EndNode):
            self.errorf(f"unexpected {end} in {context}")
        self.add()

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != T.EOF:
            n = self.text_or_action()
            if isinstance(n, (EndNode, ElseNode)):
                return lst, n
            lst.nodes.append(n)
        self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.typ == T.TEXT:
            return TextNode(token.pos, token.val)
        if token.typ == T.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        handlers = {
            T.BLOCK: self.block_control, T.ELSE: self.else_control, T.END: self.end_control,
            T.IF: self.if_control, T.RANGE: self.range_control, T.TEMPLATE: self.template_control,
            T.WITH: self.with_control,
        }
        if token.typ == T.BREAK:
            return self.break_control(token, BreakNode, "break")
        if token.typ == T.CONTINUE:
            return self.break_control(token, ContinueNode, "continue")
        if token.typ in handlers:
            return handlers[token.typ]()
        self.backup()
        token = self.peek()
        return ActionNode(token.pos, token.line, self.pipeline("command", T.RIGHT_DELIM))

    def break_control(self, token: Item, cls: type, word: str) -> Node:
        nxt = self.next_non_space()
        if nxt.typ != T.RIGHT_DELIM:
            self.unexpected(nxt, "{{" + word + "}}")
        if self.range_depth == 0:
            self.errorf("{{" + word + "}} outside {{range}}")
        return cls(token.pos, token.line)

    def pipeline(self, context: str, end: T) -> PipeNode:
        token = self.peek_non_space()
        pipe = PipeNode(token.pos, token.line)
        while True:  # declarations: "$x :=", "$x =", "$i, $e :="
            v = self.peek_non_space()
            if v.typ != T.VARIABLE:
                break
            self.next()
            after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = nxt.typ == T.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val.split(".")))
                self.vars.append(v.val)
            elif nxt.typ == T.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val.split(".")))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            elif after.typ == T.SPACE:
                self.backup3(v, after)
            else:
                self.backup2(v)
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ in _OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(token, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def parse_control(self, allow_else_if: bool, context: str) -> tuple[int, int, PipeNode, ListNode, ListNode | None]:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, T.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, ElseNode):
                if allow_else_if and self.peek().typ == T.IF:
                    # {{if a}}_{{else if b}}_{{end}} is {{if a}}_{{else}}{{if b}}_{{end}}{{end}}.
                    self.next()
                    else_list = ListNode(nxt.pos, [self.if_control()])
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, EndNode):
                        self.errorf(f"expected end; found {nxt}")
            return pipe.pos, pipe.line, pipe, lst, else_list
        finally:
            del self.vars[mark:]

    def if_control(self) -> Node:
        return IfNode(*self.parse_control(True, "if"))

    def range_control(self) -> Node:
        return RangeNode(*self.parse_control(False, "range"))

    def with_control(self) -> Node:
        return WithNode(*self.parse_control(False, "with"))

    def end_control(self) -> Node:
        return EndNode(self.expect(T.RIGHT_DELIM, "end").pos)

    def else_control(self) -> Node:
        peek = self.peek_non_space()
        if peek.typ == T.IF:
            return ElseNode(peek.pos, peek.line)
        token = self.expect(T.RIGHT_DELIM, "else")
        return ElseNode(token.pos, token.line)

    def block_control(self) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.parse_template_name(token, context)
        pipe = self.pipeline(context, T.RIGHT_DELIM)
        block = Parser(name, self.text, self.funcs, self.tree_set, self.lex)
        block.name = self.name
        block.root, end = block.item_list()
        if not isinstance(end, EndNode):
            self.errorf(f"unexpected {end} in {context}")
        block.add()
        return TemplateNode(token.pos, token.line, name, pipe)

    def template_control(self) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.parse_template_name(token, context)
        pipe = None
        if self.next_non_space().typ != T.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, T.RIGHT_DELIM)
        return TemplateNode(token.pos, token.line, name, pipe)

    def parse_template_name(self, token: Item, context: str) -> str:
        if token.typ in (T.STRING, T.RAW_STRING):
            return self._unquote(token.val)
        self.unexpected(token, context)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == T.SPACE:
                continue
            if token.typ in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif token.typ != T.PIPE:
                self.unexpected(token, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == T.FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().typ == T.FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(chain.pos, str(chain)[1:].split("."))
            if isinstance(node, VariableNode):
                return VariableNode(chain.pos, str(chain).split("."))
            if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                self.errorf(f"unexpected . after term {quote(str(node))}")
            return chain
        return node

    def term(self) -> Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == T.IDENTIFIER:
            if token.val not in self.funcs:
                self.errorf(f"function {quote(token.val)} not defined")
            return IdentifierNode(token.pos, token.val)
        if typ == T.DOT:
            return DotNode(token.pos)
        if typ == T.NIL:
            return NilNode(token.pos)
        if typ == T.VARIABLE:
            return self.use_var(token.pos, token.val)
        if typ == T.FIELD:
            return FieldNode(token.pos, token.val[1:].split("."))
        if typ == T.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if typ in (T.CHAR_CONSTANT, T.COMPLEX, T.NUMBER):
            try:
                return new_number(token.pos, token.val, typ)
            except ValueError as e:
                self.errorf(str(e))
        if typ == T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
        if typ in (T.STRING, T.RAW_STRING):
            return StringNode(token.pos, token.val, self._unquote(token.val))
        self.backup()
        return None

    def use_var(self, pos: int, name: str) -> Node:
        v = VariableNode(pos, name.split("."))
        if v.ident[0] not in self.vars:
            self.errorf(f"undefined variable {quote(v.ident[0])}")
        return v

    def _unquote(self, lit: str) -> str:
        try:
            return unquote(lit)
        except ValueError as e:
            self.errorf(str(e))


def _int_of_float(f: float, unsigned: bool) -> int | None:
    """Go's float64(intN(f)) == f test for a float literal."""
    if not math.isfinite(f) or f != int(f):
        return None
    i = int(f)
    lo, hi = (0, 2**64) if unsigned else (-(2**63), 2**63)
    return i if lo <= i < hi else None


def _simplify_complex(n: NumberNode) -> None:
    n.is_float = n.complex128.imag == 0
    if n.is_float:
        n.float64 = n.complex128.real
        i = _int_of_float(n.float64, False)
        u = _int_of_float(n.float64, True)
        n.is_int, n.int64 = i is not None, i or 0
        n.is_uint, n.uint64 = u is not None, u or 0


def new_number(pos: int, text: str, typ: T) -> NumberNode:
    """Go's newNumber: a literal stored as every type that can represent it; ValueError with Go's message."""
    n = NumberNode(pos, text)
    if typ == T.CHAR_CONSTANT:
        r, _, nxt = unquote_char(text, 1, text[0])
        if text[nxt:] != "'":
            raise ValueError(f"malformed character constant: {text}")
        n.int64 = n.uint64 = r
        n.float64 = float(r)
        n.is_int = n.is_uint = n.is_float = True
        return n
    if typ == T.COMPLEX:
        try:
            n.complex128 = complex(text.replace("_", "").replace("i", "j"))
        except ValueError:
            raise ValueError("expected integer") from None
        n.is_complex = True
        _simplify_complex(n)
        return n
    if text.endswith("i"):
        try:
            n.complex128 = complex(0, parse_float(text[:-1]))
            n.is_complex = True
            _simplify_complex(n)
            return n
        except ValueError:
            pass
    try:
        n.uint64 = parse_int(text, unsigned=True)
        n.is_uint = True
    except (ValueError, OverflowError):
        pass
    try:
        n.int64 = parse_int(text)
        n.is_int = True
        if n.int64 == 0:
            n.is_uint, n.uint64 = True, 0
    except (ValueError, OverflowError):
        pass
    if n.is_int:
        n.is_float, n.float64 = True, float(n.int64)
    elif n.is_uint:
        n.is_float, n.float64 = True, float(n.uint64)
    else:
        try:
            f = parse_float(text)
        except ValueError:
            f = None
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise ValueError(f"integer overflow: {quote(text)}")
            n.is_float, n.float64 = True, f
            i, u = _int_of_float(f, False), _int_of_float(f, True)
            if i is not None:
                n.is_int, n.int64 = True, i
            if u is not None:
                n.is_uint, n.uint64 = True, u
    if not (n.is_int or n.is_uint or n.is_float):
        raise ValueError(f"illegal number syntax: {quote(text)}")
    return n
