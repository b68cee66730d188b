"""``SXVector``: an immutable sequence of ``SX`` with elementwise arithmetic and reductions."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeAlias, TypeGuard, overload

from gradgen.errors import GradgenTypeError, ShapeError, VectorIndexError
from gradgen.ir.expr import SX, Scalar, as_sx
from gradgen.ir.ops import Op
from gradgen.ir.ordered import refuse_unordered

#: a vector operand: an ``SXVector``, or any sequence / 1-d array of expressions and numbers
VectorLike: TypeAlias = "SXVector | Iterable[Scalar]"
#: what elementwise arithmetic accepts beside an ``SXVector``: a vector or a scalar
Operand: TypeAlias = "SXVector | Iterable[Scalar] | Scalar"


class SXVector:
    """A vector of scalar expressions (``SXVector.sym("x", 3)`` has elements ``x_0, x_1, x_2``)."""

    __slots__ = ("_items", "name")

    def __init__(self, items: Iterable[Scalar] | SX = ()) -> None:
        if isinstance(items, SX):
            items = (items,)
        if isinstance(items, (str, bytes)):
            raise GradgenTypeError(f"SXVector needs an iterable of expressions or numbers, got {items!r}")
        refuse_unordered(items, "the items of an SXVector")
        try:
            it = iter(items)
        except TypeError:
            raise GradgenTypeError(
                f"SXVector needs an iterable of expressions or numbers, got {type(items).__name__}"
            ) from None
        self._items: tuple[SX, ...] = tuple(as_sx(v) for v in it)
        self.name: str | None = None

    @classmethod
    def sym(cls, name: str, n: int, metadata: dict[Any, Any] | None = None) -> SXVector:
        """``n`` symbols named ``name_0 ... name_{n-1}`` (``n = 0`` gives an empty vector), each
        carrying ``metadata`` (see :meth:`SX.sym`)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise GradgenTypeError(f"SXVector.sym needs a non-negative integer length, got {n!r}")
        if not isinstance(name, str) or not name:
            raise GradgenTypeError(f"a symbol name must be a non-empty string, got {name!r}")
        if metadata is not None and not isinstance(metadata, dict):
            raise GradgenTypeError(f"symbol metadata must be a dict, got {type(metadata).__name__}")
        v = cls(SX.sym(f"{name}_{i}", metadata) for i in range(n))
        v.name = name
        return v

    @property
    def elements(self) -> tuple[SX, ...]:
        """The elements as a tuple of ``SX``."""
        return self._items

    # ---- sequence protocol ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[SX]:
        return iter(self._items)

    @overload
    def __getitem__(self, index: int) -> SX: ...
    @overload
    def __getitem__(self, index: slice) -> SXVector: ...
    def __getitem__(self, index: int | slice) -> SX | SXVector:
        if isinstance(index, slice):
            return SXVector(self._items[index])
        try:
            return self._items[index]
        except IndexError:
            raise VectorIndexError(
                f"index {index} is out of range for an SXVector of length {len(self)}"
            ) from None
        except TypeError:
            raise GradgenTypeError(
                f"SXVector indices must be integers or slices, not {type(index).__name__}"
            ) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SXVector):
            return NotImplemented
        return len(self) == len(other) and all(a is b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(map(id, self._items)))

    def __bool__(self) -> bool:
        return bool(self._items)

    def __repr__(self) -> str:
        return "SXVector([" + ", ".join(str(v) for v in self._items) + "])"

    # ---- elementwise arithmetic ----------------------------------------------------------
    #: numpy defers to our reflected operators instead of building object arrays
    __array_ufunc__ = None

    def _zip(self, other: Operand, fn: Callable[[SX, SX], SX], reflected: bool = False) -> SXVector:
        if _is_sequence(other):
            other_v = other if isinstance(other, SXVector) else SXVector(other)
            if len(other_v) != len(self):
                raise ShapeError(
                    f"elementwise operation on vectors of lengths {len(self)} and {len(other_v)}"
                )
            pairs = zip(other_v, self, strict=True) if reflected else zip(self, other_v, strict=True)
            return SXVector(fn(a, b) for a, b in pairs)
        try:
            s = as_sx(other)
        except GradgenTypeError:
            return NotImplemented  # type: ignore[no-any-return]
        if reflected:
            return SXVector(fn(s, a) for a in self)
        return SXVector(fn(a, s) for a in self)

    def __add__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a + b)

    def __radd__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a + b, True)

    def __sub__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a - b)

    def __rsub__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a - b, True)

    def __mul__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a * b)

    def __rmul__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a * b, True)

    def __truediv__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a / b)

    def __rtruediv__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a / b, True)

    def __pow__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a**b)

    def __rpow__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a**b, True)

    def __neg__(self) -> SXVector:
        return SXVector(-a for a in self)

    def __pos__(self) -> SXVector:
        return self

    def __abs__(self) -> SXVector:
        return SXVector(abs(a) for a in self)

    def __lt__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a < b)

    def __le__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a <= b)

    def __gt__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a > b)

    def __ge__(self, o: Operand) -> SXVector:
        return self._zip(o, lambda a, b: a >= b)

    def map(self, fn: Callable[[SX], SX]) -> SXVector:
        return SXVector(fn(a) for a in self)

    # ---- elementwise elementary functions (``v.sin()`` is ``gradgen.sin(v)``) -------------
    def abs(self) -> SXVector:
        return SXVector(a.abs() for a in self._items)

    def sin(self) -> SXVector:
        return SXVector(a.sin() for a in self._items)

    def cos(self) -> SXVector:
        return SXVector(a.cos() for a in self._items)

    def tan(self) -> SXVector:
        return SXVector(a.tan() for a in self._items)

    def asin(self) -> SXVector:
        return SXVector(a.asin() for a in self._items)

    def acos(self) -> SXVector:
        return SXVector(a.acos() for a in self._items)

    def atan(self) -> SXVector:
        return SXVector(a.atan() for a in self._items)

    def sinh(self) -> SXVector:
        return SXVector(a.sinh() for a in self._items)

    def cosh(self) -> SXVector:
        return SXVector(a.cosh() for a in self._items)

    def tanh(self) -> SXVector:
        return SXVector(a.tanh() for a in self._items)

    def asinh(self) -> SXVector:
        return SXVector(a.asinh() for a in self._items)

    def acosh(self) -> SXVector:
        return SXVector(a.acosh() for a in self._items)

    def atanh(self) -> SXVector:
        return SXVector(a.atanh() for a in self._items)

    def exp(self) -> SXVector:
        return SXVector(a.exp() for a in self._items)

    def expm1(self) -> SXVector:
        return SXVector(a.expm1() for a in self._items)

    def log(self) -> SXVector:
        return SXVector(a.log() for a in self._items)

    def log1p(self) -> SXVector:
        return SXVector(a.log1p() for a in self._items)

    def log10(self) -> SXVector:
        return SXVector(a.log10() for a in self._items)

    def sqrt(self) -> SXVector:
        return SXVector(a.sqrt() for a in self._items)

    def cbrt(self) -> SXVector:
        return SXVector(a.cbrt() for a in self._items)

    def erf(self) -> SXVector:
        return SXVector(a.erf() for a in self._items)

    def erfc(self) -> SXVector:
        return SXVector(a.erfc() for a in self._items)

    def floor(self) -> SXVector:
        return SXVector(a.floor() for a in self._items)

    def ceil(self) -> SXVector:
        return SXVector(a.ceil() for a in self._items)

    def round(self) -> SXVector:
        return SXVector(a.round() for a in self._items)

    def trunc(self) -> SXVector:
        return SXVector(a.trunc() for a in self._items)

    def fract(self) -> SXVector:
        return SXVector(a.fract() for a in self._items)

    def signum(self) -> SXVector:
        return SXVector(a.signum() for a in self._items)

    def max(self) -> SX:
        """The largest element, as nested ``maximum`` (same derivative and tie rule)."""
        return self._extremum(Op.MAX, "max")

    def min(self) -> SX:
        """The smallest element, as nested ``minimum`` (same derivative and tie rule)."""
        return self._extremum(Op.MIN, "min")

    def _extremum(self, op: Op, what: str) -> SX:
        if not self._items:
            raise ShapeError(f"the {what} of an empty vector is undefined")
        acc = self._items[0]
        for a in self._items[1:]:
            acc = SX.make(op, (acc, a))
        return acc

    # ---- reductions ---------------------------------------------------------------------
    def dot(self, other: VectorLike) -> SX:
        o = other if isinstance(other, SXVector) else SXVector(other)
        if len(o) != len(self):
            raise ShapeError(f"dot product of vectors of lengths {len(self)} and {len(o)}")
        return _fold_add(a * b for a, b in zip(self, o, strict=True))

    def sum(self) -> SX:
        return _fold_add(self)

    def prod(self) -> SX:
        acc: SX | None = None
        for a in self:
            acc = a if acc is None else acc * a
        return SX.const(1.0) if acc is None else acc

    def mean(self) -> SX:
        if not self._items:
            raise ShapeError("the mean of an empty vector is undefined")
        return self.sum() / len(self)

    def _norm(self, op: Op, attr: object = None) -> SX:
        if not self._items:
            raise ShapeError("a norm of an empty vector is not defined here")
        return SX.make(op, self._items, attr)

    def norm2(self) -> SX:
        """Euclidean norm (printed as a call to the ``norm2`` helper)."""
        return self._norm(Op.NORM2)

    def norm2sq(self) -> SX:
        """Squared Euclidean norm."""
        return self._norm(Op.NORM2SQ)

    def norm1(self) -> SX:
        return self._norm(Op.NORM1)

    def norm_inf(self) -> SX:
        return self._norm(Op.NORM_INF)

    def norm_p(self, p: float) -> SX:
        """``(sum |x_i|^p)^(1/p)`` for a constant ``p > 0``."""
        return self._norm(Op.NORM_P, _order(p))

    def norm_p_to_p(self, p: float) -> SX:
        """``sum |x_i|^p`` for a constant ``p > 0``."""
        return self._norm(Op.NORM_P_TO_P, _order(p))


def _is_sequence(value: object) -> TypeGuard[VectorLike]:
    """A vector operand: an SXVector, list, tuple or 1-d array (not a string or a scalar)."""
    if isinstance(value, (SXVector, list, tuple)):
        return True
    if isinstance(value, (SX, str, bytes)):
        return False
    return hasattr(value, "__len__") and hasattr(value, "__getitem__") and getattr(value, "ndim", 1) >= 1


def _order(p: object) -> float:
    if isinstance(p, SX) and p.is_constant:
        p = p.value
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise GradgenTypeError(f"the norm order p must be a number, got {type(p).__name__}")
    order = float(p)
    if not (order > 0.0 and order < math.inf):
        raise GradgenTypeError(f"the norm order p must be finite and positive, got {order!r}")
    return order


def _fold_add(terms: Iterable[SX]) -> SX:
    acc: SX | None = None
    for t in terms:
        acc = t if acc is None else acc + t
    return SX.const(0.0) if acc is None else acc


def vector(items: Iterable[Scalar]) -> SXVector:
    """An ``SXVector`` from an iterable of expressions or numbers."""
    return SXVector(items)
