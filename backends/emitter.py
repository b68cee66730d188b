"""A line buffer for Rust source and the few layout rules of rustfmt the printer relies on.

:class:`Emitter` indents after a line ending in ``{``, ``(`` or ``[`` and dedents before a line
starting with ``}``, ``)`` or ``]`` (mypyc's ``Emitter``). The ``emit_*`` functions lay out
statements the way ``rustfmt --edition 2021`` does with its default widths: 100 columns, an
``if``/``else`` on one line only up to 50 columns, call arguments on one line only up to 60
columns, arrays on one line only up to 60 columns, otherwise one element per line (or several
per line when every element is at most 10 columns wide).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

MAX_WIDTH = 100
IF_ELSE_WIDTH = 50
CALL_ARGS_WIDTH = 60
ARRAY_WIDTH = 60
SHORT_ITEM = 10
INDENT = "    "


class Emitter:
    """Collects lines; the indentation follows the braces."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0

    @property
    def indent(self) -> int:
        return len(INDENT) * self.level

    def line(self, text: str = "") -> None:
        if text[:1] in ("}", ")", "]"):
            self.level -= 1
        self.lines.append(INDENT * self.level + text if text else "")
        if text[-1:] in ("{", "(", "["):
            self.level += 1

    def block(self, text: str) -> None:
        """Append pre-formatted lines (e.g. a helper), each indented to the current level."""
        for raw in text.rstrip("\n").split("\n"):
            self.lines.append(INDENT * self.level + raw if raw else "")

    def getvalue(self) -> str:
        return "\n".join(self.lines) + "\n"


@attrs.frozen
class Array:
    """A borrowed array literal ``&[a, b, c]`` as a call argument."""

    items: tuple[str, ...]

    def flat(self) -> str:
        return "&[" + ", ".join(self.items) + "]"


@attrs.frozen
class Call:
    callee: str
    args: tuple[str | Array, ...]

    def flat(self) -> str:
        return self.callee + "(" + ", ".join(_flat(a) for a in self.args) + ")"


@attrs.frozen
class Binary:
    """``a op b`` with simple operands."""

    left: str
    op: str
    right: str

    def flat(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@attrs.frozen
class Method:
    """``receiver.name(args)`` with simple operands."""

    receiver: str
    name: str
    args: tuple[str, ...]

    def flat(self) -> str:
        return f"{self.receiver}.{self.name}({', '.join(self.args)})"


@attrs.frozen
class IfElse:
    cond: Binary
    then: str
    other: str

    def flat(self) -> str:
        return f"if {self.cond.flat()} {{ {self.then} }} else {{ {self.other} }}"


Expr = str | Binary | Method | Call | IfElse


def _flat(a: str | Array) -> str:
    return a if isinstance(a, str) else a.flat()


def _array_items(e: Emitter, items: Sequence[str], suffix: str, close: str = "]") -> None:
    """The elements of an array (or of a call's arguments) broken over lines, several per line
    when all are short; the opening bracket is already emitted, ``close + suffix`` ends it."""
    width_left = MAX_WIDTH - e.indent
    if all(len(it) <= SHORT_ITEM for it in items):
        cur = ""
        for it in items:
            piece = it + ","
            if not cur:
                cur = piece
            elif len(cur) + 1 + len(piece) < width_left:
                cur += " " + piece
            else:
                e.line(cur)
                cur = piece
        if cur:
            e.line(cur)
    else:
        for it in items:
            e.line(it + ",")
    e.line(close + suffix)


def emit_array(e: Emitter, head: str, items: Sequence[str], tail: str = ";") -> None:
    """``head[a, b, c]tail`` (``head`` such as ``"static A: [u8; 3] = "``) as rustfmt lays out an
    array literal: on one line when its elements take at most 60 columns and the line fits,
    else broken over lines (several elements per line when all are short)."""
    flat = ", ".join(items)
    if len(flat) <= ARRAY_WIDTH and e.indent + len(head) + len(flat) + 2 + len(tail) <= MAX_WIDTH:
        e.line(f"{head}[{flat}]{tail}")
        return
    e.line(head + "[")
    _array_items(e, items, tail)


def _array_fits(a: Array) -> bool:
    return len(", ".join(a.items)) <= ARRAY_WIDTH


def _call_fits(c: Call) -> bool:
    if len(c.args) == 1 and isinstance(c.args[0], Array):
        return _array_fits(c.args[0])  # a lone array argument is measured on its own
    args = ", ".join(_flat(a) for a in c.args)
    return len(args) <= CALL_ARGS_WIDTH and all(_array_fits(a) for a in c.args if isinstance(a, Array))


def _emit_call_broken(e: Emitter, head: str, c: Call, tail: str) -> None:
    """``head`` + the call broken over lines + ``tail`` (e.g. ``";"``)."""
    last = c.args[-1] if c.args else None
    if len(c.args) == 1 and isinstance(last, Array):
        e.line(f"{head}{c.callee}(&[")
        _array_items(e, last.items, ")" + tail)
        return
    e.line(f"{head}{c.callee}(")
    if all(isinstance(a, str) for a in c.args):
        _array_items(e, c.args, tail, close=")")  # type: ignore[arg-type]
        return
    for a in c.args:
        if isinstance(a, Array) and not (_array_fits(a) and e.indent + len(a.flat()) + 1 <= MAX_WIDTH):
            e.line("&[")
            _array_items(e, a.items, ",")
        else:
            e.line(_flat(a) + ",")
    e.line(")" + tail)


def emit_assign(e: Emitter, head: str, rhs: Expr) -> None:
    """``head rhs;`` where ``head`` is ``"let w0 = "`` or ``"y[0] = "``."""
    flat = rhs if isinstance(rhs, str) else rhs.flat()
    one_line = e.indent + len(head) + len(flat) + 1 <= MAX_WIDTH
    if isinstance(rhs, IfElse):
        if one_line and len(flat) <= IF_ELSE_WIDTH:
            e.line(f"{head}{flat};")
        else:
            cond = rhs.cond
            nested = False
            if e.indent + len(head) + len(cond.flat()) + 5 <= MAX_WIDTH:
                e.line(f"{head}if {cond.flat()} {{")
            elif e.indent + len(INDENT) + len(cond.flat()) + 5 < MAX_WIDTH:
                # rustfmt moves the whole `if` to the next line when its head fits there
                e.line(head.rstrip())
                e.level += 1
                e.line(f"if {cond.flat()} {{")
                nested = True
            else:
                e.line(f"{head}if {cond.left}")
                e.line(f"{INDENT}{cond.op} {cond.right}")
                e.lines.append(INDENT * e.level + "{")
                e.level += 1
            e.line(rhs.then)
            e.line("} else {")
            e.line(rhs.other)
            e.line("};")
            if nested:
                e.level -= 1
        return
    if isinstance(rhs, Call) and not _call_fits(rhs):
        _emit_call_broken(e, head, rhs, ";")
        return
    if one_line:
        e.line(f"{head}{flat};")
    elif e.indent + len(INDENT) + len(flat) + 1 <= MAX_WIDTH:
        e.line(head.rstrip())
        e.level += 1
        e.line(flat + ";")
        e.level -= 1
    elif isinstance(rhs, Call):
        _emit_call_broken(e, head, rhs, ";")
    elif isinstance(rhs, Binary):
        e.line(f"{head}{rhs.left}")
        e.line(f"{INDENT}{rhs.op} {rhs.right};")
    elif isinstance(rhs, Method):
        e.line(f"{head}{rhs.receiver}")
        e.line(f"{INDENT}.{rhs.name}({', '.join(rhs.args)});")
    else:
        e.line(f"{head}{flat};")


def emit_call_statement(e: Emitter, call: Call) -> None:
    """``f(a, b, c);`` with rustfmt's vertical layout when the arguments are too wide."""
    if _call_fits(call) and e.indent + len(call.flat()) + 1 <= MAX_WIDTH:
        e.line(call.flat() + ";")
    else:
        _emit_call_broken(e, "", call, ";")


def emit_fn_header(e: Emitter, prefix: str, name: str, params: Sequence[str], ret: str) -> None:
    """``prefix fn name(params) ret {`` on one line, else one parameter per line."""
    flat = f"{prefix}fn {name}({', '.join(params)}){ret} {{"
    if e.indent + len(flat) <= MAX_WIDTH:
        e.line(flat)
        return
    e.line(f"{prefix}fn {name}(")
    for p in params:
        e.line(p + ",")
    e.line(f"){ret} {{")
