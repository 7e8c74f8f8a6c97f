"""Go's fmt.Sprint, Sprintln and Sprintf over template values.

Templates print through fmt: ``{{ $value }}`` is ``fmt.Fprint`` (``%v``) and ``printf``
is ``fmt.Sprintf``, including Go's error forms such as ``%!d(float64=1.5)``.
"""

from __future__ import annotations

from typing import Any

from engine.compat.strconv import can_backquote, format_float, quote, quote_rune, to_bytes

from .errors import TemplateLimitError
from .gotime import time_gostring, time_string
from .limits import MAX_OUTPUT_BYTES
from .values import GoMap, GoStruct, GoTime, Ptr, QueryResult, Uint8, go_type

_TOO_LARGE = 1_000_000
_UNIX_TO_INTERNAL = 62135596800  # seconds from year 1 to 1970, time.Time's internal epoch
_NIL_LOCATION = object()  # the nil *time.Location of a UTC time


def _is_string(v: Any) -> bool:
    return isinstance(v, str)


class _Printer:
    """One fmt.pp: output buffer plus the flags of the verb being printed."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.clear_flags()
        self.erroring = False

    def clear_flags(self) -> None:
        self.sharp = self.zero = self.plus = self.minus = self.space = False
        self.sharp_v = self.plus_v = False
        self.wid = self.prec = 0
        self.wid_present = self.prec_present = False

    # --- padding -------------------------------------------------------------

    def pad(self, s: str) -> None:
        if not self.wid_present or self.wid == 0:
            self.buf.append(s)
            return
        width = self.wid - len(s)
        if width <= 0:
            self.buf.append(s)
        elif self.minus:
            self.buf.append(s + " " * width)
        else:
            self.buf.append(("0" if self.zero else " ") * width + s)

    # --- scalars ---------------------------------------------------------------

    def fmt_bool(self, v: bool, verb: str) -> None:
        if verb in "tv":
            self.pad("true" if v else "false")
        else:
            self.bad_verb(verb, v)

    def fmt_integer(self, v: int, verb: str, signed: bool, arg: Any) -> None:
        if verb in "vd":
            if verb == "v" and self.sharp_v and not signed:
                self.fmt_unsigned_0x(v)
            else:
                self._integer(v, 10, verb, "0123456789abcdefx")
        elif verb == "b":
            self._integer(v, 2, verb, "0123456789abcdefx")
        elif verb in "oO":
            self._integer(v, 8, verb, "0123456789abcdefx")
        elif verb == "x":
            self._integer(v, 16, verb, "0123456789abcdefx")
        elif verb == "X":
            self._integer(v, 16, verb, "0123456789ABCDEFX")
        elif verb == "c":
            self.pad(chr(v) if 0 <= v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF else "\ufffd")
        elif verb == "q":
            self.pad(quote_rune(v, self.plus))
        elif verb == "U":
            self._unicode(v)
        else:
            self.bad_verb(verb, arg)

    def fmt_unsigned_0x(self, v: int) -> None:
        sharp = self.sharp
        self.sharp = True
        self._integer(v, 16, "v", "0123456789abcdefx")
        self.sharp = sharp

    def _integer(self, u: int, base: int, verb: str, digits: str) -> None:
        negative = u < 0
        u = abs(u)
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and u == 0:
                zero, self.zero = self.zero, False
                self.buf.append(" " * self.wid if self.wid_present else "")
                self.zero = zero
                return
        elif self.zero and self.wid_present:
            prec = self.wid
            if negative or self.plus or self.space:
                prec -= 1
        text = ""
        while True:
            text = digits[u % base] + text
            u //= base
            if u == 0:
                break
        text = text.rjust(prec, "0")
        if self.sharp:
            if base == 2:
                text = "0b" + text
            elif base == 8 and text[0] != "0":
                text = "0" + text
            elif base == 16:
                text = "0" + digits[16] + text
        if verb == "O":
            text = "0o" + text
        if negative:
            text = "-" + text
        elif self.plus:
            text = "+" + text
        elif self.space:
            text = " " + text
        zero, self.zero = self.zero, False
        self.pad(text)
        self.zero = zero

    def _unicode(self, u: int) -> None:
        prec = self.prec if self.prec_present and self.prec > 4 else 4
        text = "U+" + f"{u:X}".rjust(prec, "0")
        if self.sharp and 0 <= u <= 0x10FFFF and (chr(u).isprintable() or u == 0x20):
            text += " '" + chr(u) + "'"
        zero, self.zero = self.zero, False
        self.pad(text)
        self.zero = zero

    def fmt_float(self, v: float, verb: str, arg: Any) -> None:
        if verb == "v":
            self._float(v, "g", -1)
        elif verb in "bgGxX":
            self._float(v, verb, -1)
        elif verb in "feE":
            self._float(v, verb, 6)
        elif verb == "F":
            self._float(v, "f", 6)
        else:
            self.bad_verb(verb, arg)

    def _float(self, v: float, verb: str, prec: int) -> None:
        if self.prec_present:
            prec = self.prec
        num = format_float(v, verb, prec)
        num = num if num[0] in "+-" else "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":  # infinities and NaN are never zero padded
            zero, self.zero = self.zero, False
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad(num)
            self.zero = zero
            return
        if self.sharp and verb != "b":
            num = self._sharp_float(num, verb, prec)
        if self.plus or num[0] != "+":
            if self.zero and self.wid_present and self.wid > len(num):
                self.buf.append(num[0] + "0" * (self.wid - len(num)) + num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])

    @staticmethod
    def _sharp_float(num: str, verb: str, prec: int) -> str:
        """%#g and friends keep the decimal point and trailing zeros."""
        digits = 0
        if verb in "vgGx":
            digits = 6 if prec == -1 else prec
        tail = ""
        body = num
        for i in range(1, len(num)):
            c = num[i]
            if c in "pP" or (c in "eE" and verb not in "xX"):
                body, tail = num[:i], num[i:]
                break
        has_point = False
        saw_nonzero = False
        for c in body[1:]:
            if c == ".":
                has_point = True
            elif c.isdigit() or c in "abcdefABCDEFxX":
                if c != "0":
                    saw_nonzero = True
                if saw_nonzero:
                    digits -= 1
        if not has_point:
            if len(body) == 2 and body[1] == "0":
                digits -= 1
            body += "."
        return body + "0" * max(digits, 0) + tail

    def fmt_complex(self, v: complex, verb: str, arg: Any) -> None:
        if verb not in "vbgGxXfFeE":
            self.bad_verb(verb, arg)
            return
        old_plus = self.plus
        self.buf.append("(")
        self.fmt_float(v.real, verb, arg)
        self.plus = True  # the imaginary part always has a sign
        self.fmt_float(v.imag, verb, arg)
        self.buf.append("i)")
        self.plus = old_plus

    def fmt_string(self, s: str, verb: str, arg: Any) -> None:
        if verb == "v":
            if self.sharp_v:
                self._fmt_q(s)
            else:
                self._fmt_s(s)
        elif verb == "s":
            self._fmt_s(s)
        elif verb in "xX":
            self._fmt_sx(s, verb)
        elif verb == "q":
            self._fmt_q(s)
        else:
            self.bad_verb(verb, arg)

    def _fmt_s(self, s: str) -> None:
        if self.prec_present:
            s = s[: self.prec]
        self.pad(s)

    def _fmt_sx(self, s: str, verb: str) -> None:
        data = to_bytes(s)
        digits = "0123456789abcdef" if verb == "x" else "0123456789ABCDEF"
        length = len(data)
        if self.prec_present and self.prec < length:
            length = self.prec
        parts = []
        for i in range(length):
            if self.space and i > 0:
                parts.append(" ")
            if self.sharp and (self.space or i == 0):
                parts.append("0" + verb)
            b = data[i]
            parts.append(digits[b >> 4] + digits[b & 15])
        self.pad("".join(parts))

    def _fmt_q(self, s: str) -> None:
        if self.prec_present:
            s = s[: self.prec]
        if self.sharp and can_backquote(s):
            self.pad("`" + s + "`")
        else:
            self.pad(quote(s, self.plus))

    # --- composite -------------------------------------------------------------

    def bad_verb(self, verb: str, arg: Any) -> None:
        self.erroring = True
        self.buf.append("%!" + verb + "(")
        if arg is not None:
            self.buf.append(go_type(arg) + "=")
            self.print_arg(arg, "v")
        else:
            self.buf.append("<nil>")
        self.buf.append(")")
        self.erroring = False

    def handle_methods(self, arg: Any, verb: str) -> bool:
        """Stringer/GoStringer handling: only time.Time has such methods here."""
        if self.erroring:
            return False
        t = arg.elem if isinstance(arg, Ptr) and isinstance(arg.elem, GoTime) else arg
        if not isinstance(t, GoTime):
            return False
        if self.sharp_v:
            self.buf.append(time_gostring(t.unix_nanos))
            return True
        if verb in "vsxXq":
            self.fmt_string(time_string(t.unix_nanos), verb, arg)
            return True
        return False

    def print_arg(self, arg: Any, verb: str) -> None:
        if arg is None:
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb, arg)
            return
        if verb == "T":
            self._fmt_s(go_type(arg))
            return
        if verb == "p":
            self.fmt_pointer(arg, verb)
            return
        self.print_value(arg, verb, 0)

    def print_value(self, v: Any, verb: str, depth: int) -> None:
        if v is not None and self.handle_methods(v, verb):
            return
        if v is None:
            if depth == 0:
                self.buf.append("<invalid reflect.Value>")
            elif verb == "v":
                self.buf.append("<nil>")
            else:
                self.bad_verb(verb, v)
        elif isinstance(v, bool):
            self.fmt_bool(v, verb)
        elif isinstance(v, int):
            self.fmt_integer(v, verb, not isinstance(v, Uint8), v)
        elif isinstance(v, float):
            self.fmt_float(v, verb, v)
        elif isinstance(v, complex):
            self.fmt_complex(v, verb, v)
        elif isinstance(v, str):
            self.fmt_string(str(v), verb, v)
        elif isinstance(v, GoMap):
            self._print_map(v, verb, depth)
        elif isinstance(v, QueryResult):
            self._print_slice(v, verb, depth)
        elif isinstance(v, GoStruct):
            self._print_struct(v, verb, depth)
        elif isinstance(v, Ptr):
            if depth == 0:
                self.buf.append("&")
                self.print_value(v.elem, verb, depth + 1)
            else:
                self.fmt_pointer(v, verb)
        elif isinstance(v, GoTime):  # a verb String does not serve: Go prints the struct {wall ext loc}
            secs, nanos = divmod(v.unix_nanos, 1_000_000_000)
            self._print_struct(GoStruct("time.Time", {"wall": nanos, "ext": secs + _UNIX_TO_INTERNAL,
                                                      "loc": _NIL_LOCATION}), verb, depth)
        elif v is _NIL_LOCATION:
            if verb == "v":
                self.buf.append("<nil>")
            elif verb in "bodxX":
                self.fmt_integer(0, verb, False, v)
            else:
                self.buf.append(f"%!{verb}(*time.Location=<nil>)")

    def _print_map(self, m: GoMap, verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(m.go_type + "{")
        else:
            self.buf.append("map[")
        for i, key in enumerate(sorted(m)):
            if i:
                self.buf.append(", " if self.sharp_v else " ")
            self.print_value(key, verb, depth + 1)
            self.buf.append(":")
            value = m[key]
            if value is None and self.sharp_v:
                self.buf.append("interface {}(nil)")
            else:
                self.print_value(value, verb, depth + 1)
        self.buf.append("}" if self.sharp_v else "]")

    def _print_slice(self, s: QueryResult, verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(go_type(s) + "{")
        else:
            self.buf.append("[")
        for i, item in enumerate(s):
            if i:
                self.buf.append(", " if self.sharp_v else " ")
            self.print_value(item, verb, depth + 1)
        self.buf.append("}" if self.sharp_v else "]")

    def _print_struct(self, s: GoStruct, verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(s.type_name)
        self.buf.append("{")
        for i, (name, value) in enumerate(s.fields.items()):
            if i:
                self.buf.append(", " if self.sharp_v else " ")
            if self.plus_v or self.sharp_v:
                self.buf.append(name + ":")
            self.print_value(value, verb, depth + 1)
        self.buf.append("}")

    def fmt_pointer(self, v: Any, verb: str) -> None:
        if not isinstance(v, Ptr):
            self.bad_verb(verb, v)
            return
        address = 0xC000000000 + (id(v.elem) & 0xFFFFFFF) * 8
        if verb == "v" and self.sharp_v:
            self.buf.append(f"({go_type(v)})(0x{address:x})")
        elif verb in "vp":
            sharp, self.sharp = self.sharp, not self.sharp
            self._integer(address, 16, "v", "0123456789abcdefx")
            self.sharp = sharp
        elif verb in "bodxX":
            self.fmt_integer(address, verb, False, v)
        else:
            self.bad_verb(verb, v)


def sprint(args: list[Any]) -> str:
    """fmt.Sprint: spaces between operands when neither is a string."""
    p = _Printer()
    prev_string = False
    for i, arg in enumerate(args):
        is_string = _is_string(arg)
        if i > 0 and not is_string and not prev_string:
            p.buf.append(" ")
        p.print_arg(arg, "v")
        prev_string = is_string
    return "".join(p.buf)


def sprintln(args: list[Any]) -> str:
    """fmt.Sprintln: always spaces between operands, newline at the end."""
    p = _Printer()
    for i, arg in enumerate(args):
        if i > 0:
            p.buf.append(" ")
        p.print_arg(arg, "v")
    p.buf.append("\n")
    return "".join(p.buf)


def _parsenum(s: str, i: int, end: int) -> tuple[int, bool, int]:
    num, isnum = 0, False
    while i < end and "0" <= s[i] <= "9":
        if num > _TOO_LARGE or num < -_TOO_LARGE:
            return 0, False, end
        num = num * 10 + int(s[i])
        isnum = True
        i += 1
    return num, isnum, i


def _int_from_arg(args: list[Any], arg_num: int) -> tuple[int, bool, int]:
    if arg_num >= len(args):
        return 0, False, arg_num
    v = args[arg_num]
    if isinstance(v, int) and not isinstance(v, bool) and -_TOO_LARGE <= v <= _TOO_LARGE:
        return v, True, arg_num + 1
    return 0, False, arg_num + 1


def sprintf(fmt: str, args: list[Any]) -> str:
    """fmt.Sprintf with Go's verbs, flags, widths, argument indexes and error forms."""
    p = _Printer()
    end = len(fmt)
    arg_num = 0
    reordered = False
    i = 0
    while i < end:
        good_arg_num = True
        last = i
        while i < end and fmt[i] != "%":
            i += 1
        if i > last:
            p.buf.append(fmt[last:i])
        if i >= end:
            break
        i += 1
        p.clear_flags()
        while i < end:
            c = fmt[i]
            if c == "#":
                p.sharp = True
            elif c == "0":
                p.zero = not p.minus
            elif c == "+":
                p.plus = True
            elif c == "-":
                p.minus = True
                p.zero = False
            elif c == " ":
                p.space = True
            else:
                break
            i += 1

        def arg_number(arg_num: int, i: int) -> tuple[int, int, bool]:
            nonlocal reordered, good_arg_num
            if i >= end or fmt[i] != "[":
                return arg_num, i, False
            reordered = True
            close = fmt.find("]", i + 1)
            if close < 0:
                good_arg_num = False
                return arg_num, i + 1, False
            width, ok, newi = _parsenum(fmt, i + 1, close)
            if not ok or newi != close:
                good_arg_num = False
                return arg_num, close + 1, False
            if 0 <= width - 1 < len(args):
                return width - 1, close + 1, True
            good_arg_num = False
            return arg_num, close + 1, True

        arg_num, i, after_index = arg_number(arg_num, i)
        if i < end and fmt[i] == "*":
            i += 1
            p.wid, p.wid_present, arg_num = _int_from_arg(args, arg_num)
            if not p.wid_present:
                p.buf.append("%!(BADWIDTH)")
            if p.wid < 0:
                p.wid = -p.wid
                p.minus = True
                p.zero = False
            after_index = False
        else:
            p.wid, p.wid_present, i = _parsenum(fmt, i, end)
            if after_index and p.wid_present:
                good_arg_num = False
        if i + 1 < end and fmt[i] == ".":
            i += 1
            if after_index:
                good_arg_num = False
            arg_num, i, after_index = arg_number(arg_num, i)
            if i < end and fmt[i] == "*":
                i += 1
                p.prec, p.prec_present, arg_num = _int_from_arg(args, arg_num)
                if p.prec < 0:
                    p.prec, p.prec_present = 0, False
                if not p.prec_present:
                    p.buf.append("%!(BADPREC)")
                after_index = False
            else:
                p.prec, p.prec_present, i = _parsenum(fmt, i, end)
                if not p.prec_present:
                    p.prec, p.prec_present = 0, True
        if not after_index:
            arg_num, i, after_index = arg_number(arg_num, i)
        if max(p.wid, p.prec) > MAX_OUTPUT_BYTES:  # Go pads up to 10^7 bytes per verb
            raise TemplateLimitError(f"width or precision {max(p.wid, p.prec)} exceeds the limit of "
                                     f"{MAX_OUTPUT_BYTES} bytes")
        if i >= end:
            p.buf.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            p.buf.append("%")
        elif not good_arg_num:
            p.buf.append("%!" + verb + "(BADINDEX)")
        elif arg_num >= len(args):
            p.buf.append("%!" + verb + "(MISSING)")
        else:
            if verb == "v":
                p.sharp_v, p.sharp = p.sharp, False
                p.plus_v, p.plus = p.plus, False
            p.print_arg(args[arg_num], verb)
            arg_num += 1
    if not reordered and arg_num < len(args):
        p.clear_flags()
        p.buf.append("%!(EXTRA ")
        for j, arg in enumerate(args[arg_num:]):
            if j:
                p.buf.append(", ")
            if arg is None:
                p.buf.append("<nil>")
            else:
                p.buf.append(go_type(arg) + "=")
                p.print_arg(arg, "v")
        p.buf.append(")")
    return "".join(p.buf)

