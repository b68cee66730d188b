"""Where a staged adjoint sweep keeps the tape of each stage, and how its two loops bind it.

An adjoint sweep (single shooting, the gradient, VJP and Jacobian of a fold) runs a forward
loop, then a reversed loop whose step is split at its reverse inputs
(:func:`ir.tape.split_tape`): the forward loop computes each stage's tape, the reversed loop
reads it. Stage ``k``'s tape is read by stage ``k`` of the reversed loop only, and that stage
also writes stage ``k``'s block of each per-stage output of the sweep (the gradient w.r.t. the
stage's control or block, a block column of a Jacobian), reading its inputs first (an input
bound to the slice an output writes reads it as it was before the call, :mod:`ir.staged`). So
the tape's last values wait in those blocks, each *lending* its whole block while the tape has
that many values left, and the workspace holds the rest: ``count * (tape - lent)`` values.

:func:`place_tape` decides the parts (ports ``tape`` in the workspace, ``tape_<label>`` in a
lent block); :func:`rollout_kernel` is the forward loop's stage, which :meth:`StageTape.write`
emits them into,
:meth:`StageTape.reverse` is the reversed step reading them and :meth:`StageTape.bind` binds
its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs

from gradgen.ir.kernel import Kernel, KernelBuilder, Port, build_kernel
from gradgen.ir.staged import Ref, unroll
from gradgen.ir.tape import TapeSplit


@attrs.frozen(eq=False)
class StageTape:
    """The tape of one sweep: ``split`` and its consecutive ``parts`` (ports), part ``m`` of
    stage ``k`` living at ``refs[m]`` (a per-stage slice of a temporary or of an output)."""

    split: TapeSplit
    parts: tuple[Port, ...]
    refs: tuple[Ref, ...]

    def write(self, b: KernelBuilder, early: Sequence[Sequence[int]]) -> list[list[int]]:
        """Emit the forward half on the values ``early`` (one list per forward input of the
        split kernel, in order) into ``b``; return the values of each part."""
        tape, at, parts = unroll(b, self.split.forward, early)[0], 0, []
        for port in self.parts:
            parts.append(tape[at : at + port.size])
            at += port.size
        return parts

    def reverse(self) -> Kernel:
        """The reverse half reading the tape as :attr:`parts` (the split's own kernel when the
        tape is one part)."""
        rev = self.split.reverse
        if len(self.parts) == 1:
            return rev
        at, n = len(self.split.kept), len(self.parts)
        ports = (*rev.inputs[:at], *self.parts, *rev.inputs[at + 1 :])

        def body(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            tape = [v for part in ins[at : at + n] for v in part]
            return unroll(b, rev, [*ins[:at], tape, *ins[at + n :]])

        return build_kernel(rev.name, ports, rev.outputs, body)

    def bind(self, bound: Mapping[int, Ref | None]) -> tuple[list[int], tuple[Ref | None, ...]]:
        """The inputs of :meth:`reverse`: for each, the index of the split kernel's input it is
        (``-1`` for a part of the tape) and its slice (``bound`` maps each kept and reverse
        input of the split kernel to its slice, ``None`` for a carried one)."""
        split = self.split
        order = [*split.kept, *([-1] * len(self.parts)), *split.late]
        refs = [bound[i] for i in split.kept] + list(self.refs) + [bound[i] for i in split.late]
        return order, tuple(refs)


def place_tape(
    split: TapeSplit | None, lenders: Sequence[tuple[str, Ref]], temp: Callable[[int], Ref]
) -> StageTape | None:
    """The parts of ``split``'s tape (``None`` when it has none): the last values go to the
    ``lenders`` (``(label, slice of stage k)``, the per-stage blocks the reversed loop writes;
    a block's size is its slice's stride), each lending its whole block while the tape has
    that many values left, in order; the rest to the workspace, in a temporary
    ``temp(size per stage)`` returns."""
    if split is None or not split.tape_size:
        return None
    rest, lent = split.tape_size, []
    for label, ref in lenders:
        if 0 < ref.stride <= rest:
            lent.append((label, ref))
            rest -= ref.stride
    parts = [Port("tape", rest)] if rest else []
    refs = [temp(rest)] if rest else []
    parts += [Port(f"tape_{label}", ref.stride) for label, ref in lent]
    refs += [ref for _, ref in lent]
    return StageTape(split, tuple(parts), tuple(refs))


def rollout_kernel(stage: Kernel, tape: StageTape | None, keep_state: bool) -> Kernel:
    """The forward loop's stage of an adjoint sweep: ``stage``'s outputs, then (with
    ``keep_state``) its state input ``<state>_in`` for the reversed loop to read, then the parts
    of ``tape``; named ``<stage>_rollout``."""
    state = stage.inputs[0]

    def body(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
        res = unroll(b, stage, ins) + ([ins[0]] if keep_state else [])
        return res + (tape.write(b, ins) if tape is not None else [])

    outs = [*stage.outputs]
    outs += [Port(f"{state.name}_in", state.size, state.scalar)] if keep_state else []
    outs += tape.parts if tape is not None else []
    return build_kernel(f"{stage.name}_rollout", stage.inputs, outs, body)
