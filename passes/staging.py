"""Workspace layout of staged kernels (:mod:`ir.staged`).

:class:`StageLayoutPass` places a staged kernel's temporaries one after the other at the start
of its workspace; behind them, each call gets a scratch region holding two buffers per carried
state (swapped after each stage, never copied) and the callee's workspace. Calls run one after
the other, so they all reuse one scratch region: the workspace is the temporaries plus the
largest scratch, whatever the number of stages. The callees must be allocated already (the
module pipeline, :func:`passes.manager.run_module`, compiles callees first).
"""

from __future__ import annotations

import attrs

from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Allocation, Kernel
from gradgen.ir.staged import STAGE_LAYOUT, StageLayout, StepLayout


@attrs.frozen
class StageLayoutPass:
    name: str = "stage-layout"
    #: the pass manager runs only passes that say so on a staged kernel
    accepts_staged: bool = True

    def run(self, kernel: Kernel) -> Kernel:
        if not kernel.steps:
            raise VerificationError(f"kernel {kernel.name!r} is not staged; allocate it with AllocatePass")
        temp_offsets = []
        at = 0
        for size in kernel.temps:
            temp_offsets.append(at)
            at += size
        base = at
        steps = []
        scratch = 0
        for call in kernel.steps:
            alloc = call.callee.allocation
            if alloc is None:
                raise VerificationError(f"callee {call.callee.name!r} of {kernel.name!r} is not allocated")
            here = base
            buffers = []
            for c in call.carries:
                size = call.callee.inputs[c.input].size
                buffers.append((here, here + size))
                here += 2 * size
            steps.append(StepLayout(tuple(buffers), here, alloc.workspace_size))
            scratch = max(scratch, here + alloc.workspace_size - base)
        layout = StageLayout(tuple(temp_offsets), tuple(steps), base + scratch)
        allocation = Allocation([], [], {}, {}, layout.size, 0)
        return kernel.with_annotations(allocation=allocation).with_note(STAGE_LAYOUT, layout)
