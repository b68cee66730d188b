"""Lowering from ``SX`` expressions to a :class:`~ir.kernel.Kernel`, and raising back.

``lower`` logs one INFO line (time and op count) on the ``gradgen.lower`` logger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from .errors import FunctionDefinitionError
from .expr import SX, iter_dag
from .kernel import Kernel, KernelBuilder, Port
from .ops import Op

log = logging.getLogger("gradgen.lower")


def lower(
    name: str,
    inputs: Sequence[tuple[Port, Sequence[SX]]],
    outputs: Sequence[tuple[Port, Sequence[SX]]],
) -> Kernel:
    """Lower output expressions over the input symbols to an SSA kernel (iterative, linear)."""
    t0 = time.perf_counter()
    b = KernelBuilder()
    symbol_slot: dict[int, tuple[int, int]] = {}
    for p, (_, symbols) in enumerate(inputs):
        for j, s in enumerate(symbols):
            symbol_slot[id(s)] = (p, j)
    ids: dict[int, int] = {}
    roots = [e for _, exprs in outputs for e in exprs]
    input_op, const_op = Op.INPUT, Op.CONST  # enum member lookups are slow in the hot loop
    for node in iter_dag(roots):
        op = node.op
        if op is input_op:
            slot = symbol_slot.get(id(node))
            if slot is None:
                raise FunctionDefinitionError(
                    f"function {name!r}: an output depends on symbol {node.attr!r}, "
                    "which is not among the declared inputs"
                )
            ids[id(node)] = b.input(*slot)
        elif op is const_op:
            ids[id(node)] = b.const(node.attr)  # type: ignore[arg-type]
        else:
            ids[id(node)] = b.emit(op, [ids[id(a)] for a in node.args], node.attr)
    results = [[ids[id(e)] for e in exprs] for _, exprs in outputs]
    kernel = b.finish(name, [p for p, _ in inputs], [p for p, _ in outputs], results)
    if log.isEnabledFor(logging.INFO):
        log.info("lowered %s %8.3f s  %7d ops", name, time.perf_counter() - t0, kernel.op_count())
    return kernel


def raise_kernel(kernel: Kernel, input_symbols: Sequence[Sequence[SX]]) -> list[list[SX]]:
    """Rebuild the kernel's outputs as ``SX`` expressions over the given input symbols."""
    values: list[SX] = []
    for i, op in enumerate(kernel.ops):
        attr = kernel.attrs[i]
        if op is Op.INPUT:
            values.append(input_symbols[attr[0]][attr[1]])
        elif op is Op.CONST:
            values.append(SX.const(attr))
        else:
            values.append(SX.make(op, tuple(values[a] for a in kernel.args[i]), attr))
    return [[values[v] for v in res] for res in kernel.results]
