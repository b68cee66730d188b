"""Elementary functions on ``SX``, numbers and ``SXVector`` (applied elementwise).

Each function is a thin constructor of one IR operation; its numeric meaning is
``ir.ieee``'s (Rust's ``f64`` methods), its derivative rule lives in ``passes.autodiff_rules``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from ir.errors import GradgenTypeError, ShapeError
from ir.expr import SX, as_sx
from ir.ops import Op

from .vector import SXVector, _fold_add, _is_sequence

Operand = Any


def _unary(op: Op) -> Callable[[Operand], Any]:
    def fn(x: Operand) -> Any:
        if isinstance(x, SXVector):
            return SXVector(SX.make(op, (a,)) for a in x)
        return SX.make(op, (as_sx(x),))

    return fn


def _binary(op: Op) -> Callable[[Operand, Operand], Any]:
    def fn(a: Operand, b: Operand) -> Any:
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

    return fn


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
signum = _unary(Op.SIGNUM)
fabs = _unary(Op.ABS)

atan2 = _binary(Op.ATAN2)
hypot = _binary(Op.HYPOT)
maximum = _binary(Op.MAX)
minimum = _binary(Op.MIN)
eq = _binary(Op.EQ)
ne = _binary(Op.NE)


def pow(a: Operand, b: Operand) -> Any:
    """``a ** b`` (elementwise on vectors); an integral constant exponent stays exact (``POWI``)."""
    if isinstance(a, SXVector) or isinstance(b, SXVector):
        if _is_sequence(a):
            return _as_vector(a) ** (_as_vector(b) if _is_sequence(b) else as_sx(b))
        return _as_vector(b).__rpow__(as_sx(a))
    return as_sx(a) ** as_sx(b)


def if_else(a: Operand, b: Operand, cond: Operand) -> Any:
    """``a`` where ``cond`` is nonzero (NaN counts as true), else ``b``; elementwise on vectors."""
    if any(isinstance(v, SXVector) for v in (a, b, cond)):
        n = max(len(v) for v in (a, b, cond) if isinstance(v, SXVector))
        parts = []
        for v in (a, b, cond):
            if _is_sequence(v):
                v = _as_vector(v)
                if len(v) != n:
                    raise ShapeError(f"if_else on vectors of lengths {len(v)} and {n}")
                parts.append(list(v))
            else:
                parts.append([as_sx(v)] * n)
        return SXVector(SX.make(Op.SELECT, (c, x, y)) for x, y, c in zip(*parts))
    return SX.make(Op.SELECT, (as_sx(cond), as_sx(a), as_sx(b)))


def _matrix(A: Any) -> list[list[Any]]:
    try:
        rows = [list(r) for r in A]
    except TypeError:
        raise GradgenTypeError("a matrix must be a sequence of rows") from None
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ShapeError("a matrix must be a non-empty list of rows of equal length")
    return rows


def _is_zero(v: Any) -> bool:
    if isinstance(v, SX):
        return v.is_constant and v.value == 0.0
    try:
        return float(v) == 0.0
    except (TypeError, ValueError):
        raise GradgenTypeError(f"a matrix entry must be a number or an SX, got {type(v).__name__}") from None


def _as_vector(x: Any) -> SXVector:
    return x if isinstance(x, SXVector) else SXVector(x)


def matvec(A: Sequence[Sequence[Any]], x: Any) -> SXVector:
    """``A x`` for a (constant) matrix ``A`` given as rows; zero entries cost nothing."""
    rows = _matrix(A)
    xv = _as_vector(x)
    if len(rows[0]) != len(xv):
        raise ShapeError(f"matvec: matrix has {len(rows[0])} columns but the vector has length {len(xv)}")
    return SXVector(_fold_add(as_sx(a) * xi for a, xi in zip(row, xv) if not _is_zero(a)) for row in rows)


def bilinear_form(x: Any, P: Sequence[Sequence[Any]], y: Any) -> SX:
    """``x^T P y`` for a (constant) matrix ``P``."""
    xv = _as_vector(x)
    rows = _matrix(P)
    if len(rows) != len(xv):
        raise ShapeError(f"bilinear_form: matrix has {len(rows)} rows but x has length {len(xv)}")
    py = matvec(rows, y)
    return _fold_add(xi * pi for xi, pi, row in zip(xv, py, rows) if not all(_is_zero(a) for a in row))


def quadform(P: Sequence[Sequence[Any]], x: Any) -> SX:
    """``x^T P x`` for a square (constant) matrix ``P``."""
    rows = _matrix(P)
    if len(rows) != len(rows[0]):
        raise ShapeError(f"quadform needs a square matrix, got {len(rows)}x{len(rows[0])}")
    return bilinear_form(x, rows, x)


def _vec_method(name: str) -> Callable[..., SX]:
    def fn(x: Any, *args: Any) -> SX:
        return cast(SX, getattr(_as_vector(x), name)(*args))

    fn.__name__ = name
    fn.__doc__ = f"``SXVector.{name}`` for any sequence of expressions or numbers."
    return fn


dot = _vec_method("dot")
norm2 = _vec_method("norm2")
norm2sq = _vec_method("norm2sq")
norm1 = _vec_method("norm1")
norm_inf = _vec_method("norm_inf")
norm_p = _vec_method("norm_p")
norm_p_to_p = _vec_method("norm_p_to_p")
