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
"""

from __future__ import annotations

from itertools import chain

import attrs

from gradgen.ir.kernel import Kernel, cone
from gradgen.ir.ops import Op

from .schedule_pressure import hoist_last_uses


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
        order = hoist_last_uses(kernel, depth_first_order(kernel))
        if len(order) == len(kernel.ops) and order == list(range(len(order))):
            return kernel  # already in this order (lowering numbers values depth-first)
        return reorder(kernel, order)
