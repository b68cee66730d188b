"""Scheduling: reorder a kernel depth-first from its outputs to keep live ranges short.

Values are emitted in the post-order of an explicit-stack depth-first walk that starts at each
output element in turn, so a value is computed just before its first consumer needs it. The
result is renumbered so that id order is the schedule; the walk is linear in the kernel size.
"""

from __future__ import annotations

import attrs

from ir.kernel import Kernel


def depth_first_order(kernel: Kernel) -> list[int]:
    n = len(kernel.ops)
    seen = bytearray(n)
    order: list[int] = []
    args = kernel.args
    for res in kernel.results:
        for root in res:
            if seen[root]:
                continue
            stack = [(root, 0)]
            seen[root] = 1
            while stack:
                v, i = stack[-1]
                a = args[v]
                if i < len(a):
                    stack[-1] = (v, i + 1)
                    c = a[i]
                    if not seen[c]:
                        seen[c] = 1
                        stack.append((c, 0))
                else:
                    stack.pop()
                    order.append(v)
    return order


def reorder(kernel: Kernel, order: list[int]) -> Kernel:
    remap = {old: new for new, old in enumerate(order)}
    return Kernel(
        name=kernel.name,
        inputs=kernel.inputs,
        outputs=kernel.outputs,
        ops=[kernel.ops[v] for v in order],
        args=[tuple(remap[a] for a in kernel.args[v]) for v in order],
        attrs=[kernel.attrs[v] for v in order],
        results=[[remap[v] for v in res] for res in kernel.results],
    )


@attrs.frozen
class SchedulePass:
    name: str = "schedule"

    def run(self, kernel: Kernel) -> Kernel:
        return reorder(kernel, depth_first_order(kernel))
