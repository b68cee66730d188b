"""Scaled values: cotangents and tangents as ``(base, k)``, meaning ``k * base``.

``k`` is a float and ``base`` a value id (the constant 1 for a pure constant). Constant factors
of partials (``2*x`` from ``x**2``, ``-1`` from ``a - b``, ``100`` from ``100*s``) multiply ``k``
instead of creating nodes; a coefficient is emitted once, when a value is needed (an output, a
sum of terms with different coefficients, or a value whose adjoint or tangent feeds two or more
products). Sums of terms with equal or opposite coefficients are plain ``+``/``-`` of the bases.
No node is created for a zero partial or a cotangent that is structurally absent; a cotangent
whose terms cancelled to 0 (``a - a``) still multiplies its partials, so an inf or NaN partial
gives NaN. A cotangent of the form
``select(c, y, 0)`` (from ``if_else``) stays gated when it is scaled, so an inf/NaN partial
inside the branch that was not taken does not reach the result.

The sweeps of :mod:`passes.autodiff_sweeps` apply the partials of :data:`passes.autodiff_rules.RULES`
through :func:`scale` and sum them with :func:`accumulate`.
"""

from __future__ import annotations

import math
from collections.abc import Container

from gradgen.ir.kernel import KernelBuilder
from gradgen.ir.ops import Op

Scaled = tuple[int, float]

_MIN_NORMAL = 2.2250738585072014e-308


def _normal(k: float) -> bool:
    return math.isfinite(k) and abs(k) >= _MIN_NORMAL


def _gate(b: KernelBuilder, vid: int) -> tuple[int, int, bool] | None:
    """``(cond, value, taken_when_true)`` when ``vid`` is ``select(c, value, 0)`` or
    ``select(c, 0, value)``."""
    if b.ops[vid] is not Op.SELECT:
        return None
    c, y, z = b.args[vid]
    if b.is_zero(z):
        return c, y, True
    if b.is_zero(y):
        return c, z, False
    return None


def _gated(b: KernelBuilder, cond: int, value: int, when_true: bool) -> int:
    zero = b.const(0.0)
    args = (cond, value, zero) if when_true else (cond, zero, value)
    return b.emit(Op.SELECT, args)


def split(b: KernelBuilder, vid: int) -> Scaled:
    """``vid`` as ``(base, k)``: a constant ``c`` is ``(1, c)``, ``-x`` is ``(x, -1)``, ``x * c``
    and ``-(x * c)`` are ``(x, ±c)`` (for a normal ``c``); anything else is ``(vid, 1)``."""
    k = 1.0
    if b.ops[vid] is Op.CONST:
        return b.const(1.0), b.attrs[vid]
    if b.ops[vid] is Op.NEG:
        vid, k = b.args[vid][0], -1.0
    if b.ops[vid] is Op.MUL:
        x, y = b.args[vid]
        c = b.const_of(y)
        if c is not None and b.ops[x] is not Op.CONST and _normal(c):
            return x, k * c
    return vid, k


def times(b: KernelBuilder, base: int, k: float) -> int:
    """The value ``k * base``; a gated base ``select(c, y, 0)`` stays gated."""
    if b.const_of(base) == 1.0:
        return b.const(k)
    if k == 1.0:
        return base
    gate = _gate(b, base)
    if gate is not None:
        cond, value, side = gate
        return _gated(b, cond, b.mul(value, b.const(k)), side)
    return b.mul(base, b.const(k))


def pending(b: KernelBuilder, s: Scaled) -> bool:
    """Whether emitting ``s`` costs a multiplication (a coefficient other than ±1 on a value)."""
    return abs(s[1]) != 1.0 and b.const_of(s[0]) != 1.0


def value(b: KernelBuilder, s: Scaled) -> int:
    """The value id of a scaled value."""
    return times(b, s[0], s[1])


def _product(b: KernelBuilder, p: int, g: int) -> int:
    """``p * g`` for two bases; a gated ``g`` (or a partial ``select(c, 1, 0)``) stays gated."""
    one = b.const(1.0)
    if p == one:
        return g
    if g == one:
        return p
    gate = _gate(b, g)
    if gate is not None:
        cond, v, side = gate
        return _gated(b, cond, b.mul(p, v), side)
    gate = _gate(b, p)
    if gate is not None and b.const_of(gate[1]) == 1.0:
        return _gated(b, gate[0], g, gate[2])
    return b.mul(p, g)


def scale(b: KernelBuilder, partial: int | None, g: Scaled, graph: Container[int] = ()) -> Scaled | None:
    """``partial * g``, or ``None`` when the partial is zero.

    A partial gives its constant factor (``2`` of ``x * 2``) to the coefficient, unless it is a
    value of the differentiated ``graph`` itself (``x * 200`` of a gradient being differentiated
    again), which is computed anyway and used as it is.

    Zeros that are computed, not structural, still multiply: a ``g`` with coefficient 0 (its
    terms cancelled, ``a - a``) and a partial that is the constant 0 (of ``p * 0``). Their product
    with a constant is the *carried zero* ``(1, 0.0)``, which keeps propagating; with a value it
    is the node ``value * 0``, NaN where that value is infinite or NaN, as IEEE arithmetic gives
    (the derivative of ``1/x - 1/x`` is NaN at 0). The levels that assume finite values
    (``mul-zero``, from ``medium``) fold those products to 0.
    """
    if partial is None:
        return None
    zero_partial = b.is_zero(partial)
    if zero_partial or g[1] == 0.0:
        other = value(b, g) if zero_partial else partial
        c = b.const_of(other)
        if c is not None and math.isfinite(c):
            return b.const(1.0), 0.0
        return b.mul(other, b.const(0.0)), 1.0
    pb, pk = (partial, 1.0) if partial in graph else split(b, partial)
    if pk == 0.0:
        return None
    k = pk * g[1]
    if not _normal(k):  # keep the constants as nodes rather than round them into k
        return _product(b, times(b, pb, pk), times(b, g[0], g[1])), 1.0
    return _product(b, pb, g[0]), k


def _add(b: KernelBuilder, u: int, v: int, negate_v: bool) -> int:
    """``u + v`` (``u - v`` when ``negate_v``); a negative constant ``v`` flips the operation,
    and two terms gated on the same condition merge into one gated term so the gate survives."""
    c = b.const_of(v)
    if c is not None and c < 0:
        v, negate_v = b.const(-c), not negate_v
    if b.ops[u] is Op.SELECT and b.ops[v] is Op.SELECT and b.args[u][0] == b.args[v][0]:
        cond, y1, z1 = b.args[u]
        _, y2, z2 = b.args[v]
        return b.emit(Op.SELECT, (cond, _plus(b, y1, y2, negate_v), _plus(b, z1, z2, negate_v)))
    return _plus(b, u, v, negate_v)


def _plus(b: KernelBuilder, u: int, v: int, negate_v: bool) -> int:
    """``u + v`` (``u - v``); a structural zero term (the other branch of a gate) adds nothing.
    The builder keeps ``x + 0`` as it is (it is ``+0``, not ``x``, at ``x = -0``), but a
    derivative term that is structurally zero contributes no value of its own."""
    if b.is_zero(v):
        return u
    if b.is_zero(u):
        return b.neg(v) if negate_v else v
    return b.sub(u, v) if negate_v else b.add(u, v)


def _ratio(p: float, t: float) -> float | None:
    """``p / t`` when it is exact and normal (so rescaling a term by it adds no rounding)."""
    r = p / t
    if not _normal(r):  # also rules out an infinite or NaN p or t
        return None
    # exact test of r * t == p on the integer ratios: (a/b) * (c/d) == e/f
    a, b = r.as_integer_ratio()
    c, d = t.as_integer_ratio()
    e, f = p.as_integer_ratio()
    return r if a * c * f == e * b * d else None


def accumulate(b: KernelBuilder, prev: Scaled | None, term: Scaled) -> Scaled:
    """``prev + term`` (``term`` when ``prev`` is ``None``).

    Equal or opposite coefficients add or subtract the bases (a term added to itself doubles
    its coefficient instead). Otherwise one term is rescaled
    to the other's coefficient when the ratio is exact, preferring to keep a coefficient
    ``±1``; failing that both are emitted and added.
    """
    if prev is None:
        return term
    (pb, pk), (tb, tk) = prev, term
    one = b.const(1.0)
    if pb == one and pk == 0.0:  # a carried zero (see scale) adds nothing
        return term
    if tb == one and tk == 0.0:
        return prev
    if pb == one and tb == one:
        return one, pk + tk
    if pk == tk:
        if pb == tb and _normal(2.0 * pk):
            return pb, 2.0 * pk  # k*b + k*b: the factor 2 joins the coefficient
        return _add(b, pb, tb, False), pk
    if pk == -tk:
        return _difference(b, pb, tb, pk)
    if pb != one and (tb == one or (abs(pk) == 1.0 and abs(tk) != 1.0)):
        (pb, pk), (tb, tk) = (tb, tk), (pb, pk)
    # rescale prev to the coefficient of term: prev = (pk/tk) * pb
    r = _ratio(pk, tk)
    if r is None:
        return _add(b, value(b, prev), value(b, term), False), 1.0
    if r < 0:
        return _difference(b, tb, times(b, pb, -r), tk)
    return _add(b, times(b, pb, r), tb, False), tk


def _difference(b: KernelBuilder, u: int, v: int, k: float) -> Scaled:
    """``k * (u - v)``, as ``v - u`` when ``k`` is ``-1`` (so no negation is left)."""
    if k == -1.0:
        return _add(b, v, u, True), 1.0
    return _add(b, u, v, True), k
