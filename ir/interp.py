"""The reference interpreter: evaluates a kernel with gradgen's IEEE semantics (:mod:`ir.ieee`)."""

from __future__ import annotations

from collections.abc import Sequence

from .ops import OP_INFO, AttrKind, Op


def run(kernel, inputs: Sequence[Sequence[float]]) -> list[list[float]]:
    """Evaluate ``kernel`` on one list of floats per input port; one list per output port."""
    ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
    values: list[float] = [0.0] * len(ops)
    for i, op in enumerate(ops):
        if op is Op.INPUT:
            p, j = attrs_[i]
            values[i] = inputs[p][j]
        elif op is Op.CONST:
            values[i] = attrs_[i]
        else:
            info = OP_INFO[op]
            a = args[i]
            fn = info.evaluate
            if info.attr is AttrKind.NONE:
                if len(a) == 2:
                    values[i] = fn(values[a[0]], values[a[1]])
                elif len(a) == 1:
                    values[i] = fn(values[a[0]])
                else:
                    values[i] = fn(*[values[v] for v in a])
            elif info.attr is AttrKind.INT:
                values[i] = fn(values[a[0]], attrs_[i])
            else:
                values[i] = fn(attrs_[i], *[values[v] for v in a])
    return [[values[v] for v in res] for res in kernel.results]
