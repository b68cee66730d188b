"""Construction-time folding shared by the SX layer and the kernel builder.

These rewrites run on every node as it is built, whatever the simplification level. They are
exact in IEEE arithmetic (the result is bit-identical for every input, zeros of either sign, inf
and NaN included; only a NaN's payload may differ) so they never change what a kernel computes:
constant folding with the same IEEE functions the interpreter uses, ``x+(-0)``, ``x-(+0)``,
``(-0)-x``, ``x*1``, ``x*-1``, ``x/1``, ``x/-1``, ``--x``, ``x**1``, ``x**0``, ``abs(abs x)``,
``abs(-x)``, ``max(x,x)``, ``min(x,x)``, ``select`` with a constant condition or equal branches.
``x+(+0)``, ``x-(-0)`` and ``(+0)-x`` are *not* folded here: each differs from the folded form for
one signed zero (``-0 + +0`` is ``+0``). Rewrites that are exact only up to the sign of a zero or
for finite values (``x+0 -> x``, ``0-x -> -x``, ``x-x``, ``0*x``) live in the simplification pass,
behind a level. A user function (``custom``) is never folded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .ops import Op, evaluate

# Enum member access (``Op.ADD``) costs a metaclass lookup in Python 3.11; this function runs
# for every node built, so it compares against module-level aliases.
_ADD, _SUB, _MUL, _DIV = Op.ADD, Op.SUB, Op.MUL, Op.DIV
_MAX, _MIN, _NEG, _ABS, _POWI, _SELECT = Op.MAX, Op.MIN, Op.NEG, Op.ABS, Op.POWI, Op.SELECT
_CUSTOM = Op.CUSTOM

#: A folding result: ("const", value) | ("ref", arg) | ("op", op, args, attr)
Rewrite = tuple[Any, ...]

#: The operations :func:`peephole` can rewrite when *no* argument is a constant (``max(x, x)``,
#: ``--x``, ``abs(abs x)``, ``abs(-x)``, ``x**1``, ``x**0``, ``select(c, x, x)``). For every other
#: operation whose arguments are all non-constant, ``peephole`` returns ``None``: builders use
#: this to skip the call on their hot path (``tests/test_build_work.py`` checks it op by op).
STRUCTURAL = frozenset({_MAX, _MIN, _NEG, _ABS, _POWI, _SELECT})


def _is_negative_zero(c: float) -> bool:
    return math.copysign(1.0, c) < 0.0


def fold_binary(op: Op, a: Any, b: Any, ca: float | None, cb: float | None, attr: object) -> Rewrite | None:
    """:func:`peephole` of ``op(a, b)`` when at least one argument is a constant (``ca`` / ``cb``
    are the constant values, ``None`` for the other); builders with the constants at hand call
    it directly."""
    if ca is not None and cb is not None:
        return ("const", evaluate(op, attr, (ca, cb)))
    if op is _ADD:
        # x + (-0) is x for every x, but x + (+0) is +0 at x = -0
        if cb == 0.0 and _is_negative_zero(cb):
            return ("ref", a)
        if ca == 0.0 and _is_negative_zero(ca):
            return ("ref", b)
    elif op is _SUB:
        # x - (+0) is x for every x, and (-0) - x is -x; x - (-0) and (+0) - x are not
        if cb == 0.0 and not _is_negative_zero(cb):
            return ("ref", a)
        if ca == 0.0 and _is_negative_zero(ca):
            return ("op", _NEG, (b,), None)
    elif op is _MUL:
        if cb == 1.0:
            return ("ref", a)
        if ca == 1.0:
            return ("ref", b)
        if cb == -1.0:
            return ("op", _NEG, (a,), None)
        if ca == -1.0:
            return ("op", _NEG, (b,), None)
    elif op is _DIV:
        if cb == 1.0:
            return ("ref", a)
        if cb == -1.0:
            return ("op", _NEG, (a,), None)
    return None


def peephole(
    op: Op,
    args: Sequence[Any],
    attr: object,
    const_of: Callable[[Any], float | None],
    view: Callable[[Any], tuple[Op, Sequence[Any]]],
) -> Rewrite | None:
    """Return an exact rewrite of ``op(args)`` or ``None`` to build the node as is.

    ``const_of(arg)`` gives an argument's constant value (or ``None``); ``view(arg)`` gives its
    operation and arguments. Both builders (SX and kernel) supply these for their own handles.
    This runs for every node built, so the common case (no constant argument) returns early.
    """
    if op is _CUSTOM:
        return None  # a user function is opaque: never evaluated while building, even on constants
    n = len(args)
    if n == 2:
        a, b = args
        ca = const_of(a)
        cb = const_of(b)
        if ca is None and cb is None:
            if (op is _MAX or op is _MIN) and a == b:
                return ("ref", a)
            return None
        return fold_binary(op, a, b, ca, cb, attr)
    if n == 0:
        return None  # leaves
    consts = [const_of(a) for a in args]
    if None not in consts:
        return ("const", evaluate(op, attr, consts))  # type: ignore[arg-type]
    if op is _NEG:
        inner_op, inner_args = view(args[0])
        if inner_op is _NEG:
            return ("ref", inner_args[0])
        return None
    if op is _ABS:
        inner_op, inner_args = view(args[0])
        if inner_op is _ABS:
            return ("ref", args[0])
        if inner_op is _NEG:
            return ("op", _ABS, (inner_args[0],), None)
        return None
    if op is _POWI:
        if attr == 1:
            return ("ref", args[0])
        if attr == 0:
            return ("const", 1.0)
        return None
    if op is _SELECT:
        _, a, b = args
        if consts[0] is not None:
            return ("ref", a if consts[0] != 0.0 else b)
        if a == b:
            return ("ref", a)
        return None
    return None
