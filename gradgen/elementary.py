"""Elementary functions on ``SX``, numbers and ``SXVector`` (applied elementwise).

Each function is a thin constructor of one IR operation; its numeric meaning is
``ir.ieee``'s (Rust's ``f64`` methods), its derivative rule lives in ``passes.autodiff_rules``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast, overload

from gradgen.errors import GradgenTypeError, ShapeError
from gradgen.ir.expr import SX, Scalar, as_sx
from gradgen.ir.ops import Op
from gradgen.ir.ordered import refuse_unordered

from .vector import Operand, SXVector, VectorLike, _fold_add, _is_sequence

#: a constant matrix given as rows of numbers (or constant expressions)
Matrix = Sequence[Sequence[Scalar]]


class UnaryFunction(Protocol):
    """An elementwise function of one argument: ``SX`` for a scalar, ``SXVector`` for a vector."""

    @overload
    def __call__(self, x: SXVector, /) -> SXVector: ...
    @overload
    def __call__(self, x: Scalar, /) -> SX: ...


class BinaryFunction(Protocol):
    """An elementwise function of two arguments; a vector on either side makes the result a vector
    (the other side is a vector of the same length or a scalar broadcast to every element)."""

    @overload
    def __call__(self, a: SXVector, b: Operand, /) -> SXVector: ...
    @overload
    def __call__(self, a: Operand, b: SXVector, /) -> SXVector: ...
    @overload
    def __call__(self, a: Scalar, b: Scalar, /) -> SX: ...


def _unary(op: Op) -> UnaryFunction:
    def fn(x: SXVector | Scalar) -> SX | SXVector:
        if isinstance(x, SXVector):
            return SXVector(SX.make(op, (a,)) for a in x)
        return SX.make(op, (as_sx(x),))

    return cast(UnaryFunction, fn)


def _binary(op: Op) -> BinaryFunction:
    def fn(a: Operand, b: Operand) -> SX | SXVector:
        if isinstance(a, SXVector) or isinstance(b, SXVector):
            av = _as_vector(a) if _is_sequence(a) else None
            bv = _as_vector(b) if _is_sequence(b) else None
            if av is not None and bv is not None and len(av) != len(bv):
                raise ShapeError(f"elementwise operation on vectors of lengths {len(av)} and {len(bv)}")
            n = len(av) if av is not None else len(bv)  # type: ignore[arg-type]
            sa = as_sx(a) if av is None else None
            sb = as_sx(b) if bv is None else None
            return SXVector(
                SX.make(op, (av[i] if av is not None else sa, bv[i] if bv is not None else sb))  # type: ignore[arg-type]
                for i in range(n)
            )
        return SX.make(op, (as_sx(a), as_sx(b)))

    return cast(BinaryFunction, fn)


sin = _unary(Op.SIN)
cos = _unary(Op.COS)
tan = _unary(Op.TAN)
asin = _unary(Op.ASIN)
acos = _unary(Op.ACOS)
atan = _unary(Op.ATAN)
sinh = _unary(Op.SINH)
cosh = _unary(Op.COSH)
tanh = _unary(Op.TANH)
asinh = _unary(Op.ASINH)
acosh = _unary(Op.ACOSH)
atanh = _unary(Op.ATANH)
exp = _unary(Op.EXP)
expm1 = _unary(Op.EXPM1)
log = _unary(Op.LOG)
log1p = _unary(Op.LOG1P)
log10 = _unary(Op.LOG10)
sqrt = _unary(Op.SQRT)
cbrt = _unary(Op.CBRT)
erf = _unary(Op.ERF)
erfc = _unary(Op.ERFC)
floor = _unary(Op.FLOOR)
ceil = _unary(Op.CEIL)
round = _unary(Op.ROUND)
trunc = _unary(Op.TRUNC)
fract = _unary(Op.FRACT)
signum = _unary(Op.SIGNUM)
fabs = _unary(Op.ABS)

atan2 = _binary(Op.ATAN2)
hypot = _binary(Op.HYPOT)
maximum = _binary(Op.MAX)
minimum = _binary(Op.MIN)
eq = _binary(Op.EQ)
ne = _binary(Op.NE)


@overload
def pow(a: SXVector, b: Operand) -> SXVector: ...
@overload
def pow(a: Operand, b: SXVector) -> SXVector: ...
@overload
def pow(a: Scalar, b: Scalar) -> SX: ...
def pow(a: Operand, b: Operand) -> SX | SXVector:
    """``a ** b`` (elementwise on vectors); an integral constant exponent stays exact (``POWI``)."""
    if isinstance(a, SXVector) or isinstance(b, SXVector):
        if _is_sequence(a):
            return _as_vector(a) ** (_as_vector(b) if _is_sequence(b) else as_sx(b))
        return cast(SXVector, b).__rpow__(as_sx(a))  # a is a scalar, so b is the vector
    return as_sx(a) ** as_sx(b)


@overload
def if_else(a: SXVector, b: Operand, cond: Operand) -> SXVector: ...
@overload
def if_else(a: Operand, b: SXVector, cond: Operand) -> SXVector: ...
@overload
def if_else(a: Operand, b: Operand, cond: SXVector) -> SXVector: ...
@overload
def if_else(a: Scalar, b: Scalar, cond: Scalar) -> SX: ...
def if_else(a: Operand, b: Operand, cond: Operand) -> SX | SXVector:
    """``a`` where ``cond`` is nonzero (NaN counts as true), else ``b``; elementwise on vectors."""
    if any(isinstance(v, SXVector) for v in (a, b, cond)):
        n = max(len(v) for v in (a, b, cond) if isinstance(v, SXVector))
        parts: list[list[SX]] = []
        for v in (a, b, cond):
            if _is_sequence(v):
                vv = _as_vector(v)
                if len(vv) != n:
                    raise ShapeError(f"if_else on vectors of lengths {len(vv)} and {n}")
                parts.append(list(vv))
            else:
                parts.append([as_sx(v)] * n)
        return SXVector(SX.make(Op.SELECT, (c, x, y)) for x, y, c in zip(*parts, strict=True))
    return SX.make(Op.SELECT, (as_sx(cond), as_sx(a), as_sx(b)))


def _matrix(A: object) -> list[list[Scalar]]:
    refuse_unordered(A, "a matrix")
    for row in A if isinstance(A, (list, tuple)) else ():
        refuse_unordered(row, "a matrix row")
    try:
        rows = [list(r) for r in A]  # type: ignore[attr-defined]
    except TypeError:
        raise GradgenTypeError("a matrix must be a sequence of rows") from None
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ShapeError("a matrix must be a non-empty list of rows of equal length")
    return rows


def _is_zero(v: object) -> bool:
    if isinstance(v, SX):
        return v.is_constant and v.value == 0.0
    try:
        return float(v) == 0.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GradgenTypeError(f"a matrix entry must be a number or an SX, got {type(v).__name__}") from None


def _as_vector(x: VectorLike) -> SXVector:
    return x if isinstance(x, SXVector) else SXVector(x)


def matvec(A: Matrix, x: VectorLike) -> SXVector:
    """``A x`` for a (constant) matrix ``A`` given as rows; zero entries cost nothing."""
    rows = _matrix(A)
    xv = _as_vector(x)
    if len(rows[0]) != len(xv):
        raise ShapeError(f"matvec: matrix has {len(rows[0])} columns but the vector has length {len(xv)}")
    return SXVector(
        _fold_add(as_sx(a) * xi for a, xi in zip(row, xv, strict=True) if not _is_zero(a)) for row in rows
    )


def bilinear_form(x: VectorLike, P: Matrix, y: VectorLike) -> SX:
    """``x^T P y`` for a (constant) matrix ``P``."""
    xv = _as_vector(x)
    rows = _matrix(P)
    if len(rows) != len(xv):
        raise ShapeError(f"bilinear_form: matrix has {len(rows)} rows but x has length {len(xv)}")
    py = matvec(rows, y)
    return _fold_add(
        xi * pi for xi, pi, row in zip(xv, py, rows, strict=True) if not all(_is_zero(a) for a in row)
    )


def quadform(P: Matrix, x: VectorLike, is_symmetric: bool | None = None) -> SX:
    """``x^T P x`` for a square (constant) matrix ``P``; ``is_symmetric=True`` (gradgen 0.5.2's
    default) also checks that ``P`` is symmetric."""
    rows = _matrix(P)
    if len(rows) != len(rows[0]):
        raise ShapeError(f"quadform needs a square matrix, got {len(rows)}x{len(rows[0])}")
    if is_symmetric:
        for i, row in enumerate(rows):
            for j in range(i):
                if as_sx(row[j]) is not as_sx(rows[j][i]):
                    raise ShapeError(
                        f"quadform(is_symmetric=True): P[{i}][{j}] differs from P[{j}][{i}]; "
                        "pass is_symmetric=False for a non-symmetric matrix"
                    )
    return bilinear_form(x, rows, x)


def dot(x: VectorLike, y: VectorLike) -> SX:
    """The dot product ``sum x_i y_i`` of two vectors of equal length."""
    return _as_vector(x).dot(y)


def norm2(x: VectorLike) -> SX:
    """The Euclidean norm (printed as a call to the ``norm2`` helper)."""
    return _as_vector(x).norm2()


def norm2sq(x: VectorLike) -> SX:
    """The squared Euclidean norm ``sum x_i^2``."""
    return _as_vector(x).norm2sq()


def norm1(x: VectorLike) -> SX:
    """The 1-norm ``sum |x_i|``."""
    return _as_vector(x).norm1()


def norm_inf(x: VectorLike) -> SX:
    """The infinity norm ``max |x_i|``."""
    return _as_vector(x).norm_inf()


def norm_p(x: VectorLike, p: float) -> SX:
    """``(sum |x_i|^p)^(1/p)`` for a constant ``p > 0``."""
    return _as_vector(x).norm_p(p)


def norm_p_to_p(x: VectorLike, p: float) -> SX:
    """``sum |x_i|^p`` for a constant ``p > 0``."""
    return _as_vector(x).norm_p_to_p(p)
