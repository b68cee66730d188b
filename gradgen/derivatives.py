"""Derivatives for users: the symbolic API.

The symbolic functions (:func:`derivative`, :func:`gradient`, ...) lower the expression to a
kernel whose inputs are ``x`` and the other free symbols, differentiate it with
:mod:`passes.autodiff` and raise the result back to ``SX`` (an expression is what they return).
A ``Function``'s derivatives (``f.gradient()``, ``f.hvp()``, ...) are methods of
:class:`~gradgen.function.Function`: they never leave the kernel. Names of derivative Functions and
of their ports are listed in :mod:`passes.autodiff` (``<f>_gradient_<in>`` with output
``grad_<in>``, ...); the conventions at non-smooth points are documented in
:mod:`passes.autodiff_rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias, overload

import attrs

from gradgen.errors import DifferentiationError, GradgenTypeError
from gradgen.ir.expr import SX, Scalar, as_sx, iter_dag
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.lower import lower, raise_kernel
from gradgen.ir.ordered import refuse_unordered
from gradgen.passes import autodiff as ad

from .function import Function
from .vector import SXVector

#: an expression to differentiate: a scalar, or a vector (an ``SXVector`` or a list of scalars)
ExprLike: TypeAlias = "SX | SXVector | Sequence[Scalar] | float"
#: the variables: a symbol (scalar derivative) or a vector of symbols
Variables: TypeAlias = "SX | SXVector | Sequence[SX]"
#: a direction (HVP) or seed (JVP/VJP): numbers or expressions, one per variable / output
Direction: TypeAlias = "SX | SXVector | Sequence[Scalar] | float"

# ---- Function derivatives by name (the methods of Function do the work) ---------------------------


def _function(f: object) -> Function:
    if not isinstance(f, Function):
        raise GradgenTypeError(f"expected a gradgen Function, got {type(f).__name__}")
    return f


def jacobian_function(f: Function, wrt: int = 0) -> Function:
    """``f.jacobian(wrt)``."""
    return _function(f).jacobian(wrt)


def hessian_function(f: Function, wrt: int = 0) -> Function:
    """``f.hessian(wrt)``."""
    return _function(f).hessian(wrt)


# ---- symbolic API -------------------------------------------------------------------------------


def _as_exprs(expr: object) -> tuple[list[SX], bool]:
    if isinstance(expr, SXVector):
        return list(expr), False
    if isinstance(expr, (list, tuple)):
        return [as_sx(e) for e in expr], False
    return [as_sx(expr)], True


def _as_vars(x: object) -> tuple[list[SX], bool]:
    if isinstance(x, SX):
        xs, scalar = [x], True
    elif isinstance(x, (SXVector, list, tuple)):
        xs, scalar = [as_sx(v) for v in x], False
    else:
        raise DifferentiationError(
            f"differentiate with respect to symbols (SX or SXVector), got {type(x).__name__}"
        )
    if not xs:
        raise DifferentiationError("differentiation variables must not be empty")
    seen: set[int] = set()
    for s in xs:
        if not s.is_symbol:
            raise DifferentiationError(
                f"can only differentiate with respect to symbols, got the expression {s}"
            )
        if id(s) in seen:
            raise DifferentiationError(f"symbol {s.name!r} appears more than once among the variables")
        seen.add(id(s))
    return xs, scalar


@attrs.frozen
class _Lowered:
    kernel: Kernel
    symbols: list[list[SX]]


def _lower(exprs: list[SX], xs: list[SX]) -> _Lowered:
    """Kernel with inputs ``x`` (port 0) and the other free symbols (port 1, if any)."""
    own = {id(s) for s in xs}
    params = [n for n in iter_dag(exprs) if n.is_symbol and id(n) not in own]
    inputs = [(Port("x", len(xs)), xs)]
    if params:
        inputs.append((Port("p", len(params)), params))
    kernel = lower("expr", inputs, [(Port("y", len(exprs)), exprs)])
    return _Lowered(kernel, [list(xs), params] if params else [list(xs)])


def _raise(kernel: Kernel, symbols: list[list[SX]], *appended: Sequence[SX]) -> list[SX]:
    return raise_kernel(kernel, [*symbols, *(list(a) for a in appended)])[0]


def _result(values: list[SX], scalar: bool) -> SX | SXVector:
    return values[0] if scalar else SXVector(values)


@overload
def derivative(expr: SXVector | Sequence[Scalar], x: SX, seed: Scalar = 1.0) -> SXVector: ...
@overload
def derivative(expr: Scalar, x: SX, seed: Scalar = 1.0) -> SX: ...
def derivative(expr: ExprLike, x: SX, seed: Scalar = 1.0) -> SX | SXVector:
    """``seed * d expr / d x`` for a scalar symbol ``x``; elementwise when ``expr`` is a vector."""
    if not isinstance(x, SX):
        raise DifferentiationError(f"derivative needs a scalar symbol, got {type(x).__name__}; use jacobian")
    exprs, scalar = _as_exprs(expr)
    return _result(_seeded(_jac(exprs, [x]), seed), scalar)


def _seeded(values: list[SX], seed: Scalar) -> list[SX]:
    s = as_sx(seed)
    return values if s.is_constant and s.value == 1.0 else [s * v for v in values]


def _jac(exprs: list[SX], x: Variables) -> list[SX]:
    xs, _ = _as_vars(x)
    low = _lower(exprs, xs)
    return _raise(ad.jacobian(low.kernel, 0), low.symbols)


def gradient(expr: ExprLike, x: Variables, seed: Scalar = 1.0) -> SXVector:
    """The gradient (times ``seed``) of a scalar expression w.r.t. the symbols ``x`` (an
    ``SXVector``)."""
    exprs, scalar = _as_exprs(expr)
    if not scalar and len(exprs) != 1:
        raise DifferentiationError(
            f"gradient needs a scalar expression, got a vector of length {len(exprs)}; use jacobian"
        )
    return SXVector(_seeded(_jac(exprs, x), seed))


def jacobian(expr: ExprLike, x: Variables) -> SXVector:
    """The row-major flat Jacobian ``d expr_i / d x_j`` at index ``i * len(x) + j``."""
    exprs, _ = _as_exprs(expr)
    return SXVector(_jac(exprs, x))


def hessian(expr: ExprLike, x: Variables) -> SXVector:
    """The row-major flat Hessian of a scalar expression (``n*n`` entries, symmetric)."""
    exprs, _ = _as_exprs(expr)
    if len(exprs) != 1:
        raise DifferentiationError(f"hessian needs a scalar expression, got a vector of length {len(exprs)}")
    xs, _ = _as_vars(x)
    low = _lower(exprs, xs)
    return SXVector(_raise(ad.hessian(low.kernel, 0), low.symbols))


def _direction(v: Direction, n: int, what: str) -> tuple[list[SX], list[float] | None]:
    """The seed expressions, and their values when all of them are constants."""
    refuse_unordered(v, f"the {what}")
    vals = [v] if isinstance(v, (SX, int, float)) else v
    try:
        out = [as_sx(e) for e in vals]
    except (TypeError, GradgenTypeError):
        raise DifferentiationError(f"the {what} must be expressions or numbers, got {v!r}") from None
    if len(out) != n:
        raise DifferentiationError(f"the {what} has {len(out)} element(s), expected {n}")
    consts = [e.value for e in out] if all(e.is_constant for e in out) else None
    return out, consts


@overload
def hvp(expr: ExprLike, x: SX, v: Direction) -> SX: ...
@overload
def hvp(expr: ExprLike, x: SXVector | Sequence[SX], v: Direction) -> SXVector: ...
def hvp(expr: ExprLike, x: Variables, v: Direction) -> SX | SXVector:
    """Hessian of a scalar expression times ``v`` (forward-over-reverse); ``v`` may be symbolic."""
    exprs, _ = _as_exprs(expr)
    if len(exprs) != 1:
        raise DifferentiationError(f"hvp needs a scalar expression, got a vector of length {len(exprs)}")
    xs, xscalar = _as_vars(x)
    vs, consts = _direction(v, len(xs), "direction")
    low = _lower(exprs, xs)
    if consts is not None:
        return _result(_raise(ad.hvp(low.kernel, 0, consts), low.symbols), xscalar)
    return _result(_raise(ad.hvp(low.kernel, 0), low.symbols, vs), xscalar)


@overload
def jvp(expr: SXVector | Sequence[Scalar], x: Variables, tangent: Direction) -> SXVector: ...
@overload
def jvp(expr: Scalar, x: Variables, tangent: Direction) -> SX: ...
def jvp(expr: ExprLike, x: Variables, tangent: Direction) -> SX | SXVector:
    """``J tangent``: the directional derivative of ``expr`` along ``tangent`` (may be symbolic)."""
    exprs, scalar = _as_exprs(expr)
    xs, _ = _as_vars(x)
    ts, consts = _direction(tangent, len(xs), "tangent")
    low = _lower(exprs, xs)
    if consts is not None:
        return _result(_raise(ad.jvp(low.kernel, 0, [consts]), low.symbols), scalar)
    return _result(_raise(ad.jvp(low.kernel, 0), low.symbols, ts), scalar)


@overload
def vjp(expr: ExprLike, x: SX, cotangent: Direction) -> SX: ...
@overload
def vjp(expr: ExprLike, x: SXVector | Sequence[SX], cotangent: Direction) -> SXVector: ...
def vjp(expr: ExprLike, x: Variables, cotangent: Direction) -> SX | SXVector:
    """``cotangent^T J``: one entry per variable in ``x`` (``cotangent`` may be symbolic)."""
    exprs, _ = _as_exprs(expr)
    xs, xscalar = _as_vars(x)
    cs, consts = _direction(cotangent, len(exprs), "cotangent")
    low = _lower(exprs, xs)
    if consts is not None:
        return _result(_raise(ad.vjp(low.kernel, 0, [consts]), low.symbols), xscalar)
    return _result(_raise(ad.vjp(low.kernel, 0), low.symbols, cs), xscalar)
