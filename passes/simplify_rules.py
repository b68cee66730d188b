"""Named simplification rules, grouped by level: the one table of this rule family.

Every rule looks only at an instruction, its arguments and their arguments (bounded work per
node, no recursion), and builds its replacement through the hash-consing
:class:`ir.kernel.KernelBuilder`, so the exact construction-time folds of :mod:`ir.fold` (``x-0``,
``x*1``, ``--x``, constants, ...) always apply on top of these rules. **No rule adds an
instruction**, whatever other users its operands have: a replacement builds at most one new
instruction in place of the one it rewrites, or (``add-factor-const``) builds ``k`` and frees
``k + 1``, the values it stops reading having no other reader
(:meth:`passes.rewrite_builder.RewriteBuilder.sole_use`). That is why negations are absorbed by
an enclosing negation (``-((-x)*y) -> x*y``) rather than hoisted out of a product (``(-x)*y ->
-(x*y)`` would cost one instruction more whenever ``-x`` has another user). A rule may fire
only at or above its level. The guarantee of each level, for the whole kernel, is the weakest
guarantee of the rules it enables:

1. ``basic``: **bit-identical** results for every input, including inf and NaN (only the
   payload or sign of a NaN may change). These are the IEEE identities ``x+(-y) = x-y``,
   sign symmetry of ``*`` and ``/``, ``x+x = 2*x``, ``x/c = x*(1/c)`` for ``c = ±2^k`` with
   ``1/c`` normal, ``x*x = powi(x, 2)`` (the helper computes exactly ``x*x``), constant chains
   ``(x*c1)*c2 = x*(c1*c2)`` when one factor is a power of two ``>= 1`` and the other
   constant rules out rounding twice (the argument is in :func:`_mul_const_exact`), ``abs`` of a
   value that is never negative nor ``-0``, comparisons ``a>b = b<a`` and select tricks.
2. ``medium``: identical for **finite** operands, except that a zero result may change its sign
   (``-0`` vs ``+0``); may differ when an operand is ±inf or NaN (``x-x -> 0`` is NaN for
   inf), and ``a<b`` negated into ``a>=b`` differs for NaN.
3. ``high``: for finite inputs where no intermediate value of either form overflows or
   underflows, results differ only by **rounding** (a few ulps per rewritten node; cancellation
   elsewhere in the kernel may magnify that). Constant reassociation ``(x+c1)+c2 ->
   x+(c1+c2)``, like terms ``x*c1 + x*c2 -> x*(c1+c2)``, a common constant factored out of a
   sum ``(a + x*c) + y*c -> a + (x+y)*c``, ``pow(x, n) -> powi(x, n)`` (repeated
   multiplication instead of the library ``pow``), ``powi`` merging, division by a constant
   as multiplication by its rounded reciprocal, and ``cos(-x) -> cos(x)``, ``-sin(-x) ->
   sin(x)`` (exact when the math library is symmetric, as glibc and Rust's libm are).
4. ``max``: may differ at **isolated points** (``x/x -> 1`` and ``0/x -> 0`` at ``x = 0``;
   ``x^a * x^-b`` at 0 and inf), where an intermediate **overflows or underflows**
   (``log(exp(x)) -> x`` for ``x > 709``, ``sqrt(x*x) -> |x|``) and by the
   loss of relative accuracy the original suffered (``log(exp(x))`` for tiny ``x``).

No rule equates values that differ on an interval of finite inputs: ``exp(log(x)) -> x`` (NaN
for ``x < 0``), ``sqrt(x)*sqrt(x) -> x`` and ``(x+y)-y -> x`` are deliberately absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import cast

import attrs

from gradgen.ir import ieee
from gradgen.ir.kernel import KernelBuilder
from gradgen.ir.ops import Op

from .levels import LEVELS
from .rewrite_builder import RewriteBuilder

Apply = Callable[[RewriteBuilder, Op, tuple[int, ...], object], int | None]

#: the rule levels by number (level 0, "none", has no rules)
LEVEL_NAMES: dict[int, str] = {n: name for n, name in enumerate(LEVELS) if n}


@attrs.frozen
class Rule:
    """One named rewrite: fires on ``ops`` at ``level`` and above; ``doc`` is its one-line summary."""

    name: str
    level: int
    ops: tuple[Op, ...]
    apply: Apply
    doc: str


# ---- helpers ---------------------------------------------------------------------------------

_MIN_NORMAL = 2.2250738585072014e-308
_CMP = (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE)
#: a op b  <=>  b mirror(op) a
_MIRROR = {Op.LT: Op.GT, Op.LE: Op.GE, Op.GT: Op.LT, Op.GE: Op.LE, Op.EQ: Op.EQ, Op.NE: Op.NE}
#: not (a op b) for non-NaN operands
_NEGATE = {Op.LT: Op.GE, Op.LE: Op.GT, Op.GT: Op.LE, Op.GE: Op.LT, Op.EQ: Op.NE, Op.NE: Op.EQ}
#: operations whose result is never negative and never -0 (NaN aside)
_NONNEG = frozenset(
    {
        Op.EXP,
        Op.COSH,
        Op.ABS,
        Op.HYPOT,
        Op.ERFC,
        Op.ACOS,
        Op.NORM2,
        Op.NORM2SQ,
        Op.NORM1,
        Op.NORM_INF,
        Op.NORM_P,
        Op.NORM_P_TO_P,
        *_CMP,
    }
)
_EVEN_FNS = (Op.COS, Op.COSH)
_ODD_FNS = (Op.SIN, Op.TAN, Op.SINH, Op.TANH, Op.ASIN, Op.ATAN, Op.ASINH, Op.ATANH, Op.CBRT, Op.ERF)
_MAX_EXPONENT = 2**31 - 1


def _c(b: KernelBuilder, v: int) -> float | None:
    return b.const_of(v)


def _is_pos_zero(b: KernelBuilder, v: int) -> bool:
    c = b.const_of(v)
    return c == 0.0 and math.copysign(1.0, c) > 0


def _is_one(b: KernelBuilder, v: int) -> bool:
    return b.const_of(v) == 1.0


def _neg_arg(b: KernelBuilder, v: int) -> int | None:
    return b.args[v][0] if b.ops[v] is Op.NEG else None


def _normal(v: float) -> bool:
    return math.isfinite(v) and abs(v) >= _MIN_NORMAL


def _const_operand(b: KernelBuilder, x: int, y: int) -> tuple[int, float] | None:
    """``(other, c)`` when exactly one of a commutative pair is a constant."""
    cy = _c(b, y)
    if cy is not None and _c(b, x) is None:
        return x, cy
    cx = _c(b, x)
    if cx is not None and cy is None:
        return y, cx
    return None


def _power(b: KernelBuilder, v: int) -> tuple[int, int]:
    """``v`` as ``base ** exponent`` (``powi`` nodes, anything else to the power 1)."""
    if b.ops[v] is Op.POWI:
        return b.args[v][0], b.attrs[v]
    return v, 1


def _exponent_ok(n: int) -> bool:
    return abs(n) <= _MAX_EXPONENT


# ---- level 1: exact ----------------------------------------------------------------------------


def _add_neg(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    x, y = a
    ny = _neg_arg(b, y)
    if ny is not None:
        return b.sub(x, ny)
    nx = _neg_arg(b, x)
    if nx is not None:
        return b.sub(y, nx)
    return None


def _add_self(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.mul(a[0], b.const(2.0)) if a[0] == a[1] else None


def _sub_neg_neg(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    nx, ny = _neg_arg(b, a[0]), _neg_arg(b, a[1])
    if nx is not None and ny is not None:
        return b.sub(ny, nx)
    return None


def _sub_neg(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    ny = _neg_arg(b, a[1])
    return b.add(a[0], ny) if ny is not None else None


def _mul_neg_const(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    split = _const_operand(b, *a)
    if split is None:
        return None
    other, c = split
    inner = _neg_arg(b, other)
    return b.mul(inner, b.const(-c)) if inner is not None else None


def _mul_neg_neg(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    nx, ny = _neg_arg(b, a[0]), _neg_arg(b, a[1])
    return b.mul(nx, ny) if nx is not None and ny is not None else None


def _div_neg_neg(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    nx, ny = _neg_arg(b, a[0]), _neg_arg(b, a[1])
    return b.div(nx, ny) if nx is not None and ny is not None else None


def _div_neg_const(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    x, y = a
    cx, cy = _c(b, x), _c(b, y)
    if cy is not None and _neg_arg(b, x) is not None:
        return b.div(_neg_arg(b, x), b.const(-cy))  # type: ignore[arg-type]
    if cx is not None and _neg_arg(b, y) is not None:
        return b.div(b.const(-cx), _neg_arg(b, y))  # type: ignore[arg-type]
    return None


def _neg_absorb(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    v = a[0]
    inner = b.ops[v]
    if inner in (Op.MUL, Op.DIV):
        x, y = b.args[v]
        nx, ny = _neg_arg(b, x), _neg_arg(b, y)
        if nx is not None:
            return b.emit(inner, (nx, y))
        if ny is not None:
            return b.emit(inner, (x, ny))
    elif inner is Op.SELECT:
        c, x, y = b.args[v]
        nx, ny = _neg_arg(b, x), _neg_arg(b, y)
        if nx is not None and ny is not None:
            return b.emit(Op.SELECT, (c, nx, ny))
    elif inner is Op.POWI and b.attrs[v] % 2 != 0:
        nx = _neg_arg(b, b.args[v][0])
        if nx is not None:
            return b.emit(Op.POWI, (nx,), b.attrs[v])
    return None


def _neg_const_factor(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    v = a[0]
    inner = b.ops[v]
    if inner is Op.MUL:
        split = _const_operand(b, *b.args[v])
        if split is not None:
            return b.mul(split[0], b.const(-split[1]))
    elif inner is Op.DIV:
        x, y = b.args[v]
        cx, cy = _c(b, x), _c(b, y)
        if cy is not None and cx is None:
            return b.div(x, b.const(-cy))
        if cx is not None and cy is None:
            return b.div(b.const(-cx), y)
    return None


def _pow2_at_least_one(c: float) -> bool:
    """``|c| = 2^k`` for some ``k >= 0``: ``x * c`` is exact unless it overflows."""
    m, e = math.frexp(c)
    return abs(m) == 0.5 and e >= 1


def _exact_product(c1: float, c2: float) -> float | None:
    """``c1 * c2`` when it is exactly representable and normal, else ``None``."""
    k = c1 * c2
    if not _normal(k) or Fraction(k) != Fraction(c1) * Fraction(c2):
        return None
    return k


def _mul_const_exact(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    """``(x * c1) * c2 -> x * k`` with ``k = c1 * c2``, bit-identical for every ``x``.

    Conditions: ``k`` is exact and normal, and either (P) ``|c2| = 2^j`` with ``j >= 0`` and
    ``c1`` is an integer, or (Q) ``|c1| = 2^j`` with ``j >= 0`` and ``|c2| >= 1``.

    Why the result is the same double: write ``r(v)`` for ``v`` rounded to 53 bits with an
    unbounded exponent. ``x`` NaN or infinite, or ``x = ±0``, give NaN, the same infinity or a
    zero of sign ``sign(x) sign(c1) sign(c2)`` on both sides. For finite nonzero ``x``:

    * (Q) ``x * 2^j`` is exact (scaling up never leaves the grid) or overflows. If it is exact,
      both sides round the one exact value ``x * k`` once. If it overflows, ``r(x * c1)``
      exceeds the largest double, hence so does ``r(x * c1 * c2)`` as ``|c2| >= 1`` and rounding
      is monotone: both sides are the same infinity.
    * (P) ``x * c1`` with an integer ``c1`` never rounds in the subnormal range: a subnormal
      product means ``x`` is subnormal, a multiple of ``2^-1074``, so ``x * c1`` is a multiple of
      ``2^-1074`` below ``2^-1022``, which is representable. So ``fl(x * c1) = r(x * c1)`` (or an
      overflow), and multiplying by ``2^j`` shifts the exponent: ``r(x * c1) * 2^j = r(x * k)``,
      which is ``fl(x * k)`` as ``|x * k| >= |x * c1|`` stays out of the subnormal range; both
      overflow together (``r(x * k) = 2^j r(x * c1)`` exceeds the largest double exactly when
      ``fl(r(x * c1) * 2^j)`` does).

    Without the conditions the fold is not exact: ``(x * 0.1) * 2`` is ``0`` and ``x * 0.2`` is
    ``2^-1074`` at ``x = 3 * 2^-1074`` (the first product rounds in the subnormal range), and
    ``(x * 4) * 0.25`` overflows where ``x * 1`` does not.
    """
    split = _const_operand(b, *a)
    if split is None:
        return None
    u, c2 = split
    if b.ops[u] is not Op.MUL:
        return None
    inner = _const_operand(b, *b.args[u])
    if inner is None:
        return None
    x, c1 = inner
    if not (_normal(c1) and _normal(c2)):
        return None
    if not ((_pow2_at_least_one(c2) and c1.is_integer()) or (_pow2_at_least_one(c1) and abs(c2) >= 1.0)):
        return None
    k = _exact_product(c1, c2)
    return b.mul(x, b.const(k)) if k is not None else None


def _mul_self(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.emit(Op.POWI, (a[0],), 2) if a[0] == a[1] else None


def _div_pow2(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    c = _c(b, a[1])
    if c is None or _c(b, a[0]) is not None or not _normal(c):
        return None
    m, _ = math.frexp(c)
    r = 1.0 / c
    if abs(m) != 0.5 or not _normal(r):
        return None
    return b.mul(a[0], b.const(r))


def _abs_nonneg(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    v = a[0]
    inner = b.ops[v]
    if inner in _NONNEG:
        return v
    if inner is Op.POWI and b.attrs[v] % 2 == 0:
        return v
    if inner is Op.MUL and b.args[v][0] == b.args[v][1]:
        return v
    return None


def _powi_sign(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    n = cast(int, attr)  # a POWI attribute is its integer exponent
    v = a[0]
    if b.ops[v] in (Op.NEG, Op.ABS) and n % 2 == 0:
        return b.emit(Op.POWI, (b.args[v][0],), n)
    return None


def _sqrt_norm2sq(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    v = a[0]
    return b.emit(Op.NORM2, b.args[v]) if b.ops[v] is Op.NORM2SQ else None


def _cmp_self_strict(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.const(0.0) if a[0] == a[1] else None


def _cmp_swap(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.emit(_MIRROR[op], (a[1], a[0]))


def _cmp_neg(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    x, y = a
    nx, ny = _neg_arg(b, x), _neg_arg(b, y)
    cx, cy = _c(b, x), _c(b, y)
    if nx is not None and ny is not None:
        return b.emit(_MIRROR[op], (nx, ny))
    if nx is not None and cy is not None:
        return b.emit(_MIRROR[op], (nx, b.const(-cy)))
    if ny is not None and cx is not None:
        return b.emit(_MIRROR[op], (b.const(-cx), ny))
    return None


def _not_cmp(ops: tuple[Op, ...]) -> Apply:
    def apply(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
        if op is Op.SUB:
            one, c = a
            if not _is_one(b, one):
                return None
        else:  # SELECT(c, +0, 1)
            c, zero, one = a
            if not (_is_pos_zero(b, zero) and _is_one(b, one)):
                return None
        if b.ops[c] not in ops:
            return None
        return b.emit(_NEGATE[b.ops[c]], b.args[c])

    return apply


def _select_cmp_bool(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    c, one, zero = a
    if b.ops[c] in _CMP and _is_one(b, one) and _is_pos_zero(b, zero):
        return c
    return None


def _select_eqz(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    c, x, y = a
    if b.ops[c] not in (Op.EQ, Op.NE):
        return None
    split = _const_operand(b, *b.args[c])
    if split is None or split[1] != 0.0:
        return None
    return b.emit(Op.SELECT, (split[0], y, x) if b.ops[c] is Op.EQ else (split[0], x, y))


def _select_nested(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    c, x, y = a
    if b.ops[x] is Op.SELECT and b.args[x][0] == c:
        return b.emit(Op.SELECT, (c, b.args[x][1], y))
    if b.ops[y] is Op.SELECT and b.args[y][0] == c:
        return b.emit(Op.SELECT, (c, x, b.args[y][2]))
    return None


# ---- level 2: exact for finite values ----------------------------------------------------------


def _sub_self(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.const(0.0) if a[0] == a[1] else None


def _add_zero(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    x, y = a
    if b.is_zero(y):
        return x
    return y if b.is_zero(x) else None


def _sub_zero(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    x, y = a
    if b.is_zero(y):
        return x
    return b.neg(y) if b.is_zero(x) else None


def _mul_zero(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.const(0.0) if b.is_zero(a[0]) or b.is_zero(a[1]) else None


def _neg_sub(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    v = a[0]
    if b.ops[v] is Op.SUB:
        return b.sub(b.args[v][1], b.args[v][0])
    if b.ops[v] is Op.ADD:
        nx, ny = _neg_arg(b, b.args[v][0]), _neg_arg(b, b.args[v][1])
        if nx is not None and ny is not None:
            return b.add(nx, ny)
    return None


def _cmp_self(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    if a[0] != a[1]:
        return None
    return b.const(0.0 if op is Op.NE else 1.0)


def _cmp_sub_zero(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    u, w = a
    if b.is_zero(w) and b.ops[u] is Op.SUB:
        x, y = b.args[u]
        return b.emit(op, (x, y))
    if b.is_zero(u) and b.ops[w] is Op.SUB:
        x, y = b.args[w]
        return b.emit(op, (y, x))
    return None


# ---- level 3: may change rounding ---------------------------------------------------------------


def _affine(b: KernelBuilder, v: int) -> tuple[int, float, float] | None:
    """``v`` as ``s*x + k`` (``s = ±1``) when it is ``x+c``, ``x-c`` or ``c-x``."""
    op = b.ops[v]
    if op is Op.ADD:
        split = _const_operand(b, *b.args[v])
        return (split[0], 1.0, split[1]) if split is not None else None
    if op is Op.SUB:
        x, y = b.args[v]
        cx, cy = _c(b, x), _c(b, y)
        if cy is not None and cx is None:
            return x, 1.0, -cy
        if cx is not None and cy is None:
            return y, -1.0, cx
    return None


def _add_const_assoc(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    # the outer node op(a) as p*u + q, then the inner u as s*x + k
    if op is Op.ADD:
        split = _const_operand(b, *a)
        if split is None:
            return None
        u, p, q = split[0], 1.0, split[1]
    else:
        x, y = a
        cx, cy = _c(b, x), _c(b, y)
        if cy is not None and cx is None:
            u, p, q = x, 1.0, -cy
        elif cx is not None and cy is None:
            u, p, q = y, -1.0, cx
        else:
            return None
    inner = _affine(b, u)
    if inner is None:
        return None
    x, s, k = inner
    total = ieee.add(p * k, q)
    if not math.isfinite(total):
        return None
    if p * s > 0:
        return b.add(x, b.const(total))
    return b.sub(b.const(total), x)


#: how a node is ``x**e * C`` where C is ``c`` (d=+1) or ``1/c`` (d=-1), per (op, const position)
def _scaled(b: KernelBuilder, v: int) -> tuple[int, int, float, int] | None:
    op = b.ops[v]
    if op is Op.MUL:
        split = _const_operand(b, *b.args[v])
        return (split[0], 1, split[1], 1) if split is not None else None
    if op is Op.DIV:
        x, y = b.args[v]
        cx, cy = _c(b, x), _c(b, y)
        if cy is not None and cx is None:
            return x, 1, cy, -1
        if cx is not None and cy is None:
            return y, -1, cx, 1
    return None


def _combine(c1: float, d1: int, c2: float, d2: int) -> tuple[float, int]:
    """``c1**d1 * c2**d2`` as one rounded constant and its exponent sign."""
    if d1 == d2:
        return ieee.mul(c1, c2), d1
    if d1 > 0:
        return ieee.div(c1, c2), 1
    return ieee.div(c2, c1), 1


def _mul_const_assoc(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    node = _scaled_outer(b, op, a)
    if node is None:
        return None
    u, flip, c2, d2 = node
    inner = _scaled(b, u)
    if inner is None:
        return None
    x, e, c1, d1 = inner
    if flip:  # c2 / u = c2 * x**-e * C1**-1
        e, d1 = -e, -d1
    k, d = _combine(c1, d1, c2, d2)
    if not _normal(k):
        return None
    if e > 0:
        return b.mul(x, b.const(k)) if d > 0 else b.div(x, b.const(k))
    return b.div(b.const(k), x) if d > 0 else None


def _scaled_outer(b: KernelBuilder, op: Op, a: tuple[int, ...]) -> tuple[int, bool, float, int] | None:
    """The outer node as ``u * c`` / ``u / c`` / ``c / u``: (u, u-inverted, c, d)."""
    if op is Op.MUL:
        split = _const_operand(b, *a)
        return (split[0], False, split[1], 1) if split is not None else None
    x, y = a
    cx, cy = _c(b, x), _c(b, y)
    if cy is not None and cx is None:
        return x, False, cy, -1
    if cx is not None and cy is None:
        return y, True, cx, 1
    return None


def _term(b: KernelBuilder, v: int) -> tuple[int, float, bool]:
    """``v`` as ``coefficient * base``; the flag says whether a constant factor was found."""
    if b.ops[v] is Op.MUL:
        split = _const_operand(b, *b.args[v])
        if split is not None:
            return split[0], split[1], True
    return v, 1.0, False


def _add_like_terms(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    x, y = a
    bx, cx, fx = _term(b, x)
    by, cy, fy = _term(b, y)
    if bx != by or not (fx or fy):
        return None
    k = ieee.add(cx, cy) if op is Op.ADD else ieee.sub(cx, cy)
    if not math.isfinite(k):
        return None
    return b.mul(bx, b.const(k))


def _sole_scaled(b: RewriteBuilder, v: int) -> tuple[int, float] | None:
    """``v = x * c`` with one constant factor and no other reader: ``(x, c)``."""
    if b.ops[v] is not Op.MUL or not b.sole_use(v):
        return None
    return _const_operand(b, *b.args[v])


def _factored(
    b: RewriteBuilder,
    rest: int | None,
    s_rest: int,
    t1: tuple[int, float],
    s1: int,
    t2: tuple[int, float],
    s2: int,
) -> int | None:
    """``s_rest*rest + s1*x*c1 + s2*y*c2`` as ``rest ± (x ± y)*c`` when ``|c1| = |c2|``."""
    (x, c1), (y, c2) = t1, t2
    if abs(c1) != abs(c2) or not _normal(c1):
        return None
    if c2 != c1:  # y * (-c) is exactly -(y * c)
        s2 = -s2
    c = c1
    if s1 < 0 and s2 < 0:
        s1 = s2 = 1
        c = -c
    inner = b.sub(y, x) if s1 < 0 else b.add(x, y) if s2 > 0 else b.sub(x, y)
    m = b.mul(inner, b.const(c))
    if rest is None:
        return m
    return b.add(rest, m) if s_rest > 0 else b.sub(m, rest)


def _add_factor_const(b: RewriteBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    u, w = a
    sw = 1 if op is Op.ADD else -1
    tu, tw = _sole_scaled(b, u), _sole_scaled(b, w)
    if tu is not None and tw is not None:
        return _factored(b, None, 0, tu, 1, tw, sw)
    for inner, s_inner, t, s_t in ((u, 1, tw, sw), (w, sw, tu, 1)):
        if t is None or b.ops[inner] not in (Op.ADD, Op.SUB) or not b.sole_use(inner):
            continue
        p, q = b.args[inner]
        sq = 1 if b.ops[inner] is Op.ADD else -1
        for rest, s_rest, term, s_term in ((p, 1, q, sq), (q, sq, p, 1)):
            tx = _sole_scaled(b, term)
            if tx is not None:
                out = _factored(b, rest, s_inner * s_rest, tx, s_inner * s_term, t, s_t)
                if out is not None:
                    return out
    return None


def _div_const(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    c = _c(b, a[1])
    if c is None or _c(b, a[0]) is not None or not _normal(c):
        return None
    r = ieee.div(1.0, c)
    return b.mul(a[0], b.const(r)) if _normal(r) else None


def _div_recip(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    for x, y in (a, a[::-1]):
        if b.ops[y] is Op.DIV and _is_one(b, b.args[y][0]):
            return b.div(x, b.args[y][1])
    return None


def _pow_int(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    c = _c(b, a[1])
    if c is None or not math.isfinite(c) or not c.is_integer() or abs(c) > 64:
        return None
    return b.emit(Op.POWI, (a[0],), int(c))


def _pow_half(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.emit(Op.SQRT, (a[0],)) if _c(b, a[1]) == 0.5 else None


def _merge_powers(same_sign: bool) -> Apply:
    def apply(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
        x, y = a
        if x == y:
            return None  # mul-self
        bx, nx = _power(b, x)
        by, ny = _power(b, y)
        mixed = (nx > 0) != (ny > 0)
        if bx != by or mixed == same_sign:
            return None
        n = nx + ny
        return b.emit(Op.POWI, (bx,), n) if _exponent_ok(n) else None

    return apply


def _powi_powi(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    v = a[0]
    if b.ops[v] is not Op.POWI:
        return None
    m, n = b.attrs[v], cast(int, attr)  # a POWI attribute is its integer exponent
    if m > 0 and n > 0 and _exponent_ok(m * n):
        return b.emit(Op.POWI, (b.args[v][0],), m * n)
    return None


def _neg_even(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    inner = _neg_arg(b, a[0])
    return b.emit(op, (inner,)) if inner is not None else None


def _neg_odd(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    v = a[0]
    if b.ops[v] not in _ODD_FNS:
        return None
    inner = _neg_arg(b, b.args[v][0])
    return b.emit(b.ops[v], (inner,)) if inner is not None else None


# ---- level 4: may differ at isolated points or on overflow ---------------------------------------


def _div_self(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.const(1.0) if a[0] == a[1] else None


def _div_zero_num(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.const(0.0) if b.is_zero(a[0]) and _c(b, a[1]) is None else None


def _mul_div_cancel(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    x, y = a
    if op is Op.DIV:
        if b.ops[x] is Op.MUL:
            p, q = b.args[x]
            if q == y:
                return p
            if p == y:
                return q
        return None
    for u, w in ((x, y), (y, x)):
        if b.ops[u] is Op.DIV and b.args[u][1] == w:
            return b.args[u][0]
    return None


_INVERSE = {Op.LOG: Op.EXP, Op.LOG1P: Op.EXPM1}


def _log_exp(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    v = a[0]
    return b.args[v][0] if b.ops[v] is _INVERSE[op] else None


def _sqrt_square(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    v = a[0]
    if b.ops[v] is Op.POWI and b.attrs[v] == 2:
        return b.emit(Op.ABS, (b.args[v][0],))
    if b.ops[v] is Op.MUL and b.args[v][0] == b.args[v][1]:
        return b.emit(Op.ABS, (b.args[v][0],))
    return None


# ---- the table ----------------------------------------------------------------------------------

_ORD = (Op.LT, Op.LE, Op.GT, Op.GE)

#: Grouped by level; for one operation the rules are tried in this order and the first that
#: fires wins (``add-neg-neg`` sits before ``add-neg`` so that it is not shadowed at level 2+).
RULES: tuple[Rule, ...] = (
    # level 1 (basic): bit-identical for every input
    Rule("add-self", 1, (Op.ADD,), _add_self, "x + x -> x * 2"),
    Rule("add-neg", 1, (Op.ADD,), _add_neg, "x + (-y) -> x - y; (-x) + y -> y - x"),
    Rule("sub-neg-neg", 1, (Op.SUB,), _sub_neg_neg, "(-x) - (-y) -> y - x"),
    Rule("sub-neg", 1, (Op.SUB,), _sub_neg, "x - (-y) -> x + y"),
    Rule(
        "not-eq",
        1,
        (Op.SUB, Op.SELECT),
        _not_cmp((Op.EQ, Op.NE)),
        "1 - (a == b) -> a != b, select(a == b, 0, 1) -> a != b (and != -> ==)",
    ),
    Rule("mul-neg-const", 1, (Op.MUL,), _mul_neg_const, "(-x) * c -> x * (-c)"),
    Rule("mul-neg-neg", 1, (Op.MUL,), _mul_neg_neg, "(-x) * (-y) -> x * y"),
    Rule("mul-self", 1, (Op.MUL,), _mul_self, "x * x -> powi(x, 2) (computed as x * x)"),
    Rule(
        "mul-const-exact",
        1,
        (Op.MUL,),
        _mul_const_exact,
        "(x * c1) * c2 -> x * (c1 * c2) when one constant is ±2^k (k >= 0) and the fold is exact",
    ),
    Rule("div-neg-neg", 1, (Op.DIV,), _div_neg_neg, "(-x) / (-y) -> x / y"),
    Rule("div-neg-const", 1, (Op.DIV,), _div_neg_const, "(-x) / c -> x / (-c); c / (-x) -> (-c) / x"),
    Rule("div-pow2", 1, (Op.DIV,), _div_pow2, "x / c -> x * (1/c) when c = ±2^k and 1/c is normal"),
    Rule(
        "neg-const-factor",
        1,
        (Op.NEG,),
        _neg_const_factor,
        "-(x * c) -> x * (-c); -(x / c) -> x / (-c); -(c / x) -> (-c) / x",
    ),
    Rule(
        "abs-nonneg",
        1,
        (Op.ABS,),
        _abs_nonneg,
        "|y| -> y when y is exp, cosh, abs, hypot, erfc, acos, a norm, a comparison, x*x or an even powi",
    ),
    Rule(
        "neg-absorb",
        1,
        (Op.NEG,),
        _neg_absorb,
        "-((-x) * y) -> x * y, likewise for /, -select(c, -x, -y) -> select(c, x, y), "
        "-powi(-x, odd n) -> powi(x, n)",
    ),
    Rule(
        "powi-sign",
        1,
        (Op.POWI,),
        _powi_sign,
        "powi(-x, even n) -> powi(x, n); powi(|x|, even n) -> powi(x, n)",
    ),
    Rule(
        "sqrt-norm2sq",
        4,
        (Op.SQRT,),
        _sqrt_norm2sq,
        "sqrt(norm2sq(v)) -> norm2(v) (norm2 is scaled: they differ where the sum overflows or underflows)",
    ),
    Rule("cmp-self-strict", 1, (Op.LT, Op.GT), _cmp_self_strict, "x < x -> 0; x > x -> 0"),
    Rule("cmp-neg", 1, _CMP, _cmp_neg, "(-x) < (-y) -> y < x; (-x) < c -> -c < x (every comparison)"),
    Rule("cmp-swap", 1, (Op.GT, Op.GE), _cmp_swap, "a > b -> b < a; a >= b -> b <= a"),
    Rule(
        "select-cmp-bool", 1, (Op.SELECT,), _select_cmp_bool, "select(a < b, 1, 0) -> a < b (any comparison)"
    ),
    Rule(
        "select-eqz",
        1,
        (Op.SELECT,),
        _select_eqz,
        "select(c == 0, x, y) -> select(c, y, x); select(c != 0, x, y) -> select(c, x, y)",
    ),
    Rule(
        "select-nested",
        1,
        (Op.SELECT,),
        _select_nested,
        "select(c, select(c, x, y), z) -> select(c, x, z) (and in the else branch)",
    ),
    # level 2 (medium): exact for finite operands up to the sign of a zero result
    Rule("add-zero", 2, (Op.ADD,), _add_zero, "x + 0 -> x (+0 + -0 is +0, not -0)"),
    Rule("sub-zero", 2, (Op.SUB,), _sub_zero, "x - 0 -> x; 0 - x -> -x (a zero result may change sign)"),
    Rule("sub-self", 2, (Op.SUB,), _sub_self, "x - x -> 0 (NaN when x is inf or NaN)"),
    Rule("mul-zero", 2, (Op.MUL,), _mul_zero, "0 * x -> 0 (NaN when x is inf or NaN; -0 for x < 0)"),
    Rule(
        "neg-sub",
        2,
        (Op.NEG,),
        _neg_sub,
        "-(x - y) -> y - x; -((-x) + (-y)) -> x + y (sign of a zero result)",
    ),
    Rule(
        "cmp-self",
        2,
        (Op.LE, Op.GE, Op.EQ, Op.NE),
        _cmp_self,
        "x <= x, x >= x, x == x -> 1; x != x -> 0 (differs for NaN)",
    ),
    Rule(
        "cmp-sub-zero",
        2,
        _CMP,
        _cmp_sub_zero,
        "(x - y) < 0 -> x < y, 0 < (x - y) -> y < x (differs when x, y are the same infinity)",
    ),
    Rule(
        "not-ord",
        2,
        (Op.SUB, Op.SELECT),
        _not_cmp(_ORD),
        "1 - (a < b) -> a >= b, select(a < b, 0, 1) -> a >= b (differs for NaN)",
    ),
    # level 3 (high): may change rounding
    Rule(
        "add-const-assoc",
        3,
        (Op.ADD, Op.SUB),
        _add_const_assoc,
        "(x + c1) + c2 -> x + (c1 + c2), and every +/- variant such as c2 - (c1 - x) -> x + (c2 - c1)",
    ),
    Rule(
        "mul-const-assoc",
        3,
        (Op.MUL, Op.DIV),
        _mul_const_assoc,
        "(x * c1) * c2 -> x * (c1 * c2), and the / variants such as c2 / (c1 / x) -> x * (c2 / c1)",
    ),
    Rule(
        "add-like-terms",
        3,
        (Op.ADD, Op.SUB),
        _add_like_terms,
        "x * c1 + x * c2 -> x * (c1 + c2); x + x * c -> x * (1 + c); likewise for -",
    ),
    Rule(
        "add-factor-const",
        3,
        (Op.ADD, Op.SUB),
        _add_factor_const,
        "x*c + y*c -> (x + y)*c; (a + x*c) + y*c -> a + (x + y)*c, with every +/- and sign variant "
        "(the products and the inner sum have no other reader)",
    ),
    Rule("div-const", 3, (Op.DIV,), _div_const, "x / c -> x * (1/c) with 1/c rounded (normal)"),
    Rule("div-recip", 3, (Op.MUL,), _div_recip, "x * (1 / y) -> x / y"),
    Rule("pow-int", 3, (Op.POW,), _pow_int, "pow(x, n) -> powi(x, n) for an integer constant |n| <= 64"),
    Rule("pow-half", 3, (Op.POW,), _pow_half, "pow(x, 0.5) -> sqrt(x)"),
    Rule(
        "powi-merge",
        3,
        (Op.MUL,),
        _merge_powers(True),
        "powi(x, a) * powi(x, b) -> powi(x, a + b) for a, b of the same sign (x counts as powi(x, 1))",
    ),
    Rule("powi-powi", 3, (Op.POWI,), _powi_powi, "powi(powi(x, a), b) -> powi(x, a * b) for a, b > 0"),
    Rule("neg-even", 3, _EVEN_FNS, _neg_even, "cos(-x) -> cos(x); cosh(-x) -> cosh(x)"),
    Rule("neg-odd", 3, (Op.NEG,), _neg_odd, "-f(-x) -> f(x) for the odd functions sin, tan, sinh, ..., erf"),
    # level 4 (max): may differ at isolated points or on overflow/underflow
    Rule("div-self", 4, (Op.DIV,), _div_self, "x / x -> 1 (NaN when x is 0, inf or NaN)"),
    Rule("div-zero-num", 4, (Op.DIV,), _div_zero_num, "0 / x -> 0 (NaN when x is 0 or NaN)"),
    Rule(
        "mul-div-cancel",
        4,
        (Op.MUL, Op.DIV),
        _mul_div_cancel,
        "(x * y) / y -> x; (x / y) * y -> x (y = 0, overflow, rounding)",
    ),
    Rule(
        "log-exp",
        4,
        (Op.LOG, Op.LOG1P),
        _log_exp,
        "log(exp(x)) -> x; log1p(expm1(x)) -> x (exp overflows for x > 709)",
    ),
    Rule("sqrt-square", 4, (Op.SQRT,), _sqrt_square, "sqrt(x * x) -> |x| (x * x over- or underflows)"),
    Rule(
        "powi-merge-mixed",
        4,
        (Op.MUL,),
        _merge_powers(False),
        "powi(x, a) * powi(x, -b) -> powi(x, a - b) (x = 0 or inf give NaN before)",
    ),
)

RULES_BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}

#: every operation -> the rules that may rewrite it (empty for operations without rules)
RULE_TABLE: dict[Op, tuple[Rule, ...]] = {op: tuple(r for r in RULES if op in r.ops) for op in Op}


def rules_by_op(level: int) -> dict[Op, tuple[Rule, ...]]:
    """The rules enabled at ``level`` (0-4), per operation, in table order."""
    return {op: tuple(r for r in rules if r.level <= level) for op, rules in RULE_TABLE.items()}
