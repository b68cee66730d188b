"""Construction-time folding shared by the SX layer and the kernel builder.

These rewrites run on every node as it is built, whatever the simplification level. They are
exact in IEEE arithmetic (the result is bit-identical, up to the sign of a zero result and NaN
payloads) so they never change what a kernel computes: constant folding with the same IEEE
functions the interpreter uses, ``x+0``, ``x-0``, ``0-x``, ``x*1``, ``x*-1``, ``x/1``, ``x/-1``, ``--x``,
``x**1``, ``x**0``, ``abs(abs x)``, ``abs(-x)``, ``max(x,x)``, ``min(x,x)``, ``select`` with a constant
condition or equal branches. Rewrites that are exact only for finite values (``x-x``, ``0*x``) live
in the simplification pass, behind a level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .ops import LEAVES, OP_INFO, Op, evaluate

#: A folding result: ("const", value) | ("ref", arg) | ("op", op, args, attr)
Rewrite = tuple[Any, ...]


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
    """
    if op in LEAVES:
        return None
    consts = [const_of(a) for a in args]
    if args and all(c is not None for c in consts) and OP_INFO[op].evaluate is not None:
        return ("const", evaluate(op, attr, consts))  # type: ignore[arg-type]
    if len(args) == 2:
        a, b = args
        ca, cb = consts
        if op is Op.ADD:
            if cb == 0.0:
                return ("ref", a)
            if ca == 0.0:
                return ("ref", b)
        elif op is Op.SUB:
            if cb == 0.0:
                return ("ref", a)
            if ca == 0.0:
                return ("op", Op.NEG, (b,), None)
        elif op is Op.MUL:
            for x, c in ((a, cb), (b, ca)):
                if c == 1.0:
                    return ("ref", x)
                if c == -1.0:
                    return ("op", Op.NEG, (x,), None)
        elif op is Op.DIV:
            if cb == 1.0:
                return ("ref", a)
            if cb == -1.0:
                return ("op", Op.NEG, (a,), None)
        elif op in (Op.MAX, Op.MIN) and a == b:
            return ("ref", a)
        return None
    if op is Op.NEG:
        inner_op, inner_args = view(args[0])
        if inner_op is Op.NEG:
            return ("ref", inner_args[0])
        return None
    if op is Op.ABS:
        inner_op, inner_args = view(args[0])
        if inner_op is Op.ABS:
            return ("ref", args[0])
        if inner_op is Op.NEG:
            return ("op", Op.ABS, (inner_args[0],), None)
        return None
    if op is Op.POWI:
        if attr == 1:
            return ("ref", args[0])
        if attr == 0:
            return ("const", 1.0)
        return None
    if op is Op.SELECT:
        c, a, b = args
        if consts[0] is not None:
            return ("ref", a if consts[0] != 0.0 else b)
        if a == b:
            return ("ref", a)
        return None
    return None
