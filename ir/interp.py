"""The reference interpreter: evaluates a kernel with gradgen's IEEE semantics (:mod:`ir.ieee`).

One loop over the instruction lists in id order (ids are topological), so evaluation is
iterative whatever the expression depth, and each shared value is computed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .custom import DerivativeMemo
from .kernel import Kernel
from .ops import OP_INFO, AttrKind, Op
from .staged import run_staged

_INPUT, _CONST = Op.INPUT, Op.CONST
#: op -> (evaluate function, attribute kind), looked up once per distinct op of a kernel
_DISPATCH: dict[Op, tuple[Any, AttrKind]] = {op: (info.evaluate, info.attr) for op, info in OP_INFO.items()}
_NONE, _INT, _CUSTOM = AttrKind.NONE, AttrKind.INT, AttrKind.CUSTOM


def run(kernel: Kernel, inputs: Sequence[Sequence[float]]) -> list[list[float]]:
    """Evaluate ``kernel`` on one list of floats per input port; one list per output port."""
    if kernel.steps:
        return run_staged(kernel, inputs, run)
    ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
    values: list[float] = [0.0] * len(ops)
    memo = DerivativeMemo()  # each derivative callback of a user function once per point
    for i, op in enumerate(ops):
        if op is _INPUT:
            p, j = attrs_[i]
            values[i] = inputs[p][j]
        elif op is _CONST:
            values[i] = attrs_[i]
        else:
            fn, kind = _DISPATCH[op]
            a = args[i]
            if kind is _NONE:
                n = len(a)
                if n == 2:
                    values[i] = fn(values[a[0]], values[a[1]])
                elif n == 1:
                    values[i] = fn(values[a[0]])
                else:
                    values[i] = fn(*[values[v] for v in a])
            elif kind is _INT:
                values[i] = fn(values[a[0]], attrs_[i])
            elif kind is _CUSTOM:
                values[i] = memo.evaluate(attrs_[i], a, [values[v] for v in a])
            else:
                values[i] = fn(attrs_[i], *[values[v] for v in a])
    return [[values[v] for v in res] for res in kernel.results]
