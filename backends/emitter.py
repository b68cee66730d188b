"""A line buffer for Rust source and the layout rules of rustfmt the printers rely on.

:class:`Emitter` indents after a line ending in ``{``, ``(`` or ``[`` and dedents before a line
starting with ``}``, ``)`` or ``]`` (mypyc's ``Emitter``). The ``emit_*`` functions lay out
statements the way ``rustfmt --edition 2021`` does with its default widths: 100 columns, an
``if``/``else`` on one line only up to 50 columns, call arguments on one line only up to 60
columns (a single argument: as long as the line fits), arrays on one line only up to 60
columns, a method chain of several calls on one line only up to 60 columns, otherwise one
element per line (or several per line when every element is at most 10 columns wide).

Expressions are trees of :class:`Call` (a function or a macro: a callee ending in ``!``),
:class:`Array` (``&[..]``), :class:`Chain` (``root.a(..).b(..)``), :class:`Binary`,
:class:`Match` and plain text; :func:`rewrite` lays one out in a :class:`Shape` the way rustfmt's
``overflow``, ``chains`` and ``pairs`` modules do (the last argument of a one-argument call
overflows, a call whose arguments do not fit puts one per line, a chain that does not fit puts
one call per line), returning ``None`` when it cannot fit (rustfmt then keeps the statement as
written, which the ``emit_*`` functions print flat). :func:`emit_assign` chooses between the
right-hand side on the line of ``let x =`` and on the next line as rustfmt's ``choose_rhs`` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

MAX_WIDTH = 100
IF_ELSE_WIDTH = 50
CALL_ARGS_WIDTH = 60
ARRAY_WIDTH = 60
#: rustfmt's ``chain_width``: a chain of several calls up to this long stays on one line
CHAIN_WIDTH = 60
SHORT_ITEM = 10
INDENT = "    "
TAB = len(INDENT)


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
    """An array literal ``&[a, b, c]`` (``[a, b, c]`` when not ``borrowed``)."""

    items: tuple[str, ...]
    borrowed: bool = True

    def flat(self) -> str:
        return ("&[" if self.borrowed else "[") + ", ".join(self.items) + "]"


@attrs.frozen
class Call:
    """``callee(args)``; a callee ending in ``!`` is a macro (no trailing comma inside it)."""

    callee: str
    args: tuple[Node, ...]

    def flat(self) -> str:
        return self.callee + "(" + ", ".join(_flat(a) for a in self.args) + ")"


@attrs.frozen
class Chain:
    """``root.name(args)...``: a method chain (each link a :class:`Call` named without the dot)."""

    root: str
    links: tuple[Call, ...]

    def flat(self) -> str:
        return self.root + "".join("." + link.flat() for link in self.links)


@attrs.frozen
class Binary:
    """``a op b``."""

    left: Node
    op: str
    right: Node

    def flat(self) -> str:
        return f"{_flat(self.left)} {self.op} {_flat(self.right)}"


@attrs.frozen
class Method:
    """``receiver.name(args)`` with simple operands."""

    receiver: str
    name: str
    args: tuple[str, ...]

    def flat(self) -> str:
        return f"{self.receiver}.{self.name}({', '.join(self.args)})"


@attrs.frozen
class Match:
    """``match scrutinee { arms }`` (each arm one line, with its comma)."""

    scrutinee: Node
    arms: tuple[str, ...]

    def flat(self) -> str:
        return f"match {_flat(self.scrutinee)} {{ {' '.join(self.arms)} }}"


@attrs.frozen
class IfElse:
    cond: Binary
    then: str
    other: str

    def flat(self) -> str:
        return f"if {self.cond.flat()} {{ {self.then} }} else {{ {self.other} }}"


Node = str | Array | Call | Chain | Binary | Method | Match | IfElse
Expr = Node


def _flat(a: Node) -> str:
    return a if isinstance(a, str) else a.flat()


# ---- rustfmt's layout of an expression in a shape ------------------------------------------------
@attrs.frozen
class Shape:
    """Where an expression goes: ``indent`` is the block indentation of its continuation lines,
    ``offset`` the column of its first character, ``width`` the columns left on its first line."""

    indent: int
    offset: int
    width: int

    @classmethod
    def line(cls, indent: int, overhead: int = 0, used: int = 0) -> Shape:
        """At column ``indent + used`` of a line whose last ``overhead`` columns are taken."""
        return cls(indent, indent + used, MAX_WIDTH - indent - used - overhead)

    @property
    def overhead(self) -> int:
        return MAX_WIDTH - self.offset - self.width

    def left(self, n: int) -> Shape:
        return Shape(self.indent, self.offset + n, self.width - n)

    def nested(self, overhead: int) -> Shape:
        """One block deeper, on a line of its own."""
        return Shape.line(self.indent + TAB, overhead)


_SIMPLE = re.compile(
    r"(&(mut )?|-)?([A-Za-z_][A-Za-z0-9_]*|[0-9][0-9A-Za-z_.]*|\"[^\"\\]*\")(\[[A-Za-z0-9_]+\])?"
)


#: macros rustfmt lays out like ``format!`` (never several arguments per line)
_FORMAT_MACROS = frozenset({"assert!", "assert_eq!", "assert_ne!", "write!", "writeln!", "format!", "panic!"})


def _simple(a: Node) -> bool:
    """rustfmt's ``is_simple_expr``: a literal, a one-segment path, a reference to or an index
    of one."""
    return isinstance(a, str) and _SIMPLE.fullmatch(a) is not None


def _overflows(a: Node) -> bool:
    """rustfmt's ``can_be_overflowed_expr`` for the single argument of a call."""
    return isinstance(a, (Call, Array, Chain, Match))


def _nested_call(a: Node) -> bool:
    return isinstance(a, Call)


def _one_line(a: Node) -> str | None:
    """The text of ``a`` when rustfmt certainly keeps it on one line wherever the line has room
    for it (every argument list within its width limit), else ``None``: a shortcut past
    :func:`rewrite` for the common short statement."""
    if isinstance(a, str):
        return a
    if isinstance(a, (Call, Array)):
        parts = [_one_line(x) for x in a.args] if isinstance(a, Call) else list(a.items)
        if any(x is None for x in parts):
            return None
        joined = ", ".join(x for x in parts if x is not None)
        if len(parts) > 1 and len(joined) > (CALL_ARGS_WIDTH if isinstance(a, Call) else ARRAY_WIDTH):
            return None
        if isinstance(a, Call):
            return f"{a.callee}({joined})"
        return ("&[" if a.borrowed else "[") + joined + "]"
    if isinstance(a, (Chain, Method)):
        links = a.links if isinstance(a, Chain) else (Call(a.name, a.args),)
        texts = [_one_line(x) for x in links]
        if any(x is None for x in texts):
            return None
        root = a.root if isinstance(a, Chain) else a.receiver
        text = root + "".join(f".{x}" for x in texts)
        return text if len(links) == 1 or len(text) <= CHAIN_WIDTH else None
    if isinstance(a, Binary):
        left, right = _one_line(a.left), _one_line(a.right)
        return None if left is None or right is None else f"{left} {a.op} {right}"
    if isinstance(a, IfElse):
        text = a.flat()
        return text if len(text) <= IF_ELSE_WIDTH else None
    return None


def _fits(text: str, shape: Shape) -> bool:
    return "\n" not in text and len(text) <= shape.width


def _lines(text: str) -> int:
    return text.count("\n")


def rewrite(a: Node, shape: Shape, in_macro: bool = False) -> str | None:
    """``a`` laid out in ``shape`` as rustfmt lays it out (continuation lines carry their
    indentation), or ``None`` when it does not fit."""
    if shape.width < 0:
        return None
    if isinstance(a, str):
        return _rewrite_text(a, shape)
    if isinstance(a, Call):
        macro, method = a.callee.endswith("!"), a.callee.startswith(".")
        return _rewrite_list(a.callee, "(", ")", a.args, shape, CALL_ARGS_WIDTH, in_macro or macro, method)
    if isinstance(a, Array):
        if not a.borrowed:
            return _rewrite_list("", "[", "]", a.items, shape, ARRAY_WIDTH, in_macro)
        inner = _rewrite_list("", "[", "]", a.items, shape.left(1), ARRAY_WIDTH, in_macro)
        return None if inner is None else "&" + inner
    if isinstance(a, Chain):
        return _rewrite_chain(a, shape, in_macro)
    if isinstance(a, Method):
        return _rewrite_chain(Chain(a.receiver, (Call(a.name, a.args),)), shape, in_macro)
    if isinstance(a, Binary):
        return _rewrite_binary(a, shape, in_macro)
    if isinstance(a, IfElse):
        return _rewrite_if_else(a, shape, in_macro)
    return _rewrite_match(a, shape, in_macro)


_INDEX = re.compile(r"(&(?:mut )?)?([A-Za-z_][A-Za-z0-9_]*)\[([^\[\]]+)\]")


def _rewrite_text(a: str, shape: Shape) -> str | None:
    """Plain text; an index ``name[i]`` that does not fit puts ``[i]`` on the next line, one
    block deeper (rustfmt's ``rewrite_index``)."""
    if len(a) <= shape.width:
        return a
    m = _INDEX.fullmatch(a)
    if m is None:
        return None
    prefix, name, index = m.group(1) or "", m.group(2), m.group(3)
    if len(prefix) + len(name) > shape.width:
        return None
    if len(index) + 2 > MAX_WIDTH - shape.indent - TAB - shape.overhead:
        return None
    return f"{prefix}{name}\n{' ' * (shape.indent + TAB)}[{index}]"


def _last_line_extendable(text: str) -> bool:
    return text.rsplit("\n", 1)[-1].strip(" )]}?>") == ""


def _rewrite_if_else(c: IfElse, shape: Shape, in_macro: bool) -> str | None:
    """``if c { a } else { b }`` on one line up to 50 columns, else a block per branch; the
    brace after a condition that takes several lines or leaves no room goes on its own line."""
    flat = c.flat()
    if len(flat) <= min(IF_ELSE_WIDTH, shape.width):
        return flat
    cond = rewrite(c.cond, Shape(shape.indent, shape.offset + 3, MAX_WIDTH - shape.offset - 3), in_macro)
    if cond is None:
        return None
    pad, inner = " " * shape.indent, " " * (shape.indent + TAB)
    if ("\n" in cond or len(cond) > MAX_WIDTH - shape.offset - 5) and not (
        "\n" in cond and _last_line_extendable(cond)
    ):
        brace = f"\n{pad}{{"
    else:
        brace = " {"
    return f"if {cond}{brace}\n{inner}{c.then}\n{pad}}} else {{\n{inner}{c.other}\n{pad}}}"


def _rewrite_list(
    ident: str,
    open_: str,
    close: str,
    args: Sequence[Node],
    shape: Shape,
    max_items: int,
    in_macro: bool,
    method: bool = False,
) -> str | None:
    """``ident(args)`` / ``[args]`` (rustfmt's ``overflow::Context``); a function's callee must
    fit the shape (rustfmt lays it out first), a ``method`` name need not."""
    if len(ident) > shape.width and not method:
        return None
    one_line_width = max(0, shape.width - len(ident) - 2)
    one_line = shape.left(len(ident) + 1)
    one_line = Shape(one_line.indent, one_line.offset, max(0, one_line.width - 1))
    nested = shape.nested(1)
    n = len(args)
    if n == 0:
        return ident + open_ + close
    items: list[str | None] = [
        x if isinstance(x, str) and len(x) <= nested.width else rewrite(x, nested, in_macro)
        for x in args[:-1]
    ]
    last = args[-1]
    items.append(None)
    combine = n == 1 and len(ident) < TAB
    overflow = (combine or (n == 1 and _overflows(last))) and not isinstance(last, Match)
    placeholder = None
    if overflow:
        if n == 1 and not _nested_call(last):
            arg_shape = one_line
        else:
            before = sum(2 + len(x or "") for x in items[:-1])
            arg_shape = Shape(
                one_line.indent, one_line.offset + before, min(max_items, one_line.width) - before
            )
        placeholder = rewrite(last, arg_shape, in_macro) if arg_shape.width >= 0 else None
    horizontal = False
    if placeholder is not None:
        probe = [*items[:-1], placeholder.split("\n", 1)[0]]
        horizontal = _horizontal(probe, min(max_items, one_line_width))
    mixed = False
    if horizontal and placeholder is not None:
        if n == 1 and _lines(placeholder) == 1:
            rw = rewrite(last, nested, in_macro)
            items[-1] = rw if rw is not None and "\n" not in rw else placeholder
        else:
            items[-1] = placeholder
    else:
        items[-1] = rewrite(last, nested, in_macro)
        if any(x is None for x in items):
            return None
        done = [x for x in items if x is not None]
        if n == 1 and one_line_width != 0 and "\n" not in done[0] and len(done[0]) <= one_line_width:
            horizontal = True
        else:
            horizontal = _horizontal(done, min(max_items, one_line_width))
            if (
                not horizontal
                and ident not in _FORMAT_MACROS
                and all(_simple(x) for x in args)
                and all(len(x) <= SHORT_ITEM for x in done)
            ):
                mixed = True
    if any(x is None for x in items):
        return None
    done = [x for x in items if x is not None]
    if horizontal:
        return ident + open_ + ", ".join(done) + close
    pad = " " * nested.indent
    trailing = "" if in_macro else ","
    if mixed:
        rows: list[str] = []
        cur = ""
        for k, x in enumerate(done):
            piece = x + ("," if k < n - 1 else trailing)
            if cur and len(cur) + 1 + len(x) + 1 > nested.width:
                rows.append(cur)
                cur = piece
            else:
                cur = piece if not cur else cur + " " + piece
        rows.append(cur)
        body = "\n".join(pad + r for r in rows)
    else:
        body = "\n".join(pad + x + ("," if k < n - 1 else trailing) for k, x in enumerate(done))
    return f"{ident}{open_}\n{body}\n{' ' * shape.indent}{close}"


def _horizontal(items: Sequence[str | None], limit: int) -> bool:
    if any(x is None or "\n" in x for x in items):
        return False
    return sum(len(x or "") for x in items) + 2 * (len(items) - 1) <= limit


def _rewrite_chain(c: Chain, shape: Shape, in_macro: bool) -> str | None:
    """rustfmt's block-indented chains: a root of at most a tab (counted from the block indent)
    takes the first call on its line; the rest stays on the line when it fits (several calls:
    within ``chain_width``), else one call per line, one block deeper."""
    root = rewrite(c.root, shape, in_macro)
    if root is None:
        return None
    links = list(c.links)
    tab = max(0, TAB - (shape.offset - shape.indent))
    while len(root) <= tab and "\n" not in root and links:
        first = rewrite(Call("." + links[0].callee, links[0].args), shape.left(len(root)), in_macro)
        if first is None:
            break
        root += first
        links.pop(0)
    if not links:
        return root
    # a root ending like a block (an index by a literal broken onto its own short line) keeps
    # its calls at its own indentation
    tail_line = root.rsplit("\n", 1)[-1].strip()
    block_like = "\n" in root and re.fullmatch(r"\[[0-9]+\]", tail_line) is not None and len(tail_line) <= TAB
    child = Shape.line(shape.indent + (0 if block_like else TAB))
    texts = [root]
    for link in links[:-1]:
        text = rewrite(Call("." + link.callee, link.args), child, in_macro)
        if text is None:
            return None
        texts.append(text)
    last = Call("." + links[-1].callee, links[-1].args)
    almost = sum(len(t) for t in texts)
    budget = (shape.width if len(c.links) == 1 else min(shape.width, CHAIN_WIDTH)) - almost
    one_line = budget > 0 and all("\n" not in t for t in texts)
    last_text: str | None = None
    joined = False
    if one_line:
        rw = _rewrite_list(
            last.callee, "(", ")", last.args, shape.left(almost), CALL_ARGS_WIDTH, in_macro, True
        )
        if rw is not None:
            fits = len(rw.split("\n", 1)[0]) <= budget
            new = rewrite(last, Shape(child.indent, child.offset, child.width - shape.overhead), in_macro)
            if fits and _lines(rw) >= 4:
                last_text, joined = rw, True
            elif new is not None and not fits:
                last_text = new
            elif new is not None and _lines(new) >= _lines(rw):
                last_text, joined = rw, fits
            elif new is not None:
                last_text = new
            else:
                last_text, joined = rw, fits
    if last_text is None:
        at = shape if one_line else Shape(child.indent, child.offset, child.width - shape.overhead)
        last_text = rewrite(last, at, in_macro)
        if last_text is None:
            return None
    texts.append(last_text)
    if joined:
        return "".join(texts)
    return ("\n" + " " * child.indent).join(texts)


def _rewrite_binary(b: Binary, shape: Shape, in_macro: bool) -> str | None:
    """``a op b`` as rustfmt's ``rewrite_all_pairs`` (one line; else ``op b`` on the next line
    one block deeper, or after a last line of ``a`` short enough to leave an orphan), then, when
    ``a`` does not fit the shape, ``rewrite_pair`` (``a`` in the rest of the line, ``b`` after its
    last line when that fits, else on the next line)."""
    nested = Shape.line(shape.indent + TAB, shape.overhead)
    infix = len(b.op) + 2
    lhs = rewrite(b.left, shape, in_macro)
    if lhs is not None:
        if "\n" not in lhs:
            rhs = rewrite(b.right, shape.left(len(lhs) + infix), in_macro)
            if rhs is not None and "\n" not in rhs and len(lhs) + infix + len(rhs) <= shape.width:
                return f"{lhs} {b.op} {rhs}"
        last = lhs.rsplit("\n", 1)[-1]
        used = 0 if "\n" in lhs else shape.offset
        if len(last) + used <= nested.offset:  # no orphan: `op b` after a short last line
            rhs = rewrite(b.right, shape.left(infix + len(last.strip())), in_macro)
            if rhs is not None:
                return f"{lhs} {b.op} {rhs}"
        rhs = rewrite(b.right, nested.left(len(b.op) + 1), in_macro)
        if rhs is not None:
            return f"{lhs}\n{' ' * nested.indent}{b.op} {rhs}"
    lhs = rewrite(b.left, Shape(shape.indent, shape.offset, MAX_WIDTH - shape.offset), in_macro)
    if lhs is None:
        return None
    last_width = len(lhs.rsplit("\n", 1)[-1])
    rhs = rewrite(b.right, shape.left(last_width + infix), in_macro)
    if rhs is not None and "\n" not in rhs and last_width + infix + len(rhs) <= shape.width:
        return f"{lhs} {b.op} {rhs}"
    rhs = rewrite(b.right, nested.left(len(b.op) + 1), in_macro)
    if rhs is None:
        return None
    return f"{lhs}\n{' ' * nested.indent}{b.op} {rhs}"


def _rewrite_match(m: Match, shape: Shape, in_macro: bool) -> str | None:
    """``match cond {`` (the scrutinee may take the whole line; the brace goes on its own line
    when it does not fit after a one-line scrutinee), one arm per line."""
    cond_shape = Shape(shape.indent, shape.offset + 6, MAX_WIDTH - shape.offset - 6)
    cond = rewrite(m.scrutinee, cond_shape, in_macro)
    if cond is None:
        return None
    if _last_line_extendable(cond) and "\n" in cond:
        brace = " {"
    elif "\n" in cond or len(cond) + 2 > cond_shape.width:
        brace = f"\n{' ' * shape.indent}{{"
    else:
        brace = " {"
    pad = " " * (shape.indent + TAB)
    arms = "".join(f"\n{pad}{arm}" for arm in m.arms)
    return f"match {cond}{brace}{arms}\n{' ' * shape.indent}}}"


def _place(e: Emitter, head: str, text: str, tail: str) -> None:
    """``head`` + a laid-out expression + ``tail`` at the emitter's indentation."""
    first, *rest = (text + tail).split("\n")
    e.lines.append(INDENT * e.level + head + first)
    e.lines.extend(rest)


def _choose_rhs(e: Emitter, head: str, rhs: Node, tail: str, column: int | None = None) -> None:
    """``head rhs tail`` (``head`` such as ``"let w0 = "`` or ``"argument: "``, starting at
    ``column``, by default the indentation) with the right-hand side on the line of ``head`` or
    on the next one, one block deeper (rustfmt's ``choose_rhs``)."""
    indent = e.indent
    start = indent if column is None else column
    lead = " " * start + head
    same = Shape(indent, start + len(head), MAX_WIDTH - start - len(head) - len(tail))
    flat = _one_line(rhs)
    if flat is not None and len(flat) <= same.width:
        e.lines.append(lead + flat + tail)
        return

    def place(text: str) -> None:
        first, *rest = (text + tail).split("\n")
        e.lines.append(lead + first)
        e.lines.extend(rest)

    orig = rewrite(rhs, same)
    if orig is not None and _fits(orig, same):
        place(orig)
        return
    below = Shape.line(indent + TAB, len(tail))
    new = rewrite(rhs, below)

    def next_line(text: str) -> None:
        e.lines.append(lead.rstrip())
        first, *rest = (text + tail).split("\n")
        e.lines.append(" " * below.indent + first)
        e.lines.extend(rest)

    if orig is None and new is None:
        place(_flat(rhs))  # rustfmt keeps what it cannot fit
    elif orig is None:
        assert new is not None
        next_line(new)
    elif new is None or not _str_fits(new, below):
        place(orig)
    elif _prefer_next_line(orig, new):
        next_line(new)
    else:
        place(orig)


def _str_fits(text: str, shape: Shape) -> bool:
    lines = text.split("\n")
    if len(lines[0]) > shape.width:
        return False
    if len(lines) == 1:
        return True
    if any(len(x) > MAX_WIDTH for x in lines[1:]):
        return False
    return len(lines[-1]) <= shape.offset + shape.width


def _prefer_next_line(orig: str, new: str) -> bool:
    first_orig, first_new = orig.split("\n", 1)[0], new.split("\n", 1)[0]
    return (
        "\n" not in new
        or _lines(orig) > _lines(new) + 1
        or any(first_orig.endswith(c) and not first_new.endswith(c) for c in "({[")
    )


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


def emit_assign(e: Emitter, head: str, rhs: Expr, tail: str = ";") -> None:
    """``head rhs;`` where ``head`` is ``"let w0 = "`` or ``"y[0] = "``."""
    target = _INDEX.fullmatch(head[:-3]) if head.endswith(" = ") and not head.startswith("let ") else None
    if target is not None:
        # rustfmt lays out the assigned place first, leaving room for ` =` and the semicolon
        place = _rewrite_text(head[:-3], Shape.line(e.indent, 2 + len(tail)))
        if place is not None and "\n" in place:
            first, last = place.split("\n")
            e.lines.append(INDENT * e.level + first)
            _choose_rhs(e, last.lstrip() + " = ", rhs, tail, len(last) - len(last.lstrip()))
            return
    _choose_rhs(e, head, rhs, tail)


def attribute(name: str, item: str, indent: int = 0) -> str:
    """``#[name(item)]`` (one nested item), with the item on a line of its own when the line
    does not fit."""
    if indent + len(name) + len(item) + 5 <= MAX_WIDTH:
        return f"#[{name}({item})]"
    return f"#[{name}(\n{' ' * TAB}{item}\n)]"


def emit_field(e: Emitter, name: str, value: Node) -> None:
    """``name: value,`` in a struct literal: the value on the line of its name when it fits
    there (on several lines if need be), else on the next line (rustfmt's ``rewrite_field``)."""
    text = rewrite(value, Shape.line(e.indent, 1, len(name) + 2))
    if text is not None:
        _place(e, f"{name}: ", text, ",")
        return
    below = rewrite(value, Shape.line(e.indent + TAB))
    if below is None:
        _place(e, f"{name}: ", _flat(value), ",")
        return
    e.lines.append(f"{INDENT * e.level}{name}:")
    _place(e, INDENT, below, ",")


def emit_statement(e: Emitter, expr: Node, tail: str = ";") -> None:
    """``expr;`` (``tail`` ``"?;"`` for a call whose error is returned, ``""`` for the tail
    expression of a block) laid out as rustfmt does; flat when rustfmt cannot fit it."""
    shape = Shape.line(e.indent, len(tail))
    flat = _one_line(expr)
    if flat is not None and len(flat) <= shape.width:
        e.lines.append(INDENT * e.level + flat + tail)
        return
    text = rewrite(expr, shape)
    _place(e, "", _flat(expr) if text is None else text, tail)


def emit_call_statement(e: Emitter, call: Call) -> None:
    """``f(a, b, c);`` with rustfmt's vertical layout when the arguments are too wide."""
    emit_statement(e, call)


def emit_if(e: Emitter, cond: Node) -> None:
    """``if cond {`` (the brace on a line of its own when the condition takes several lines or
    leaves no room for it)."""
    shape = Shape.line(e.indent, 0, 3)
    text = rewrite(cond, shape)
    if text is None:
        text = _flat(cond)
    last = text.rsplit("\n", 1)[-1]
    if "\n" in text or len(text) > MAX_WIDTH - e.indent - 5:
        if "\n" in text and last.strip(" )]") == "":
            _place(e, "if ", text, " {")
        else:
            _place(e, "if ", text, "")
            e.lines.append(INDENT * e.level + "{")
    else:
        e.lines.append(f"{INDENT * e.level}if {text} {{")
    e.level += 1


def emit_fn_header(e: Emitter, prefix: str, name: str, params: Sequence[str], ret: str) -> None:
    """``prefix fn name(params) ret {`` on one line, else one parameter per line (rustfmt's
    ``rewrite_fn_base``: without parameters, ``)`` goes to the next line when ``name(`` and the
    return type leave no room for it, and the brace when it does not fit after the signature)."""
    flat = f"{prefix}fn {name}({', '.join(params)}){ret}"
    if e.indent + len(flat) + 2 <= MAX_WIDTH:
        e.line(flat + " {")
        return
    if not params:
        if e.indent + len(f"{prefix}fn {name}(") + len(ret.strip()) + 1 <= MAX_WIDTH:
            e.line(flat)
            e.lines.append(INDENT * e.level + "{")
            e.level += 1
        else:
            e.line(f"{prefix}fn {name}(")
            e.line(f"){ret} {{")
        return
    e.line(f"{prefix}fn {name}(")
    for p in params:
        e.line(p + ",")
    e.line(f"){ret} {{")
