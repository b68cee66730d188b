"""Scheduling: reorder a kernel depth-first from its outputs to keep live ranges short.

Values are emitted in the post-order of an explicit-stack depth-first walk that starts at each
output element in turn, so a value is computed just before its first consumer needs it. The
result is renumbered so that id order is the schedule; the walk is linear in the kernel size.
Then a statement that is the last use of two or more computed values moves up to just after its
operands (:mod:`passes.schedule_pressure`): fewer values live at once, never more. A kernel
already numbered in this order is returned as it is.

``sin(a)`` and ``cos(a)`` of the same argument are emitted next to each other (the second right
after the first), so they land in the same Rust function and LLVM can merge them into one
``sincos`` call, as gcc does for C; on the pendulum gradient that halves the libm calls.

The depth-first order can leave an independent chain far behind the chain it could overlap: in
the Hessian-vector product of an RK4 pendulum, the whole primal sweep (a chain of ``sin`` calls)
comes first and the tangent sweep after it, and a core only looks a couple of hundred
instructions ahead, so the two chains run one after the other. :func:`interleaved_order` sorts
the depth-first order by the time each value could be ready on an unbounded machine, in steps of
:data:`INTERLEAVE_STEP` cycles (a value ready within the first step follows its earliest consumer
instead, so that inputs-only work is not all computed first), keeping the depth-first order
within a step. The pass keeps it when the model core of :mod:`passes.schedule_model` runs it in
at most :data:`INTERLEAVE_GAIN` of the depth-first order's cycles, with at most
:data:`INTERLEAVE_LIVE` times as many values live at once: the pendulum(20) and (100) HVPs take
0.88x the time (kbench), while the kernels the model sees no gain in (the gradients, the
primals) keep the depth-first order, which the interleaved one slows by up to 9 %, and so does
the shooting Jacobian, whose interleaved order would keep 604 values live instead of 10
(``tests/benchmarks/KERNEL_SPEED.md``).
"""

from __future__ import annotations

from itertools import chain

import attrs

from gradgen.ir.kernel import Kernel, cone, ready_times
from gradgen.ir.ops import Op

from .schedule_model import modelled_cycles
from .schedule_pressure import hoist_last_uses, peak_live

#: the step, in cycles, of the ready times :func:`interleaved_order` sorts by (one and a half
#: calls: within a step the depth-first order stays; 200 and exact ready times were measured too)
INTERLEAVE_STEP = 120
#: the interleaved order is kept when the model runs it in at most this share of the depth-first
#: order's cycles
INTERLEAVE_GAIN = 0.98
#: ... and keeps at most this share of the depth-first order's values live at once (the model
#: does not see memory: more live values are spills and workspace)
INTERLEAVE_LIVE = 1.05


def depth_first_order(kernel: Kernel) -> list[int]:
    """Every value reachable from the outputs, in depth-first post-order (arguments left to
    right, each value after all of its arguments, roots in output order)."""
    n = len(kernel.ops)
    done = bytearray(n)
    order: list[int] = []
    append = order.append
    args = kernel.args
    partner = _sin_cos_partners(kernel)
    # roots in output order, each once (a large output repeats a few values many times)
    for root in dict.fromkeys(chain.from_iterable(kernel.results)):
        if not done[root]:
            stack = [root]
            push = stack.append
            while stack:
                v = stack[-1]
                if done[v]:
                    stack.pop()
                    continue
                a = args[v]
                if len(a) == 2:
                    x, y = a
                    if not done[x] or not done[y]:
                        # the first argument ends on top: it is finished first
                        if not done[y]:
                            push(y)
                        if not done[x]:
                            push(x)
                        continue
                elif a:
                    pending = [c for c in a if not done[c]]
                    if pending:
                        stack.extend(reversed(pending))
                        continue
                stack.pop()
                done[v] = 1
                append(v)
                p = partner.get(v)
                if p is not None and not done[p]:  # its argument is the one v just used
                    done[p] = 1
                    append(p)
    return order


def _sin_cos_partners(kernel: Kernel) -> dict[int, int]:
    """``sin(a) <-> cos(a)`` pairs among the values the outputs need (both directions)."""
    ops, args = kernel.ops, kernel.args
    found: dict[tuple[Op, int], int] = {}
    for v, op in enumerate(ops):
        if op is Op.SIN or op is Op.COS:
            found[(op, args[v][0])] = v
    if not found:
        return {}
    live = cone(kernel, chain.from_iterable(kernel.results))
    pairs: dict[int, int] = {}
    for (op, a), v in found.items():
        if op is Op.SIN:
            c = found.get((Op.COS, a))
            if c is not None and live[v] and live[c]:
                pairs[v], pairs[c] = c, v
    return pairs


def interleaved_order(kernel: Kernel, order: list[int], ready: list[int] | None = None) -> list[int] | None:
    """``order`` (the depth-first order) stably sorted by the step of :data:`INTERLEAVE_STEP`
    cycles in which each value is ready (``ready``, default :func:`ir.kernel.ready_times`); a value ready
    in the first step takes the step of its earliest consumer, and a ``sin``/``cos`` pair the
    earlier step of the two (so the pair stays adjacent). ``None`` when the kernel's longest
    chain fits in one step (the order would not change)."""
    ready = ready_times(kernel, order) if ready is None else ready
    last = max(ready, default=0) // INTERLEAVE_STEP
    if last == 0:
        return None
    args = kernel.args
    never = last + 1
    step = [0] * len(ready)
    first_use = [never] * len(ready)  # the earliest step of a consumer seen so far
    for v in reversed(order):
        k = ready[v] // INTERLEAVE_STEP
        if k == 0 and first_use[v] != never:
            k = first_use[v]
        step[v] = k
        for x in args[v]:
            if k < first_use[x]:
                first_use[x] = k
    for v, p in _sin_cos_partners(kernel).items():
        if step[p] < step[v]:
            step[v] = step[p]
    return sorted(order, key=step.__getitem__)


def choose_order(kernel: Kernel, first: list[int]) -> list[int]:
    """``first`` (the depth-first order), or its :func:`interleaved_order` when the model core
    runs that in at most :data:`INTERLEAVE_GAIN` of the cycles with at most
    :data:`INTERLEAVE_LIVE` times as many values live at once. Compared before the
    output-freeing moves, which change neither answer on the bench kernels and would cost a
    second walk; no order runs faster than the longest chain, so a depth-first order within
    :data:`INTERLEAVE_GAIN` of it is kept without building the other."""
    ready = ready_times(kernel, first)
    longest = max(ready, default=0)
    if longest < INTERLEAVE_STEP:
        return first
    cycles = modelled_cycles(kernel, first)
    if INTERLEAVE_GAIN * cycles < longest:
        return first
    other = interleaved_order(kernel, first, ready)
    if other is None or other == first or modelled_cycles(kernel, other) > INTERLEAVE_GAIN * cycles:
        return first
    if peak_live(kernel, other) > INTERLEAVE_LIVE * peak_live(kernel, first):
        return first
    return other


def reorder(kernel: Kernel, order: list[int]) -> Kernel:
    """``kernel`` renumbered so that value ``order[k]`` gets id ``k`` (unlisted values dropped)."""
    remap = [-1] * len(kernel.ops)
    for new, old in enumerate(order):
        remap[old] = new
    at = remap.__getitem__
    old_args = kernel.args
    return Kernel(
        name=kernel.name,
        inputs=kernel.inputs,
        outputs=kernel.outputs,
        ops=list(map(kernel.ops.__getitem__, order)),
        args=[tuple(map(at, old_args[v])) for v in order],
        attrs=list(map(kernel.attrs.__getitem__, order)),
        results=[list(map(at, res)) for res in kernel.results],
    )


@attrs.frozen
class SchedulePass:
    name: str = "schedule"

    def run(self, kernel: Kernel) -> Kernel:
        order = hoist_last_uses(kernel, choose_order(kernel, depth_first_order(kernel)))
        if len(order) == len(kernel.ops) and order == list(range(len(order))):
            return kernel  # already in this order (lowering numbers values depth-first)
        return reorder(kernel, order)
