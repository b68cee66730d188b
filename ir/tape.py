"""Split a joint forward + reverse kernel into a forward part that records a tape and a
reverse part that reads it.

A stage of an adjoint sweep (a VJP, or the JVP of a VJP) reads two kinds of inputs: the
*forward* ones (the state, the control, the parameters, their tangents), known when the
forward loop runs, and the *reverse* ones (the adjoint and its tangent), known only when the
reversed loop reaches the stage. Every instruction that depends on no reverse input can run in
the forward loop instead; the values of those instructions that the rest of the kernel reads
are the stage's *tape*.

:func:`split_tape` marks the instructions that depend on a reverse input (one pass in id
order, ids being topological), then builds

* ``forward``: the forward inputs -> one output ``tape`` (the marked-free values read by a
  marked instruction or returned as an output; inputs and constants are never taped), and
* ``reverse``: the forward inputs it still reads, then ``tape``, then the reverse inputs ->
  the outputs of the kernel, computing only the marked instructions.

Both are built through a :class:`~ir.kernel.KernelBuilder`, so a caller that also emits the
forward stage (the rollout) into one builder shares the common values by hash-consing.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .errors import VerificationError
from .kernel import Kernel, KernelBuilder, Port
from .ops import Op


@attrs.frozen(eq=False)
class TapeSplit:
    """The two halves of a kernel (see the module docstring). ``kept`` lists the indices
    (into the original kernel's inputs) of the forward inputs ``reverse`` reads, in order;
    ``reverse``'s inputs are those, then ``tape`` (when :attr:`tape_size` is not 0), then
    the reverse inputs in their original order."""

    forward: Kernel
    reverse: Kernel
    kept: tuple[int, ...]
    tape_size: int


def split_tape(kernel: Kernel, reverse_inputs: Sequence[int]) -> TapeSplit:
    """Split the straight-line ``kernel`` at the inputs ``reverse_inputs`` (port indices);
    the reverse half keeps the kernel's name, the forward half is ``<name>_tape``."""
    if kernel.steps:
        raise VerificationError(f"kernel {kernel.name!r} is staged; split_tape takes a straight-line kernel")
    n_in = len(kernel.inputs)
    late = set(reverse_inputs)
    if not late <= set(range(n_in)):
        raise VerificationError(f"kernel {kernel.name!r} has no input {sorted(late - set(range(n_in)))}")
    early = [p for p in range(n_in) if p not in late]
    ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
    n = len(ops)
    marked = bytearray(n)
    for i in range(n):
        op = ops[i]
        if op is Op.INPUT:
            marked[i] = attrs_[i][0] in late
        elif op is not Op.CONST:
            marked[i] = any(marked[a] for a in args[i])
    # the tape: unmarked computed values a marked instruction or an output reads
    tape_of: dict[int, int] = {}
    kept_ports: set[int] = set()

    def need(v: int) -> None:
        if marked[v]:
            return
        op = ops[v]
        if op is Op.INPUT:
            kept_ports.add(attrs_[v][0])
        elif op is not Op.CONST and v not in tape_of:
            tape_of[v] = len(tape_of)

    for i in range(n):
        if marked[i] and ops[i] is not Op.INPUT:
            for a in args[i]:
                need(a)
    for res in kernel.results:
        for v in res:
            need(v)
    tape = sorted(tape_of, key=tape_of.__getitem__)
    tape_size = len(tape)

    # the forward half: every unmarked instruction, the taped ones returned
    fb = KernelBuilder()
    early_at = {p: k for k, p in enumerate(early)}
    new = [0] * n
    for i in range(n):
        if marked[i]:
            continue
        op = ops[i]
        if op is Op.CONST:
            new[i] = fb.const(attrs_[i])
        elif op is Op.INPUT:
            port, j = attrs_[i]
            new[i] = fb.input(early_at[port], j)
        else:
            new[i] = fb.emit(op, [new[a] for a in args[i]], attrs_[i])
    tape_port = Port("tape", max(tape_size, 1))
    forward = fb.finish(
        f"{kernel.name}_tape",
        tuple(kernel.inputs[p] for p in early),
        (tape_port,),
        [[new[v] for v in tape] or [fb.const(0.0)]],
    )

    # the reverse half: the marked instructions, reading the kept inputs, the tape and the rest
    kept = tuple(p for p in early if p in kept_ports)
    port_at = {p: k for k, p in enumerate(kept)}
    tape_index = len(kept)
    late_base = tape_index + (1 if tape_size else 0)
    port_at.update({p: late_base + k for k, p in enumerate(sorted(late))})
    rb = KernelBuilder()
    rnew: dict[int, int] = {}

    def value(v: int) -> int:
        got = rnew.get(v)
        if got is None:
            op = ops[v]
            if op is Op.CONST:
                got = rb.const(attrs_[v])
            elif op is Op.INPUT:
                port, j = attrs_[v]
                got = rb.input(port_at[port], j)
            else:
                got = rb.input(tape_index, tape_of[v])
            rnew[v] = got
        return got

    for i in range(n):
        if marked[i]:
            rnew[i] = (
                value(i) if ops[i] is Op.INPUT else rb.emit(ops[i], [value(a) for a in args[i]], attrs_[i])
            )
    ports = [kernel.inputs[p] for p in kept]
    if tape_size:
        ports.append(tape_port)
    ports += [kernel.inputs[p] for p in sorted(late)]
    reverse = rb.finish(
        kernel.name,
        tuple(ports),
        kernel.outputs,
        [[value(v) for v in res] for res in kernel.results],
    )
    return TapeSplit(forward, reverse, kept, tape_size)
