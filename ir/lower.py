"""Lowering from ``SX`` expressions to a :class:`~ir.kernel.Kernel`, and raising back.

``lower`` logs one INFO line (time and op count) on the ``gradgen.lower`` logger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from .errors import FunctionDefinitionError
from .expr import SX
from .kernel import Kernel, KernelBuilder, Port
from .nogc import paused_gc
from .ops import Op
from .staged import unrolled

log = logging.getLogger("gradgen.lower")


@paused_gc()
def lower(
    name: str,
    inputs: Sequence[tuple[Port, Sequence[SX]]],
    outputs: Sequence[tuple[Port, Sequence[SX]]],
) -> Kernel:
    """Lower output expressions over the input symbols to an SSA kernel (iterative, linear)."""
    t0 = time.perf_counter()
    b = KernelBuilder()
    symbol_slot: dict[SX, tuple[int, int]] = {}
    for p, (_, symbols) in enumerate(inputs):
        for j, s in enumerate(symbols):
            symbol_slot[s] = (p, j)
    # SX nodes hash and compare by identity, so they key the id map directly. The explicit
    # stack visits children left to right and emits a node after all of them: the same
    # post-order as ``iter_dag``, which fixes the kernel's numbering.
    ids: dict[SX, int] = {}
    emit = b.emit
    input_op = Op.INPUT  # enum member lookups are slow in the hot loop
    for root in (e for _, exprs in outputs for e in exprs):
        if root in ids:
            continue
        stack = [root]
        while stack:
            node = stack[-1]
            if node in ids:
                stack.pop()
                continue
            args = node.args
            n = len(args)
            if n == 2:
                x, y = args
                if y not in ids or x not in ids:
                    if y not in ids:
                        stack.append(y)
                    if x not in ids:
                        stack.append(x)
                    continue
                stack.pop()
                ids[node] = emit(node.op, (ids[x], ids[y]), node.attr)
            elif n == 1:
                x = args[0]
                if x not in ids:
                    stack.append(x)
                    continue
                stack.pop()
                ids[node] = emit(node.op, (ids[x],), node.attr)
            elif n:
                missing = [c for c in args if c not in ids]
                if missing:
                    stack.extend(reversed(missing))
                    continue
                stack.pop()
                ids[node] = emit(node.op, tuple([ids[c] for c in args]), node.attr)
            else:
                stack.pop()
                op = node.op
                if op is input_op:
                    slot = symbol_slot.get(node)
                    if slot is None:
                        raise FunctionDefinitionError(
                            f"function {name!r}: an output depends on symbol {node.attr!r}, "
                            "which is not among the declared inputs"
                        )
                    ids[node] = b.input(*slot)
                else:  # every SX leaf is a symbol or a constant
                    ids[node] = b.const(node.attr)  # type: ignore[arg-type]
    results = [[ids[e] for e in exprs] for _, exprs in outputs]
    kernel = b.finish(name, [p for p, _ in inputs], [p for p, _ in outputs], results)
    if log.isEnabledFor(logging.INFO):
        log.info("lowered %s %8.3f s  %7d ops", name, time.perf_counter() - t0, kernel.op_count())
    return kernel


@paused_gc()
def raise_kernel(kernel: Kernel, input_symbols: Sequence[Sequence[SX]]) -> list[list[SX]]:
    """Rebuild the kernel's outputs as ``SX`` expressions over the given input symbols (a
    staged kernel's are those of its unrolled equivalent)."""
    if kernel.steps:
        kernel = unrolled(kernel)
    values: list[SX] = []
    append = values.append
    at = values.__getitem__
    make, const = SX.make, SX.const
    input_op, const_op = Op.INPUT, Op.CONST
    for op, a, attr in zip(kernel.ops, kernel.args, kernel.attrs, strict=True):
        if op is input_op:
            append(input_symbols[attr[0]][attr[1]])
        elif op is const_op:
            append(const(attr))
        else:
            append(make(op, tuple(map(at, a)), attr))
    return [[values[v] for v in res] for res in kernel.results]
