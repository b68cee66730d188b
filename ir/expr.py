"""``SX``: hash-consed, immutable scalar expression nodes (the front end of the IR).

Nodes are interned in a weak table keyed on ``(op, id(arg)..., attr)``: building the same
expression twice returns the same object, so common subexpressions are shared from the start,
and an entry disappears with its node (the table never only grows). Symbols are interned by
name, so two ``SX.sym("x")`` are the same symbol. Every node is folded on construction with the
exact rules of :mod:`ir.fold`.

Nothing here recurses over expression depth: printing and size queries walk the DAG with
explicit stacks, and each distinct node is visited once.
"""

from __future__ import annotations

import math
import struct
import weakref
from collections.abc import Iterator
from typing import Any, Union

from .errors import GradgenTypeError
from .fold import peephole
from .ops import OP_INFO, AttrKind, Op

Scalar = Union["SX", float, int]

_INTERN: weakref.WeakValueDictionary[tuple[Any, ...], SX] = weakref.WeakValueDictionary()


def float_key(value: float) -> int:
    """Bit pattern of a float: keeps 0.0, -0.0 and distinct NaNs apart in hash-consing."""
    return struct.unpack("<q", struct.pack("<d", value))[0]


def _attr_key(op: Op, attr: object) -> object:
    if isinstance(attr, float):
        return float_key(attr)
    return attr


class SX:
    """A scalar symbolic expression: a symbol, a constant or an operation on other ``SX``."""

    __slots__ = ("op", "args", "attr", "__weakref__")

    op: Op
    args: tuple[SX, ...]
    attr: object

    def __init__(self) -> None:  # pragma: no cover - guarded
        raise TypeError("use SX.sym(name), SX.const(value) or arithmetic to build expressions")

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def _new(cls, op: Op, args: tuple[SX, ...], attr: object) -> SX:
        if op is Op.INPUT:
            key: tuple[Any, ...] = ("sym", attr)
        elif op is Op.CONST:
            key = ("const", float_key(attr))  # type: ignore[arg-type]
        else:
            key = (op, *map(id, args), _attr_key(op, attr))
        node = _INTERN.get(key)
        if node is None:
            node = object.__new__(cls)
            object.__setattr__(node, "op", op)
            object.__setattr__(node, "args", args)
            object.__setattr__(node, "attr", attr)
            _INTERN[key] = node
        return node

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SX expressions are immutable")

    @classmethod
    def sym(cls, name: str) -> SX:
        """The symbol called ``name`` (symbols are compared by name)."""
        if not isinstance(name, str) or not name:
            raise GradgenTypeError(f"a symbol name must be a non-empty string, got {name!r}")
        return cls._new(Op.INPUT, (), name)

    @classmethod
    def const(cls, value: float) -> SX:
        """A constant expression."""
        if isinstance(value, SX):
            return value
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise GradgenTypeError(f"cannot make a constant from {value!r}") from None
        return cls._new(Op.CONST, (), v)

    @classmethod
    def make(cls, op: Op, args: tuple[SX, ...], attr: object = None) -> SX:
        """Build ``op(args)`` with construction-time folding and hash-consing."""
        rewrite = peephole(op, args, attr, _const_of, _view)
        if rewrite is None:
            return cls._new(op, args, attr)
        kind = rewrite[0]
        if kind == "const":
            return cls.const(rewrite[1])
        if kind == "ref":
            return rewrite[1]  # type: ignore[no-any-return]
        return cls.make(rewrite[1], tuple(rewrite[2]), rewrite[3])

    # ---- queries ----------------------------------------------------------------------
    @property
    def is_symbol(self) -> bool:
        return self.op is Op.INPUT

    @property
    def is_constant(self) -> bool:
        return self.op is Op.CONST

    @property
    def name(self) -> str:
        """The name of a symbol."""
        if self.op is not Op.INPUT:
            raise GradgenTypeError("only symbols have a name")
        return self.attr  # type: ignore[return-value]

    @property
    def value(self) -> float:
        """The value of a constant."""
        if self.op is not Op.CONST:
            raise GradgenTypeError("only constants have a value")
        return self.attr  # type: ignore[return-value]

    def nodes(self) -> Iterator[SX]:
        """Every distinct node of this expression, children before parents (iterative)."""
        return iter_dag((self,))

    def node_count(self) -> int:
        """Number of distinct nodes in the DAG."""
        return sum(1 for _ in iter_dag((self,)))

    def free_symbols(self) -> list[SX]:
        """The symbols this expression depends on, in first-visit order."""
        return [n for n in iter_dag((self,)) if n.op is Op.INPUT]

    def __float__(self) -> float:
        if self.op is Op.CONST:
            return self.attr  # type: ignore[return-value]
        raise GradgenTypeError(f"expression {self} is not a constant")

    def __bool__(self) -> bool:
        raise GradgenTypeError(
            "a symbolic expression has no truth value; use gradgen.if_else(a, b, cond) "
            "for branches"
        )

    # ---- arithmetic -------------------------------------------------------------------
    def __add__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.ADD, (self, o))

    def __radd__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.ADD, (o, self))

    def __sub__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.SUB, (self, o))

    def __rsub__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.SUB, (o, self))

    def __mul__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.MUL, (self, o))

    def __rmul__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.MUL, (o, self))

    def __truediv__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.DIV, (self, o))

    def __rtruediv__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.DIV, (o, self))

    def __pow__(self, other: Scalar) -> SX:
        n = integer_exponent(other)
        if n is not None:
            return SX.make(Op.POWI, (self,), n)
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.POW, (self, o))

    def __rpow__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.POW, (o, self))

    def __neg__(self) -> SX:
        return SX.make(Op.NEG, (self,))

    def __pos__(self) -> SX:
        return self

    def __abs__(self) -> SX:
        return SX.make(Op.ABS, (self,))

    def __lt__(self, other: Scalar) -> SX:  # type: ignore[override]
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.LT, (self, o))

    def __le__(self, other: Scalar) -> SX:  # type: ignore[override]
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.LE, (self, o))

    def __gt__(self, other: Scalar) -> SX:  # type: ignore[override]
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.GT, (self, o))

    def __ge__(self, other: Scalar) -> SX:  # type: ignore[override]
        o = _coerce(other)
        return NotImplemented if o is None else SX.make(Op.GE, (self, o))

    # identity equality and hashing (interning makes structural equality identity)
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        raise GradgenTypeError("SX expressions cannot be pickled")

    def __repr__(self) -> str:
        return f"SX({to_infix(self)})"

    def __str__(self) -> str:
        return to_infix(self)


def _const_of(node: SX) -> float | None:
    return node.attr if node.op is Op.CONST else None  # type: ignore[return-value]


def _view(node: SX) -> tuple[Op, tuple[SX, ...]]:
    return node.op, node.args


def _coerce(value: object) -> SX | None:
    if isinstance(value, SX):
        return value
    if isinstance(value, bool):
        return SX.const(1.0 if value else 0.0)
    if isinstance(value, (int, float)):
        return SX.const(float(value))
    if type(value).__module__ == "numpy" and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return SX.const(float(value))  # type: ignore[arg-type]
    return None


def as_sx(value: object) -> SX:
    """Convert a number (or an ``SX``) to an ``SX``; anything else is a ``GradgenTypeError``."""
    out = _coerce(value)
    if out is None:
        raise GradgenTypeError(f"expected a scalar expression or a number, got {type(value).__name__}")
    return out


def integer_exponent(value: object) -> int | None:
    """The exponent as an int when it is an integral Python number of moderate size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) <= 2**31 - 1 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value) if abs(value) <= 2**31 - 1 else None
    if isinstance(value, SX) and value.op is Op.CONST:
        return integer_exponent(value.attr)
    return None


def iter_dag(roots: tuple[SX, ...] | list[SX]) -> Iterator[SX]:
    """Yield each node reachable from ``roots`` once, in a topological (post) order."""
    seen: set[int] = set()
    stack: list[tuple[SX, int]] = []
    for root in roots:
        if id(root) in seen:
            continue
        stack.append((root, 0))
        while stack:
            node, i = stack[-1]
            if i < len(node.args):
                stack[-1] = (node, i + 1)
                child = node.args[i]
                if id(child) not in seen:
                    stack.append((child, 0))
            else:
                stack.pop()
                if id(node) not in seen:
                    seen.add(id(node))
                    yield node


# ---- human-readable printing --------------------------------------------------------------

_PREC = {Op.ADD: 1, Op.SUB: 1, Op.MUL: 2, Op.DIV: 2, Op.NEG: 3, Op.POWI: 4, Op.POW: 4}
_CMP_PREC = 0
_ATOM = 9
#: an expression whose expanded tree is larger than this prints as a DAG in let-form
INFIX_LIMIT = 400


def _fmt_const(v: float) -> str:
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v)) if v != 0.0 or math.copysign(1.0, v) > 0 else "-0"
    return repr(v)


def _tree_size(root: SX, cap: int) -> int:
    size: dict[int, int] = {}
    for node in iter_dag((root,)):
        size[id(node)] = min(cap + 1, 1 + sum(size[id(a)] for a in node.args))
    return size[id(root)]


def _render(node: SX, child: list[tuple[str, int]]) -> tuple[str, int]:
    op = node.op
    if op is Op.INPUT:
        return node.attr, _ATOM  # type: ignore[return-value]
    if op is Op.CONST:
        text = _fmt_const(node.attr)  # type: ignore[arg-type]
        return text, (_ATOM if not text.startswith("-") else 3)
    info = OP_INFO[op]

    def wrap(i: int, prec: int, strict: bool = False) -> str:
        text, p = child[i]
        return f"({text})" if p < prec or (strict and p == prec) else text

    if op is Op.NEG:
        return "-" + wrap(0, 3), 3
    if op is Op.POWI:
        n = node.attr
        return f"{wrap(0, 5)}**{n if n >= 0 else f'({n})'}", 4  # type: ignore[operator]
    if op is Op.POW:
        return f"{wrap(0, 5)}**{wrap(1, 5)}", 4
    if info.symbol is not None and info.arity == 2:
        prec = _PREC.get(op, _CMP_PREC)
        strict = op in (Op.SUB, Op.DIV) or prec == _CMP_PREC
        return f"{wrap(0, prec)} {info.symbol} {wrap(1, prec, strict)}", prec
    parts = [text for text, _ in child]
    if info.attr is AttrKind.INT or info.attr is AttrKind.PARAM:
        parts.append(repr(node.attr))
    return f"{info.name}({', '.join(parts)})", _ATOM


def to_infix(root: SX, limit: int = INFIX_LIMIT) -> str:
    """Infix text of an expression; large shared DAGs print in let-form, never expanded."""
    if _tree_size(root, limit) > limit:
        return _let_form(root)
    rendered: dict[int, tuple[str, int]] = {}
    for node in iter_dag((root,)):
        rendered[id(node)] = _render(node, [rendered[id(a)] for a in node.args])
    return rendered[id(root)][0]


def _let_form(root: SX) -> str:
    names: dict[int, tuple[str, int]] = {}
    lines: list[str] = []
    for node in iter_dag((root,)):
        if not node.args:
            names[id(node)] = _render(node, [])
            continue
        text, _ = _render(node, [names[id(a)] for a in node.args])
        name = f"t{len(lines)}"
        lines.append(f"{name} = {text}")
        names[id(node)] = (name, _ATOM)
    return "let " + "; ".join(lines) + f" in {names[id(root)][0]}"
