"""A model of an out-of-order core running a kernel's statements in a given order.

The schedule (:mod:`passes.schedule`) uses it to choose between two orders of one kernel. A core
runs statements out of order, but only within its window: it issues them in program order,
:data:`WIDTH` a cycle, into a reorder buffer of :data:`WINDOW` slots, and a statement leaves the
buffer, in program order, once it has finished. So an independent chain written a thousand
statements after the chain it could overlap (the tangent sweep of a Hessian-vector product,
after the whole primal sweep) runs after it, and the kernel takes the sum of the two chains'
latencies instead of the longer one.

The model: statements issue in program order from cycle 0, one of ``s`` slots taking ``s /
WIDTH`` cycles of issue, and none before the oldest statements have left enough slots for it; a
statement starts when issued and its operands are ready, and finishes after its latency
(:data:`ir.ops.LATENCY`). A call (latency :data:`ir.ops.CALL_LATENCY`) takes :data:`CALL_SLOTS`
slots, the instructions of the function it calls. Inputs and constants are
ready at cycle 0 and take no slot. Memory (workspace stores and loads, spills) is not modelled.
The result is the cycle the last statement leaves the buffer. One pass in program order with a
queue of the statements in the buffer: linear in the kernel size.

The constants are a mid-range x86-64 or ARM core's, not a measurement of one: the model is only
asked which of two orders is faster, and its answers were checked against kbench timings of the
bench kernels (``tests/benchmarks/KERNEL_SPEED.md``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import BASE_LATENCY, CALL_LATENCY, LATENCY

#: statements issued per cycle
WIDTH = 4
#: reorder-buffer slots
WINDOW = 192
#: the slots a call takes (the instructions of a ``sin`` or ``exp``)
CALL_SLOTS = 40


def modelled_cycles(kernel: Kernel, order: Sequence[int]) -> float:
    """The cycles the model core takes to run ``order`` (a topological order of values of
    ``kernel``; inputs and constants in it are skipped)."""
    ops, args = kernel.ops, kernel.args
    latency = LATENCY.get
    ready = [0.0] * len(ops)
    window: deque[tuple[int, float]] = deque()  # (slots, cycle it leaves), oldest first
    used = 0
    issue = 0.0
    leave = 0.0
    for v in order:
        a = args[v]
        if not a:
            continue
        lat = latency(ops[v], BASE_LATENCY)
        slots = CALL_SLOTS if lat >= CALL_LATENCY else 1
        while used + slots > WINDOW and window:
            freed, at = window.popleft()
            used -= freed
            if at > issue:
                issue = at
        start = issue
        issue += slots / WIDTH
        for x in a:
            if ready[x] > start:
                start = ready[x]
        ready[v] = start + lat
        if ready[v] > leave:
            leave = ready[v]
        window.append((slots, leave))
        used += slots
    return leave
