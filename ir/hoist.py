"""Loop-invariant values out of staged loops: a prologue run once, a body run per stage.

A loop (a :class:`~ir.staged.Call` of more than one stage) reads some callee inputs through
slices of stride ``0``: the same values at every stage (the parameters of a horizon, a shared
parameter block, their tangents). A value of the callee that depends on those inputs and
constants alone is *invariant*: every stage computes it again. :func:`hoist_loops` splits each
such loop's callee into

* a *prologue*, ``<callee>_prologue``: the invariant inputs -> one output ``hoisted``, called
  once before the loop and writing a temporary of the caller (a small workspace block), and
* the *body*: the callee's inputs (less an invariant one it no longer reads) plus ``hoisted``
  (bound to that temporary with stride ``0``) -> the callee's outputs, reading the hoisted
  values instead of computing them.

Which values are hoisted (:func:`hoisted_values`): an invariant value that a non-invariant
instruction or an output reads (the frontier) and that is worth a workspace slot, meaning its
op is in :data:`~ir.ops.EXPENSIVE` or it reads another computed invariant value (its cone
holds an expensive op or at least two ops). A single cheap op of inputs and constants (``-p``,
``dt * g``) is recomputed per stage: a slot costs a load, about what the op costs.

Everything here is one pass over the instructions in id order, and one in reverse: linear in
the kernel's size. :func:`~ir.tape.split_tape` takes the same invariant inputs and never
tapes an invariant value, so a hoisted value is computed once per loop, never per stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import attrs

from .kernel import Kernel, KernelBuilder, Port, cone
from .ops import EXPENSIVE, Op
from .staged import Call, Ref

#: the name of the body's appended input and of the prologue's output
HOISTED = "hoisted"


#: :func:`invariant_values`: a constant or a value of constants alone
CONSTANT = 1
#: :func:`invariant_values`: a value of the invariant inputs (and constants), at least one read
INVARIANT = 2


def invariant_values(kernel: Kernel, ports: Sequence[int]) -> bytearray:
    """Per value id of ``kernel``: :data:`INVARIANT` when it depends on the input ``ports``
    (an input of them included) and constants alone, reading at least one such input;
    :data:`CONSTANT` for constants and values of constants alone; 0 otherwise."""
    chosen = set(ports)
    ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
    inv = bytearray(len(ops))
    for i, op in enumerate(ops):
        if op is Op.CONST:
            inv[i] = CONSTANT
        elif op is Op.INPUT:
            inv[i] = INVARIANT if attrs_[i][0] in chosen else 0
        else:
            got = [inv[a] for a in args[i]]
            inv[i] = 0 if 0 in got else max(got, default=CONSTANT)
    return inv


def hoisted_values(kernel: Kernel, ports: Sequence[int]) -> list[int]:
    """The value ids worth hoisting out of a loop over ``kernel`` whose input ``ports`` are
    the same at every stage (the module docstring's rule), in id order."""
    ops, args = kernel.ops, kernel.args
    inv = invariant_values(kernel, ports)
    n = len(ops)

    def computed(v: int) -> bool:
        return inv[v] == INVARIANT and ops[v] is not Op.INPUT

    frontier = bytearray(n)
    for i in range(n):
        if not inv[i]:
            for a in args[i]:
                if computed(a):
                    frontier[a] = 1
    for res in kernel.results:
        for v in res:
            if computed(v):
                frontier[v] = 1
    return [v for v in range(n) if frontier[v] and (ops[v] in EXPENSIVE or any(computed(a) for a in args[v]))]


@attrs.frozen(eq=False)
class HoistSplit:
    """A loop's callee split in two: ``prologue`` (the callee's inputs ``ports``, in order ->
    ``hoisted``) and ``body`` (the callee's inputs ``kept``, then ``hoisted`` -> the callee's
    outputs)."""

    prologue: Kernel
    body: Kernel
    ports: tuple[int, ...]
    #: the callee inputs the body still reads (every input not invariant, and the invariant
    #: ones a value left in the body reads), in order; ``hoisted`` comes after them
    kept: tuple[int, ...]


def split_invariant(kernel: Kernel, ports: Sequence[int]) -> HoistSplit | None:
    """``kernel`` split at the values :func:`hoisted_values` chooses, or ``None`` when there
    are none (or ``kernel`` is staged)."""
    if kernel.steps:
        return None
    invariant = tuple(sorted(set(ports)))
    values = hoisted_values(kernel, invariant)
    if not values:
        return None
    ops, attrs_ = kernel.ops, kernel.attrs
    # the prologue: the cones of the hoisted values, reading only the ports they read
    needed = cone(kernel, values)
    ports = tuple(sorted({attrs_[i][0] for i, op in enumerate(ops) if needed[i] and op is Op.INPUT}))
    at = {p: k for k, p in enumerate(ports)}
    pb = KernelBuilder()
    new = pb.copy_part(kernel, needed, at)
    taken = {p.name for p in (*kernel.inputs, *kernel.outputs)}
    name = HOISTED
    while name in taken:
        name = f"_{name}"
    out = Port(name, len(values))
    prologue = pb.finish(
        f"{kernel.name}_prologue",
        tuple(kernel.inputs[p] for p in ports),
        (out,),
        [[new[v] for v in values]],
    )
    # the body: the instructions the outputs still need, the hoisted values read from the
    # appended input; an invariant input none of them reads is dropped
    slot = {v: k for k, v in enumerate(values)}
    live = cone(kernel, chain.from_iterable(kernel.results), slot)
    fixed = set(invariant)
    read = {attrs_[i][0] for i, op in enumerate(ops) if live[i] and op is Op.INPUT}
    kept = tuple(p for p in range(len(kernel.inputs)) if p not in fixed or p in read)
    place = {p: k for k, p in enumerate(kept)}
    bb = KernelBuilder()
    new = bb.copy_part(kernel, live, place, {v: (len(kept), k) for v, k in slot.items()})
    body = bb.finish(
        kernel.name,
        (*(kernel.inputs[p] for p in kept), out),
        kernel.outputs,
        [[new[v] for v in res] for res in kernel.results],
    )
    return HoistSplit(prologue, body, ports, kept)


def invariant_ports(call: Call) -> list[int]:
    """The callee inputs a loop reads through a slice of stride 0 (the same at every stage)."""
    if call.count < 2:
        return []
    return [i for i, r in enumerate(call.inputs) if r is not None and r.stride == 0]


def hoist_loops(kernel: Kernel) -> Kernel:
    """The staged ``kernel`` with every loop over a straight-line callee that has values worth
    hoisting split into a prologue call and a loop over the body (see the module docstring);
    ``kernel`` itself when there are none. Applying it twice changes nothing more."""
    if not kernel.steps:
        return kernel
    steps: list[Call] = []
    temps = list(kernel.temps)
    changed = False
    for call in kernel.steps:
        split = split_invariant(call.callee, invariant_ports(call))
        if split is None:
            steps.append(call)
            continue
        changed = True
        block = Ref("tmp", len(temps))
        temps.append(split.prologue.outputs[0].size)
        refs = tuple(call.inputs[p] for p in split.ports)
        steps.append(Call(split.prologue, 1, refs, (block,)))
        place = {p: k for k, p in enumerate(split.kept)}
        carries = tuple(attrs.evolve(c, input=place[c.input]) for c in call.carries)
        inputs = (*(call.inputs[p] for p in split.kept), block)
        steps.append(attrs.evolve(call, callee=split.body, inputs=inputs, carries=carries))
    if not changed:
        return kernel
    return attrs.evolve(kernel, steps=tuple(steps), temps=tuple(temps))
