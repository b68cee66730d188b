"""Workspace layout of staged kernels (:mod:`ir.staged`).

:class:`StageLayoutPass` places a staged kernel's temporaries one after the other at the start
of its workspace; behind them, each call gets a scratch region holding two buffers per carried
state (swapped after each stage, never copied) and the callee's workspace. Calls run one after
the other, so they all reuse one scratch region: the workspace is the temporaries plus the
largest scratch, whatever the number of stages. The callees must be allocated already (the
module pipeline, :func:`passes.manager.run_module`, compiles callees first).

A state buffer may be a temporary itself (:func:`carry_buffers`): the one the loop starts
from, when a carry's initial value is a temporary's slice that nothing else reads later, and
the one holding the last stage's value, when the final value goes to a temporary's slice.
The state then stays where the neighbouring calls read or write it, and no copy is printed.
"""

from __future__ import annotations

import attrs

from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Allocation, Kernel
from gradgen.ir.staged import STAGE_LAYOUT, Call, StageLayout, StepLayout, final_buffer, span


def _tmp_ranges(call: Call) -> list[tuple[int, int, int]]:
    """The (temporary, start, stop) touched by ``call`` over all its stages."""
    out: list[tuple[int, int, int]] = []
    callee = call.callee
    bound = [*zip(call.inputs, callee.inputs, strict=True), *zip(call.outputs, callee.outputs, strict=True)]
    for ref, port in bound:
        if ref is not None and ref.buffer == "tmp":
            out.append((ref.index, *span(call, ref, port.size)))
    for c in call.carries:
        size = callee.inputs[c.input].size
        for r in (c.init, c.final):
            if r is not None and r.buffer == "tmp":
                out.append((r.index, r.offset, r.offset + size))
    return out


#: ``UNROLL``: a loop whose callee is a small straight-line kernel runs two stages per iteration
#: (:func:`unroll_of`); the state the first writes and the second reads is a local array that
#: LLVM keeps in registers, and the printer marks the callee ``#[inline(always)]`` (called twice,
#: LLVM would no longer inline it). Between iterations the state stays in the workspace: carried
#: in locals, LLVM's SLP vectorizer packs it into one vector register across the loop's back
#: edge and unpacks it on the dependency chain. Measured with the minimum ns/call over 300
#: loops (the bench machine's fast mode), ratio to one stage per iteration, pendulum_staged at
#: N = 10 / 100 / 1000: gradient 0.986 / 0.984 / 0.981, HVP 0.938 / 0.938 / 0.937, primal
#: 0.975 / 0.975 / 0.978 (almost all of the derivatives' gain is the reversed loop's). Without
#: the inline attribute the HVP's callees stay out of line and it runs 1.05x slower; three to
#: five stages per iteration gain about 1 % more (the primal lost 4-7 % with three and four);
#: carrying the state in locals across iterations: gradient 1.025x. Loops that carry fewer than
#: two values stay one stage per iteration: with no state nothing passes between the stages (the
#: zip Jacobian of ``tests/test_staged.py`` up to 1.02x slower unrolled), and a single value LLVM
#: already keeps in a register across iterations (the scalar fold's gradient 1.047x slower at
#: N = 100 and 1000, its reversed loop then loading the value back each iteration).
UNROLL = 2
#: the largest callee (instructions) and the carried state (elements) a loop unrolls
UNROLL_MAX_OPS = 512
UNROLL_MIN_CARRY = 2
UNROLL_MAX_CARRY = 64


def unroll_of(call: Call) -> int:
    """Stages one iteration of ``call``'s loop runs (see ``UNROLL``): 1 unless the loop runs at
    least two iterations of ``UNROLL`` stages over a small straight-line callee carrying a state
    of a few values."""
    callee = call.callee
    carried = sum(callee.inputs[c.input].size for c in call.carries)
    if (
        call.count < 2 * UNROLL
        or callee.steps
        or len(callee.ops) > UNROLL_MAX_OPS
        or not UNROLL_MIN_CARRY <= carried <= UNROLL_MAX_CARRY
    ):
        return 1
    return UNROLL


def carry_buffers(
    kernel: Kernel, temp_offsets: list[int], unrolls: list[int]
) -> list[list[tuple[int | None, int | None]]]:
    """For each step, for each of its carries: the workspace offsets of its two buffers that
    are temporaries' slices (``None``: a buffer of its own in the scratch). The first buffer is
    the initial value's slice when that slice is a temporary's that no later call touches (the
    loop overwrites it; no other slice of the same call may overlap it); otherwise the buffer
    :func:`final_buffer` names (given the step's stages per iteration, ``unrolls``) is the final
    value's slice when that is a temporary's (one of the two, whatever the number of stages:
    no copy is printed)."""
    # temporary -> (step, start, stop) of every slice of it, to find the later readers
    touched: dict[int, list[tuple[int, int, int]]] = {}
    for s, call in enumerate(kernel.steps):
        for t, lo, hi in _tmp_ranges(call):
            touched.setdefault(t, []).append((s, lo, hi))
    result: list[list[tuple[int | None, int | None]]] = []
    for s, call in enumerate(kernel.steps):
        pairs: list[tuple[int | None, int | None]] = []
        for c in call.carries:
            size = call.callee.inputs[c.input].size
            pair: list[int | None] = [None, None]
            r = c.init
            if r.buffer == "tmp" and not any(
                later > s and lo < r.offset + size and r.offset < hi for later, lo, hi in touched[r.index]
            ):
                pair[0] = temp_offsets[r.index] + r.offset
            if c.final is not None and c.final.buffer == "tmp" and pair[0] is None:
                pair[final_buffer(call, unrolls[s])] = temp_offsets[c.final.index] + c.final.offset
            pairs.append((pair[0], pair[1]))
        result.append(pairs)
    return result


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
        unrolls = [unroll_of(call) for call in kernel.steps]
        fixed_buffers = carry_buffers(kernel, temp_offsets, unrolls)
        for s, call in enumerate(kernel.steps):
            alloc = call.callee.allocation
            if alloc is None:
                raise VerificationError(f"callee {call.callee.name!r} of {kernel.name!r} is not allocated")
            here = base
            buffers = []
            for c, fixed in zip(call.carries, fixed_buffers[s], strict=True):
                size = call.callee.inputs[c.input].size
                pair = []
                for f in fixed:
                    if f is None:
                        pair.append(here)
                        here += size
                    else:
                        pair.append(f)
                buffers.append((pair[0], pair[1]))
            steps.append(StepLayout(tuple(buffers), here, alloc.workspace_size, unrolls[s]))
            scratch = max(scratch, here + alloc.workspace_size - base)
        layout = StageLayout(tuple(temp_offsets), tuple(steps), base + scratch)
        allocation = Allocation([], [], {}, {}, layout.size, 0)
        return kernel.with_annotations(allocation=allocation).with_note(STAGE_LAYOUT, layout)
