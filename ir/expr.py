"""``SX``: hash-consed, immutable scalar expression nodes (the front end of the IR).

Nodes are interned in per-operation tables of weak references keyed on ``(args, attr)``
(children compared by identity): building the same expression twice returns the same object, so common
subexpressions are shared from the start, and an entry disappears with its node (the table
never only grows). Symbols are interned by
name, so two ``SX.sym("x")`` are the same symbol, also when several threads create them at once
(see :data:`_TABLES`). Every node is folded on construction with the
exact rules of :mod:`ir.fold`.

Nothing here recurses over expression depth: printing and size queries walk the DAG with
explicit stacks, and each distinct node is visited once.
"""

from __future__ import annotations

import math
import numbers
import struct
import weakref
from _weakref import _remove_dead_weakref  # type: ignore[attr-defined]
from collections.abc import Iterator
from typing import Any, Union, cast

from .errors import ConstantOverflowError, GradgenTypeError
from .fold import STRUCTURAL, peephole
from .ops import Op

Scalar = Union["SX", float, int]

# Enum member access (``Op.ADD``) is a metaclass lookup in Python 3.11; the construction hot
# paths compare against these module-level aliases instead.
_INPUT, _CONST = Op.INPUT, Op.CONST
_ADD, _SUB, _MUL, _DIV, _POW, _POWI = Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.POWI
_NEG, _ABS, _LT, _LE, _GT, _GE = Op.NEG, Op.ABS, Op.LT, Op.LE, Op.GT, Op.GE


class _Ref(weakref.ref["SX"]):
    """Weak reference from an intern table to a node; remembers its table and key."""

    __slots__ = ("key", "table")
    key: Any
    table: dict[Any, _Ref]


#: One intern table per operation, indexed by ``int(op)``: key -> weak reference to the live
#: node with that key. Symbols are keyed by name, constants by their bit pattern, operations
#: without attribute by the node's own ``args`` tuple (children compare by identity, and the
#: tuple is shared with the node, so interning costs no extra key object), operations with an
#: attribute by ``(args, attr)``. An entry is removed as soon as its node is freed, so the
#: tables hold only live nodes.
_TABLES: list[dict[Any, _Ref]] = [{} for _ in Op]

#: Interning is safe under threads without a lock: every write to a table is one atomic dict
#: call. A new entry goes in with ``dict.setdefault``, so threads creating the same key at once
#: all get the node that got in first; a live entry is never replaced; the entry of a freed node
#: is removed with ``_remove_dead_weakref`` (the atomic removal of the standard library's
#: ``WeakValueDictionary``), which deletes it only while it is still dead, so it never removes a
#: live entry another thread has put in its place.


#: metadata of symbols (``SX.sym(name, metadata=...)``), dropped with the symbol
_SYMBOL_METADATA: weakref.WeakKeyDictionary[SX, tuple[tuple[Any, Any], ...]] = weakref.WeakKeyDictionary()


def _checked_metadata(metadata: object) -> tuple[tuple[Any, Any], ...]:
    if not isinstance(metadata, dict):
        raise GradgenTypeError(f"symbol metadata must be a dict, got {type(metadata).__name__}")
    for key, value in metadata.items():
        try:
            hash(value)
        except TypeError:
            raise GradgenTypeError(
                f"symbol metadata values must be hashable, got {type(value).__name__} for {key!r}"
            ) from None
    return tuple(metadata.items())


def _forget(ref: _Ref) -> None:
    _remove_dead_weakref(ref.table, ref.key)


def interned_count() -> int:
    """Number of live interned nodes (for tests and memory diagnostics)."""
    return sum(len(t) for t in _TABLES)


_PACK_F64 = struct.Struct("<d").pack
_UNPACK_I64 = struct.Struct("<q").unpack


def float_key(value: float) -> int:
    """Bit pattern of a float: keeps 0.0, -0.0 and distinct NaNs apart in hash-consing."""
    return int(_UNPACK_I64(_PACK_F64(value))[0])


class SX:
    """A scalar symbolic expression: a symbol, a constant or an operation on other ``SX``."""

    __slots__ = ("__weakref__", "args", "attr", "op")

    op: Op
    args: tuple[SX, ...]
    attr: object

    def __init__(self) -> None:
        raise GradgenTypeError("use SX.sym(name), SX.const(value) or arithmetic to build expressions")

    # ---- construction -------------------------------------------------------------------
    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SX expressions are immutable")

    @classmethod
    def sym(cls, name: str, metadata: dict[Any, Any] | None = None) -> SX:
        """The symbol called ``name`` (symbols are compared by name).

        ``metadata`` (a dict with hashable values) is kept for the symbol's name: it is shown by
        the dump tool and ignored by code generation; a later ``sym`` with metadata replaces it."""
        if not isinstance(name, str) or not name:
            raise GradgenTypeError(f"a symbol name must be a non-empty string, got {name!r}")
        node = _intern(_INPUT, (), name)
        if metadata is not None:
            _SYMBOL_METADATA[node] = _checked_metadata(metadata)
        return node

    @classmethod
    def const(cls, value: float) -> SX:
        """A constant expression (``value`` is a real number or a constant ``SX``)."""
        if value.__class__ is float:
            return _intern(_CONST, (), value)
        if isinstance(value, SX):
            if value.op is _CONST:
                return value
            raise GradgenTypeError(f"SX.const needs a number, got the non-constant expression {value}")
        if isinstance(value, (str, bytes, complex)):
            raise GradgenTypeError(f"cannot make a constant from {value!r}")
        try:
            v = float(value)
        except OverflowError:
            raise ConstantOverflowError(
                f"cannot make a constant from {_short(value)}: it is beyond the float range"
            ) from None
        except (TypeError, ValueError):
            raise GradgenTypeError(f"cannot make a constant from {value!r}") from None
        return _intern(_CONST, (), v)

    @classmethod
    def make(cls, op: Op, args: tuple[SX, ...], attr: object = None) -> SX:
        """Build ``op(args)`` with construction-time folding and hash-consing."""
        return _make(op, args, attr)

    # ---- queries ----------------------------------------------------------------------
    @property
    def is_symbol(self) -> bool:
        return self.op is _INPUT

    @property
    def is_constant(self) -> bool:
        return self.op is _CONST

    @property
    def name(self) -> str:
        """The name of a symbol."""
        if self.op is not _INPUT:
            raise GradgenTypeError("only symbols have a name")
        return self.attr  # type: ignore[return-value]

    @property
    def metadata(self) -> dict[Any, Any]:
        """The metadata given to ``SX.sym`` for this symbol (a copy; empty when none was given)."""
        if self.op is not _INPUT:
            raise GradgenTypeError("only symbols have metadata")
        return dict(_SYMBOL_METADATA.get(self, ()))

    @property
    def value(self) -> float:
        """The value of a constant."""
        if self.op is not _CONST:
            raise GradgenTypeError("only constants have a value")
        return self.attr  # type: ignore[return-value]

    @property
    def node(self) -> SX:
        """The interned node of this expression: the expression itself (gradgen 0.5.2 kept a
        separate node object)."""
        return self

    def nodes(self) -> Iterator[SX]:
        """Every distinct node of this expression, children before parents (iterative)."""
        return iter_dag((self,))

    def node_count(self) -> int:
        """Number of distinct nodes in the DAG."""
        return sum(1 for _ in iter_dag((self,)))

    def free_symbols(self) -> list[SX]:
        """The symbols this expression depends on, in first-visit order."""
        return [n for n in iter_dag((self,)) if n.op is _INPUT]

    def __float__(self) -> float:
        if self.op is _CONST:
            return self.attr  # type: ignore[return-value]
        raise GradgenTypeError(f"expression {self} is not a constant")

    def __bool__(self) -> bool:
        raise GradgenTypeError(
            "a symbolic expression has no truth value; use gradgen.if_else(a, b, cond) for branches"
        )

    # ---- arithmetic -------------------------------------------------------------------
    def __add__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_ADD, (self, o))

    def __radd__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_ADD, (o, self))

    def __sub__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_SUB, (self, o))

    def __rsub__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_SUB, (o, self))

    def __mul__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_MUL, (self, o))

    def __rmul__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_MUL, (o, self))

    def __truediv__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_DIV, (self, o))

    def __rtruediv__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_DIV, (o, self))

    def __pow__(self, other: Scalar) -> SX:
        n = integer_exponent(other)
        if n is not None:
            return _make(_POWI, (self,), n)
        o = _coerce(other)
        return NotImplemented if o is None else _make(_POW, (self, o))

    def __rpow__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_POW, (o, self))

    def __neg__(self) -> SX:
        return _make(_NEG, (self,))

    def __pos__(self) -> SX:
        return self

    def __abs__(self) -> SX:
        return _make(_ABS, (self,))

    def __lt__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_LT, (self, o))

    def __le__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_LE, (self, o))

    def __gt__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_GT, (self, o))

    def __ge__(self, other: Scalar) -> SX:
        o = _coerce(other)
        return NotImplemented if o is None else _make(_GE, (self, o))

    # ---- elementary functions as methods (``x.sin()`` is ``gradgen.sin(x)``) ----------------
    def abs(self) -> SX:
        """``|x|`` (the same node as ``abs(x)`` and ``gradgen.fabs(x)``)."""
        return _make(_ABS, (self,))

    def sin(self) -> SX:
        return _make(Op.SIN, (self,))

    def cos(self) -> SX:
        return _make(Op.COS, (self,))

    def tan(self) -> SX:
        return _make(Op.TAN, (self,))

    def asin(self) -> SX:
        return _make(Op.ASIN, (self,))

    def acos(self) -> SX:
        return _make(Op.ACOS, (self,))

    def atan(self) -> SX:
        return _make(Op.ATAN, (self,))

    def sinh(self) -> SX:
        return _make(Op.SINH, (self,))

    def cosh(self) -> SX:
        return _make(Op.COSH, (self,))

    def tanh(self) -> SX:
        return _make(Op.TANH, (self,))

    def asinh(self) -> SX:
        return _make(Op.ASINH, (self,))

    def acosh(self) -> SX:
        return _make(Op.ACOSH, (self,))

    def atanh(self) -> SX:
        return _make(Op.ATANH, (self,))

    def exp(self) -> SX:
        return _make(Op.EXP, (self,))

    def expm1(self) -> SX:
        return _make(Op.EXPM1, (self,))

    def log(self) -> SX:
        return _make(Op.LOG, (self,))

    def log1p(self) -> SX:
        return _make(Op.LOG1P, (self,))

    def log10(self) -> SX:
        return _make(Op.LOG10, (self,))

    def sqrt(self) -> SX:
        return _make(Op.SQRT, (self,))

    def cbrt(self) -> SX:
        return _make(Op.CBRT, (self,))

    def erf(self) -> SX:
        return _make(Op.ERF, (self,))

    def erfc(self) -> SX:
        return _make(Op.ERFC, (self,))

    def floor(self) -> SX:
        return _make(Op.FLOOR, (self,))

    def ceil(self) -> SX:
        return _make(Op.CEIL, (self,))

    def round(self) -> SX:
        return _make(Op.ROUND, (self,))

    def trunc(self) -> SX:
        return _make(Op.TRUNC, (self,))

    def fract(self) -> SX:
        return _make(Op.FRACT, (self,))

    def signum(self) -> SX:
        return _make(Op.SIGNUM, (self,))

    def atan2(self, other: Scalar) -> SX:
        return _make(Op.ATAN2, (self, as_sx(other)))

    def hypot(self, other: Scalar) -> SX:
        return _make(Op.HYPOT, (self, as_sx(other)))

    def maximum(self, other: Scalar) -> SX:
        return _make(Op.MAX, (self, as_sx(other)))

    def minimum(self, other: Scalar) -> SX:
        return _make(Op.MIN, (self, as_sx(other)))

    # identity equality and hashing (interning makes structural equality identity)
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        raise GradgenTypeError("SX expressions cannot be pickled")

    def __copy__(self) -> SX:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SX:
        return self

    #: numpy defers to our reflected operators instead of building object arrays
    __array_ufunc__ = None

    def __repr__(self) -> str:
        return f"SX({self})"

    def __str__(self) -> str:
        from .expr_format import to_infix  # the printer builds on this module

        return to_infix(self)


_set_op = SX.__dict__["op"].__set__
_set_args = SX.__dict__["args"].__set__
_set_attr = SX.__dict__["attr"].__set__
_new_object = object.__new__


def _intern(op: Op, args: tuple[SX, ...], attr: object) -> SX:
    """The unique live node ``op(args)[attr]``, created if needed (no folding)."""
    if op is _INPUT:
        key: Any = attr
    elif op is _CONST:
        key = float_key(attr)  # type: ignore[arg-type]
    elif attr is None:
        key = args
    else:
        key = (args, float_key(attr) if attr.__class__ is float else attr)
    table = _TABLES[op]
    ref = table.get(key)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    node = _new_object(SX)
    _set_op(node, op)
    _set_args(node, args)
    _set_attr(node, attr)
    ref = _Ref(node, _forget)
    ref.key = key
    ref.table = table
    first = table.setdefault(key, ref)
    if first is ref:
        return node
    return _intern_contended(table, key, node, ref, first)


def _intern_contended(table: dict[Any, _Ref], key: Any, node: SX, ref: _Ref, first: _Ref) -> SX:
    """The new ``node`` (entry ``ref``) lost to the entry ``first`` for ``key``: the node of
    ``first`` while it is alive, else (a freed node whose entry is not removed yet) ``node``, put
    in after the dead entry is removed."""
    while True:
        winner = first()
        if winner is not None:
            return winner
        _remove_dead_weakref(table, key)
        first = table.setdefault(key, ref)
        if first is ref:
            return node


def _make(op: Op, args: tuple[SX, ...], attr: object = None) -> SX:
    """``op(args)`` after the exact construction-time folds of :mod:`ir.fold`."""
    if op not in STRUCTURAL:  # no constant argument: no fold applies (see ir.fold.STRUCTURAL)
        n = len(args)
        if n == 2:
            if args[0].op is not _CONST and args[1].op is not _CONST:
                return _intern(op, args, attr)
        elif n == 1 and args[0].op is not _CONST:
            return _intern(op, args, attr)
    while True:
        rewrite = peephole(op, args, attr, _const_of, _view)
        if rewrite is None:
            return _intern(op, args, attr)
        kind = rewrite[0]
        if kind == "ref":
            return cast(SX, rewrite[1])
        if kind == "const":
            return _intern(_CONST, (), float(rewrite[1]))
        op, args, attr = rewrite[1], tuple(rewrite[2]), rewrite[3]


def _const_of(node: SX) -> float | None:
    return node.attr if node.op is _CONST else None  # type: ignore[return-value]


def _view(node: SX) -> tuple[Op, tuple[SX, ...]]:
    return node.op, node.args


def _coerce(value: object) -> SX | None:
    cls = value.__class__
    if cls is SX:
        return value  # type: ignore[return-value]
    if cls is float:
        return _intern(_CONST, (), value)
    if isinstance(value, bool):
        return SX.const(1.0 if value else 0.0)
    if isinstance(value, (int, float)):
        return SX.const(value)
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
    """The exponent as an int when it is an integral number (or constant) in the i32 range."""
    if isinstance(value, bool):
        return None
    if isinstance(value, SX):
        return integer_exponent(value.attr) if value.op is _CONST else None
    if isinstance(value, numbers.Integral):
        n = int(value)
        return n if abs(n) <= 2**31 - 1 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value) if abs(value) <= 2**31 - 1 else None
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


def _short(value: object) -> str:
    """``repr(value)``, shortened in the middle beyond 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:28]}...{text[-28:]} ({len(text)} characters)"
