"""The derivative rules: one entry per :class:`ir.ops.Op`, shared by forward and reverse mode.

A rule receives the builder holding the primal graph, the id ``out`` of the instruction, its
argument ids, its attribute and a ``need`` flag per argument (``False`` when the argument does not
depend on the differentiation variables, so its partial is never used). It emits and returns the
partial derivative ``d out / d args[k]`` for each argument: a value id, or ``None`` for a
structural zero (no node is created for it). Forward mode (JVP) forms ``sum_k partial_k *
tangent_k``; reverse mode (VJP) adds ``cotangent * partial_k`` to the adjoint of ``args[k]``
(see :mod:`passes.autodiff`). The leaves ``CONST`` and ``INPUT`` map to ``None``: they have no
arguments and are never differentiated through.

Conventions at non-smooth and non-differentiable points (tested in ``tests/test_autodiff.py``):

* ``abs'(x) = signum(x)``, so ``abs'(0) = 0``; ``norm1`` uses ``signum`` per element the same way.
* ``max``/``min``: the derivative flows to the argument the operation returned. At a tie
  (``a == b``) each argument receives half (``0.5``), which is a valid subgradient and does not
  depend on the (canonical) order of the arguments. When one argument is NaN the other is
  returned and receives the whole derivative.
* ``select(c, a, b)`` (``if_else(a, b, c)``): the derivative of the chosen branch; the condition
  has derivative 0. :mod:`passes.autodiff` additionally keeps a cotangent that is gated by a
  condition gated while it is scaled, so an inf/NaN partial in the branch that was not taken
  does not leak into the result.
* ``floor ceil round trunc signum`` and the comparisons are piecewise constant: derivative 0.
* ``norm_inf``: the weight is split evenly among all entries whose magnitude equals the maximum
  (times their sign), a valid subgradient; at ``x = 0`` the gradient is 0.
* ``norm2`` and ``hypot`` at the origin: gradient 0 (a subgradient); elsewhere ``x / norm``.
* ``norm_p`` at ``x = 0``: gradient 0 (also for ``p < 1``, where the product
  ``|x_k|^(p-1) out^(1-p)`` would be ``inf * 0``); for ``p < 1`` an entry equal to 0 (with
  ``x != 0``) gives NaN, as the derivative is unbounded there. ``norm_p_to_p`` is ``p sign(x) |x|^(p-1)``.
* ``x**n`` (``powi``): ``n * x**(n-1)`` through ``powi``, so it is finite at 0 for ``n >= 1``.
* ``pow(x, y)``: ``y * x**(y-1)`` and ``x**y * log(x)`` (NaN for ``x <= 0`` in the second).
* ``sqrt log acos asin atanh acosh cbrt ...`` follow their mathematical derivative, with inf or
  NaN at their singular points (e.g. ``sqrt'(0) = inf``, ``acos'(1) = -inf``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from gradgen.ir.custom import CustomCall
from gradgen.ir.kernel import KernelBuilder
from gradgen.ir.ops import Op

from .errors import DifferentiationError

Partials = list[int | None]
#: ``rule(builder, out, args, attr, need) -> partials``
Rule = Callable[[KernelBuilder, int, tuple[int, ...], Any, Sequence[bool]], Partials]

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_INV_LN10 = 1.0 / math.log(10.0)
#: exponents handled with ``powi`` when a constant power is integral
_MAX_POWI = 64


def _c(b: KernelBuilder, value: float) -> int:
    return b.const(value)


def _recip(b: KernelBuilder, x: int) -> int:
    return b.div(_c(b, 1.0), x)


def _sq(b: KernelBuilder, x: int) -> int:
    return b.mul(x, x)


def _select(b: KernelBuilder, cond: int, a: int, c: int) -> int:
    return b.emit(Op.SELECT, (cond, a, c))


def pow_const(b: KernelBuilder, x: int, e: float) -> int:
    """``x ** e`` for a constant ``e``: ``powi`` when ``e`` is a small integer, else ``pow``."""
    if float(e).is_integer() and abs(e) <= _MAX_POWI:
        return b.emit(Op.POWI, (x,), int(e))
    return b.emit(Op.POW, (x, _c(b, e)))


def _unary(fn: Callable[[KernelBuilder, int, int], int]) -> Rule:
    """A rule for a one-argument op from ``fn(builder, out, x) -> partial``."""

    def rule(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
        return [fn(b, out, args[0]) if need[0] else None]

    return rule


def _zero(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    return [None] * len(args)


# ---- binary ---------------------------------------------------------------------------------


def _add(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    one = _c(b, 1.0)
    return [one, one]


def _sub(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    return [_c(b, 1.0), _c(b, -1.0)]


def _mul(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    x, y = args
    if x == y:
        # a square: the whole partial ``2 * x`` on one argument (the sweeps read the factor 2
        # as a coefficient), rather than ``x`` twice, which they would sum as ``x + x``
        return [b.mul(x, _c(b, 2.0)) if need[0] else None, None]
    return [y, x]


def _div(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    _, y = args
    return [
        _recip(b, y) if need[0] else None,
        b.neg(b.div(out, y)) if need[1] else None,
    ]


def _pow(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    x, y = args
    dx: int | None = None
    if need[0]:
        ey = b.const_of(y)
        if ey is not None:
            dx = b.mul(_c(b, ey), pow_const(b, x, ey - 1.0))
        else:
            dx = b.mul(y, b.emit(Op.POW, (x, b.sub(y, _c(b, 1.0)))))
    dy = b.mul(out, b.emit(Op.LOG, (x,))) if need[1] else None
    return [dx, dy]


def _atan2(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    y, x = args
    r = b.add(_sq(b, x), _sq(b, y))
    return [b.div(x, r) if need[0] else None, b.neg(b.div(y, r)) if need[1] else None]


def _extremum(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    a, c = args
    tie = b.emit(Op.EQ, (a, c))
    pa = _select(b, tie, _c(b, 0.5), b.emit(Op.EQ, (out, a)))
    return [pa, b.sub(_c(b, 1.0), pa) if need[1] else None]


def _select_rule(
    b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]
) -> Partials:
    cond = args[0]
    one, zero = _c(b, 1.0), _c(b, 0.0)
    return [
        None,
        _select(b, cond, one, zero) if need[1] else None,
        _select(b, cond, zero, one) if need[2] else None,
    ]


def _powi(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    if not need[0]:
        return [None]
    n = int(attr)
    return [b.mul(_c(b, float(n)), b.emit(Op.POWI, (args[0],), n - 1))]


# ---- vector reductions ------------------------------------------------------------------------


def _euclid(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    """``hypot`` and ``norm2``: ``x_k / out``, and 0 at the origin (where every ``x_k`` is a zero,
    divided by 1 instead of 0). A division per entry, not a product with ``1/out``: that
    reciprocal overflows for a subnormal norm."""
    den = _select(b, out, out, _c(b, 1.0))
    return [b.div(x, den) if nd else None for x, nd in zip(args, need, strict=True)]


def _norm2sq(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    two = _c(b, 2.0)
    return [b.mul(two, x) if nd else None for x, nd in zip(args, need, strict=True)]


def _norm1(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    return [b.emit(Op.SIGNUM, (x,)) if nd else None for x, nd in zip(args, need, strict=True)]


def _norm_inf(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    hits = [b.emit(Op.EQ, (b.emit(Op.ABS, (x,)), out)) for x in args]
    share = _recip(b, b.sum(hits))
    return [
        b.mul(b.mul(h, b.emit(Op.SIGNUM, (x,))), share) if nd else None
        for x, h, nd in zip(args, hits, need, strict=True)
    ]


def _abs_pow(b: KernelBuilder, x: int, p: float) -> int:
    """``signum(x) * |x|^(p-1)``: the derivative of ``|x|^p / p``."""
    return b.mul(b.emit(Op.SIGNUM, (x,)), pow_const(b, b.emit(Op.ABS, (x,)), p - 1.0))


def _norm_p(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    p = float(attr)
    common = pow_const(b, out, 1.0 - p)
    zero = _c(b, 0.0)
    return [
        _select(b, out, b.mul(_abs_pow(b, x, p), common), zero) if nd else None
        for x, nd in zip(args, need, strict=True)
    ]


def _norm_p_to_p(
    b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]
) -> Partials:
    p = float(attr)
    pc = _c(b, p)
    return [b.mul(pc, _abs_pow(b, x, p)) if nd else None for x, nd in zip(args, need, strict=True)]


# ---- the table -------------------------------------------------------------------------------


def _custom(b: KernelBuilder, out: int, args: tuple[int, ...], attr: Any, need: Sequence[bool]) -> Partials:
    """A user function: ``d f/d x_k`` is the ``CUSTOM`` call of the next part (its Jacobian
    entry, then its Hessian entry); the parameters ``w`` are not differentiable."""
    call: CustomCall = attr
    d = call.definition
    n = d.input_dimension
    if any(need[n:]):
        raise DifferentiationError(
            f"custom function {d.name!r} cannot be differentiated with respect to its parameters w "
            "(pass constants or symbols that are not differentiation variables)"
        )
    if not any(need[:n]):
        return [None] * len(args)
    order = call.order + 1
    if not d.has_part(order):
        what = {1: "first derivatives (a jacobian)", 2: "second derivatives (a hessian or hvp)"}
        raise DifferentiationError(
            f"custom function {d.name!r} provides no {what.get(order, f'derivatives of order {order}')}: "
            "give a Python callback or backend code for them to differentiate it"
        )
    return [
        b.emit(Op.CUSTOM, args, call.derivative(k)) if k < n and need[k] else None for k in range(len(args))
    ]


RULES: dict[Op, Rule | None] = {
    Op.CONST: None,
    Op.INPUT: None,
    Op.ADD: _add,
    Op.SUB: _sub,
    Op.MUL: _mul,
    Op.DIV: _div,
    Op.POW: _pow,
    Op.ATAN2: _atan2,
    Op.HYPOT: _euclid,
    Op.MAX: _extremum,
    Op.MIN: _extremum,
    Op.LT: _zero,
    Op.LE: _zero,
    Op.GT: _zero,
    Op.GE: _zero,
    Op.EQ: _zero,
    Op.NE: _zero,
    Op.NEG: _unary(lambda b, out, x: _c(b, -1.0)),
    Op.ABS: _unary(lambda b, out, x: b.emit(Op.SIGNUM, (x,))),
    Op.SIN: _unary(lambda b, out, x: b.emit(Op.COS, (x,))),
    Op.COS: _unary(lambda b, out, x: b.neg(b.emit(Op.SIN, (x,)))),
    Op.TAN: _unary(lambda b, out, x: b.add(_c(b, 1.0), _sq(b, out))),
    Op.ASIN: _unary(lambda b, out, x: _recip(b, b.emit(Op.SQRT, (b.sub(_c(b, 1.0), _sq(b, x)),)))),
    Op.ACOS: _unary(lambda b, out, x: b.div(_c(b, -1.0), b.emit(Op.SQRT, (b.sub(_c(b, 1.0), _sq(b, x)),)))),
    Op.ATAN: _unary(lambda b, out, x: _recip(b, b.add(_c(b, 1.0), _sq(b, x)))),
    Op.SINH: _unary(lambda b, out, x: b.emit(Op.COSH, (x,))),
    Op.COSH: _unary(lambda b, out, x: b.emit(Op.SINH, (x,))),
    Op.TANH: _unary(lambda b, out, x: b.sub(_c(b, 1.0), _sq(b, out))),
    Op.ASINH: _unary(lambda b, out, x: _recip(b, b.emit(Op.SQRT, (b.add(_sq(b, x), _c(b, 1.0)),)))),
    Op.ACOSH: _unary(lambda b, out, x: _recip(b, b.emit(Op.SQRT, (b.sub(_sq(b, x), _c(b, 1.0)),)))),
    Op.ATANH: _unary(lambda b, out, x: _recip(b, b.sub(_c(b, 1.0), _sq(b, x)))),
    Op.EXP: _unary(lambda b, out, x: out),
    Op.EXPM1: _unary(lambda b, out, x: b.add(out, _c(b, 1.0))),
    Op.LOG: _unary(lambda b, out, x: _recip(b, x)),
    Op.LOG1P: _unary(lambda b, out, x: _recip(b, b.add(x, _c(b, 1.0)))),
    Op.LOG10: _unary(lambda b, out, x: b.div(_c(b, _INV_LN10), x)),
    Op.SQRT: _unary(lambda b, out, x: b.div(_c(b, 0.5), out)),
    Op.CBRT: _unary(lambda b, out, x: _recip(b, b.mul(_c(b, 3.0), _sq(b, out)))),
    Op.ERF: _unary(lambda b, out, x: b.mul(_c(b, _TWO_OVER_SQRT_PI), b.emit(Op.EXP, (b.neg(_sq(b, x)),)))),
    Op.ERFC: _unary(lambda b, out, x: b.mul(_c(b, -_TWO_OVER_SQRT_PI), b.emit(Op.EXP, (b.neg(_sq(b, x)),)))),
    Op.FLOOR: _zero,
    Op.CEIL: _zero,
    Op.ROUND: _zero,
    Op.TRUNC: _zero,
    Op.SIGNUM: _zero,
    Op.POWI: _powi,
    Op.SELECT: _select_rule,
    Op.NORM2: _euclid,
    Op.NORM2SQ: _norm2sq,
    Op.NORM1: _norm1,
    Op.NORM_INF: _norm_inf,
    Op.NORM_P: _norm_p,
    Op.NORM_P_TO_P: _norm_p_to_p,
    Op.FRACT: _unary(lambda b, out, x: _c(b, 1.0)),  # x - trunc(x): slope 1 between the jumps
    Op.CUSTOM: _custom,
}


def partials(b: KernelBuilder, out: int, need: Sequence[bool]) -> Partials:
    """The partial derivatives of instruction ``out`` of ``b`` (``None`` = structural zero)."""
    op = b.ops[out]
    rule = RULES[op]
    args = b.args[out]
    if rule is None:
        return [None] * len(args)
    return rule(b, out, args, b.attrs[out], need)
