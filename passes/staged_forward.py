"""Forward mode through staged kernels: the tangent of a staged kernel is a staged kernel.

:func:`tangent_kernel` returns a kernel computing a kernel's outputs and their directional
derivatives along tangents of some of its inputs. A straight-line kernel becomes the straight-line
kernel of its primal and its JVP (one graph, shared subexpressions computed once). A staged kernel
keeps its steps: each call that reads a value with a tangent, or writes a buffer that has one,
calls the tangent kernel of its callee instead (the same transformation, one level down), with
every slice of a buffer paired with the same slice of the buffer's tangent, and every carried
state carried together with its tangent; the other calls stay as they are. So loops stay loops:
the tangent of a map is a loop over the stage's JVP, the tangent of an adjoint sweep is a
forward-over-adjoint sweep (what a staged Hessian-vector product is).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.staged import Call, Carry, Ref, unroll

from .autodiff import jvp


def _fresh(base: str, taken: set[str]) -> str:
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _tangent_ports(kernel: Kernel, active: Sequence[int]) -> tuple[list[Port], list[Port]]:
    """The appended tangent inputs ``d_<in>`` (for ``active``) and outputs ``d_<out>`` (all)."""
    taken = {p.name for p in (*kernel.inputs, *kernel.outputs)}
    ins = [
        Port(_fresh(f"d_{kernel.inputs[i].name}", taken), kernel.inputs[i].size, kernel.inputs[i].scalar)
        for i in active
    ]
    outs = [Port(_fresh(f"d_{p.name}", taken), p.size, p.scalar) for p in kernel.outputs]
    return ins, outs


def tangent_kernel(
    kernel: Kernel, active: Sequence[int], memo: dict[tuple[int, tuple[int, ...]], Kernel] | None = None
) -> Kernel:
    """``kernel`` with inputs ``(*inputs, d_<in> for in active)`` (``active``: sorted input
    indices) and outputs ``(*outputs, d_<out> for every output)``: the outputs and their
    derivatives along the given input tangents (the other inputs' tangents are zero)."""
    memo = {} if memo is None else memo
    key = (id(kernel), tuple(active))
    hit = memo.get(key)
    if hit is not None:
        return hit
    result = _staged(kernel, tuple(active), memo) if kernel.steps else _straight(kernel, tuple(active))
    memo[key] = result
    return result


def _straight(kernel: Kernel, active: tuple[int, ...]) -> Kernel:
    t_ins, t_outs = _tangent_ports(kernel, active)
    b = KernelBuilder()
    ports = (*kernel.inputs, *t_ins)
    ins = [[b.input(p, j) for j in range(port.size)] for p, port in enumerate(ports)]
    primal = unroll(b, kernel, ins[: len(kernel.inputs)])
    if active:
        tangents = unroll(b, jvp(kernel, list(active)), ins)
    else:
        tangents = [[b.const(0.0)] * p.size for p in kernel.outputs]
    return b.finish(f"{kernel.name}_tangent", ports, (*kernel.outputs, *t_outs), primal + tangents)


def _staged(
    kernel: Kernel, active: tuple[int, ...], memo: dict[tuple[int, tuple[int, ...]], Kernel]
) -> Kernel:
    n_in, n_out = len(kernel.inputs), len(kernel.outputs)
    live: set[tuple[str, int]] = {("in", i) for i in active} | {("out", j) for j in range(n_out)}

    def reads(call: Call) -> list[Ref]:
        return [r for r in call.inputs if r is not None] + [c.init for c in call.carries]

    def writes(call: Call) -> list[Ref]:
        return [r for r in call.outputs if r is not None] + [
            c.final for c in call.carries if c.final is not None
        ]

    # a call gets a tangent when it reads a value with a tangent or writes a buffer with one;
    # then everything it writes has a tangent (a fixed point over the steps, which are few)
    changed = True
    transformed: list[bool] = [False] * len(kernel.steps)
    while changed:
        changed = False
        for s, call in enumerate(kernel.steps):
            if transformed[s]:
                continue
            if any((r.buffer, r.index) in live for r in (*reads(call), *writes(call))):
                transformed[s] = changed = True
                live.update((r.buffer, r.index) for r in writes(call))
    t_ins, t_outs = _tangent_ports(kernel, active)
    tangent_of: dict[tuple[str, int], int] = {("in", i): n_in + k for k, i in enumerate(active)}
    tangent_of.update({("out", j): n_out + j for j in range(n_out)})
    temps = list(kernel.temps)
    for t, size in enumerate(kernel.temps):
        if ("tmp", t) in live:
            tangent_of[("tmp", t)] = len(temps)
            temps.append(size)

    def tangent(ref: Ref) -> Ref:
        return attrs.evolve(ref, index=tangent_of[(ref.buffer, ref.index)])

    steps: list[Call] = []
    for call, on in zip(kernel.steps, transformed, strict=True):
        if not on:
            steps.append(call)
            continue
        callee = call.callee
        carried = {c.input for c in call.carries}
        have = [
            i
            for i, r in enumerate(call.inputs)
            if i in carried or (r is not None and (r.buffer, r.index) in live)
        ]
        new = tangent_kernel(callee, have, memo)
        position = {i: len(callee.inputs) + k for k, i in enumerate(have)}
        # a carried input is bound to None, and so is its tangent (carried next to it)
        ins = [*call.inputs, *(None if (r := call.inputs[i]) is None else tangent(r) for i in have)]
        outs = [*call.outputs, *(None if r is None else tangent(r) for r in call.outputs)]
        carries = list(call.carries)
        for c in call.carries:
            if (c.init.buffer, c.init.index) in live:
                init = tangent(c.init)
            else:  # a state that starts without a tangent: its tangent starts at zero
                init = Ref("tmp", len(temps))
                temps.append(callee.inputs[c.input].size)
                steps.append(_zeros(kernel, callee.inputs[c.input], init))
            final = None if c.final is None else tangent(c.final)
            carries.append(Carry(position[c.input], len(callee.outputs) + c.output, init, final))
        steps.append(Call(new, call.count, tuple(ins), tuple(outs), tuple(carries), call.reverse))
    return Kernel(
        f"{kernel.name}_tangent",
        (*kernel.inputs, *t_ins),
        (*kernel.outputs, *t_outs),
        [],
        [],
        [],
        [[] for _ in range(2 * n_out)],
        steps=tuple(steps),
        temps=tuple(temps),
    )


def _zeros(kernel: Kernel, port: Port, into: Ref) -> Call:
    """A call writing ``port.size`` zeros to ``into`` (its kernel reads the first input)."""
    b = KernelBuilder()
    for j in range(kernel.inputs[0].size):
        b.input(0, j)
    zero = b.finish("zeros", kernel.inputs[:1], (Port("zeros", port.size),), [[b.const(0.0)] * port.size])
    return Call(zero, 1, (Ref("in", 0),), (into,))


def drop_outputs(kernel: Kernel, keep: Sequence[int]) -> Kernel:
    """A staged ``kernel`` with only the outputs ``keep`` (in that order); the others become
    temporaries."""
    if not kernel.steps:
        raise VerificationError(f"drop_outputs applies to staged kernels, not {kernel.name!r}")
    temps = list(kernel.temps)
    moved: dict[int, Ref] = {}
    for j, port in enumerate(kernel.outputs):
        if j not in keep:
            moved[j] = Ref("tmp", len(temps))
            temps.append(port.size)
    index = {j: k for k, j in enumerate(keep)}

    def move(ref: Ref | None) -> Ref | None:
        if ref is None or ref.buffer != "out":
            return ref
        if ref.index in moved:
            return attrs.evolve(ref, buffer="tmp", index=moved[ref.index].index)
        return attrs.evolve(ref, index=index[ref.index])

    steps = []
    for call in kernel.steps:
        carries = tuple(attrs.evolve(c, init=move(c.init), final=move(c.final)) for c in call.carries)
        steps.append(
            attrs.evolve(
                call,
                inputs=tuple(move(r) for r in call.inputs),
                outputs=tuple(move(r) for r in call.outputs),
                carries=carries,
            )
        )
    outs = tuple(kernel.outputs[j] for j in keep)
    return attrs.evolve(
        kernel, outputs=outs, results=[[] for _ in outs], steps=tuple(steps), temps=tuple(temps)
    )
