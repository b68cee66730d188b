"""Staged kernels: a kernel whose body calls other kernels on sub-slices, possibly in a loop.

A straight-line :class:`~ir.kernel.Kernel` keeps its parallel instruction lists. A *staged*
kernel has empty lists and a non-empty :attr:`Kernel.steps`: a sequence of :class:`Call` run in
order. One :class:`Call` runs its callee ``count`` times (stage ``k = 0 .. count-1``, or
descending with ``reverse``); each callee input and output is a :class:`Ref`, a slice of one of
the caller's buffers starting at ``offset + k * stride`` (``stride`` is ``0``, the same slice at
every stage, or the callee port's length, consecutive packed blocks). A :class:`Carry` threads
a callee output into a callee input of the next stage: stage 0 reads ``init``, the last stage's
value is written to ``final``. A plain call is a :class:`Call` with ``count == 1``. An input
may be bound to the very slice an output of the same call writes (the same :class:`Ref`, ports
of one size): the callee reads what the slice held before the call, then overwrites it (an
earlier loop can leave a stage's value in the output slice that stage writes).

The caller's buffers are its input ports (``"in"``, read only), its output ports (``"out"``)
and its temporaries (``"tmp"``, sizes in :attr:`Kernel.temps`), which the layout pass
(``passes.staging``) places in the workspace. Every kind of staged function (map, zip, reduce,
composition, single shooting, their derivatives) lowers to this one mechanism.

:func:`module_of` lists the kernels a kernel depends on, callee first; :func:`verify_staged`,
:func:`format_steps`, :func:`run_staged` and :func:`unroll` are the verifier, printer,
interpreter and inliner of the staged part (the modules of the same names call them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import attrs

from .errors import VerificationError

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import Kernel, KernelBuilder

#: the buffers a :class:`Ref` can name
BUFFERS = ("in", "out", "tmp")


@attrs.frozen
class Ref:
    """The slice ``buffer[index][offset + k*stride : offset + k*stride + size]`` at stage ``k``
    (``size`` is the length of the callee port it is bound to)."""

    buffer: str
    index: int
    offset: int = 0
    stride: int = 0

    def text(self, size: int) -> str:
        name = {"in": "in", "out": "out", "tmp": "t"}.get(self.buffer, self.buffer)
        start = f"{self.offset}" if not self.stride else f"{self.offset}+{self.stride}k"
        return f"{name}{self.index}[{start};{size}]"


@attrs.frozen
class Carry:
    """Callee output ``output`` becomes callee input ``input`` at the next stage; stage 0 reads
    ``init`` and the last stage's value is copied to ``final`` (``None``: dropped)."""

    input: int
    output: int
    init: Ref
    final: Ref | None = None


@attrs.frozen(eq=False)
class Call:
    """Run ``callee`` over ``count`` stages. ``inputs[i]`` / ``outputs[j]`` bind the callee's
    ports; a carried port is bound to ``None`` (its data flows through :attr:`carries`)."""

    callee: Kernel
    count: int
    inputs: tuple[Ref | None, ...]
    outputs: tuple[Ref | None, ...]
    carries: tuple[Carry, ...] = ()
    reverse: bool = False

    def with_callee(self, callee: Kernel) -> Call:
        return attrs.evolve(self, callee=callee)

    def stage_order(self) -> range:
        return range(self.count - 1, -1, -1) if self.reverse else range(self.count)


def module_of(kernels: Sequence[Kernel]) -> list[Kernel]:
    """Every kernel reachable from ``kernels`` through calls, each once (by identity), callees
    before their callers (an iterative depth-first post-order)."""
    order: list[Kernel] = []
    seen: set[int] = set()
    for root in kernels:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack: list[tuple[Kernel, int]] = [(root, 0)]
        while stack:
            k, i = stack.pop()
            if i < len(k.steps):
                stack.append((k, i + 1))
                callee = k.steps[i].callee
                if id(callee) not in seen:
                    seen.add(id(callee))
                    stack.append((callee, 0))
            else:
                order.append(k)
    return order


def replace_callees(kernel: Kernel, compiled: dict[int, Kernel]) -> Kernel:
    """``kernel`` with every callee ``c`` replaced by ``compiled[id(c)]`` (when present)."""
    if not kernel.steps:
        return kernel
    steps = tuple(s.with_callee(compiled.get(id(s.callee), s.callee)) for s in kernel.steps)
    return kernel.with_annotations(steps=steps)


# ---- verification ---------------------------------------------------------------------------
def buffer_size(kernel: Kernel, ref: Ref) -> int | None:
    ports = {"in": kernel.inputs, "out": kernel.outputs}.get(ref.buffer)
    if ports is not None:
        return ports[ref.index].size if 0 <= ref.index < len(ports) else None
    if ref.buffer == "tmp":
        return kernel.temps[ref.index] if 0 <= ref.index < len(kernel.temps) else None
    return None


def span(call: Call, ref: Ref, size: int) -> tuple[int, int]:
    """The range of the buffer ``ref`` touches over every stage of ``call``."""
    last = ref.offset + (call.count - 1) * ref.stride if call.count > 1 else ref.offset
    return ref.offset, last + size


def verify_staged(kernel: Kernel, fail: Callable[[str], NoReturn]) -> None:
    """Every invariant of a staged kernel: empty instruction lists, callees that exist and are
    not the kernel itself, ports bound with the right sizes, slices inside their buffers, no
    two overlapping slices of one call (except two read slices of an input, and a read slice
    that is exactly a slice the call writes), temporaries and outputs read only after being
    written, every output element written."""
    if kernel.ops or any(kernel.results):
        fail("a staged kernel has no instructions or result ids of its own")
    if len(kernel.results) != len(kernel.outputs):
        fail("the number of result lists differs from the number of outputs")
    for port in (*kernel.inputs, *kernel.outputs):
        if port.size < 1 or (port.scalar and port.size != 1):
            fail(f"port {port.name!r} has invalid size {port.size}")
    if any(t < 1 for t in kernel.temps):
        fail("a temporary has a size below 1")
    written: dict[tuple[str, int], bytearray] = {}
    for o, out in enumerate(kernel.outputs):
        written[("out", o)] = bytearray(out.size)
    for t, size in enumerate(kernel.temps):
        written[("tmp", t)] = bytearray(size)
    for s, call in enumerate(kernel.steps):
        _verify_call(kernel, s, call, written, fail)
    for p, port in enumerate(kernel.outputs):
        if 0 in written[("out", p)]:
            fail(f"output {port.name!r} is not written completely by the steps")


def _verify_call(
    kernel: Kernel,
    s: int,
    call: Call,
    written: dict[tuple[str, int], bytearray],
    fail: Callable[[str], NoReturn],
) -> None:
    from .kernel import Kernel as _Kernel

    callee = call.callee
    where = f"step {s}"
    if not isinstance(callee, _Kernel):
        fail(f"{where} calls {callee!r}, which is not a kernel")
    if callee is kernel:
        fail(f"{where}: kernel {kernel.name!r} calls itself")
    if not isinstance(call.count, int) or call.count < 1:
        fail(f"{where} runs {call.count!r} stages; a call runs at least 1")
    if len(call.inputs) != len(callee.inputs) or len(call.outputs) != len(callee.outputs):
        fail(
            f"{where} binds {len(call.inputs)} input(s) and {len(call.outputs)} output(s) of "
            f"{callee.name!r}, which has {len(callee.inputs)} and {len(callee.outputs)}"
        )
    carried_in = {c.input for c in call.carries}
    carried_out = {c.output for c in call.carries}
    if len(carried_in) != len(call.carries) or len(carried_out) != len(call.carries):
        fail(f"{where} carries one port twice")
    for c in call.carries:
        if not (0 <= c.input < len(callee.inputs) and 0 <= c.output < len(callee.outputs)):
            fail(f"{where} carries a missing port ({c.input} -> {c.output})")
        if callee.inputs[c.input].size != callee.outputs[c.output].size:
            fail(
                f"{where} carries output {callee.outputs[c.output].name!r} "
                f"({callee.outputs[c.output].size}) into input {callee.inputs[c.input].name!r} "
                f"({callee.inputs[c.input].size})"
            )
    reads: list[tuple[Ref, int]] = []
    writes: list[tuple[Ref, int]] = []
    for i, (ref, port) in enumerate(zip(call.inputs, callee.inputs, strict=True)):
        if (ref is None) != (i in carried_in):
            fail(f"{where}: input {port.name!r} must be bound exactly when it is not carried")
        if ref is not None:
            reads.append((ref, port.size))
    for j, (ref, port) in enumerate(zip(call.outputs, callee.outputs, strict=True)):
        if (ref is None) != (j in carried_out):
            fail(f"{where}: output {port.name!r} must be bound exactly when it is not carried")
        if ref is not None:
            writes.append((ref, port.size))
    for c in call.carries:
        size = callee.inputs[c.input].size
        reads.append((attrs.evolve(c.init, stride=0), size))
        if c.final is not None:
            writes.append((attrs.evolve(c.final, stride=0), size))
    # a bound input reading exactly the slice an output writes is read before the call writes
    # it: it overlaps nothing but that output's slice, which the overlap check below covers
    bound_writes = set(writes[: len(call.outputs) - len(call.carries)])
    n_bound = len(call.inputs) - len(call.carries)
    updates = [k < n_bound and r in bound_writes for k, r in enumerate(reads)]
    regions: list[tuple[str, int, int, int, bool]] = []
    for ref, size in reads + writes:
        is_write = len(regions) >= len(reads)
        if ref.buffer not in BUFFERS or (is_write and ref.buffer == "in"):
            fail(f"{where} {'writes' if is_write else 'reads'} the invalid buffer {ref.buffer!r}")
        n = buffer_size(kernel, ref)
        if n is None:
            fail(f"{where} refers to the missing buffer {ref.buffer}{ref.index}")
        if ref.stride not in (0, size) or ref.offset < 0:
            fail(f"{where}: slice {ref.text(size)} must have stride 0 or {size} and offset >= 0")
        lo, hi = span(call, ref, size)
        if hi > n:
            fail(f"{where}: slice {ref.text(size)} over {call.count} stages ends at {hi}, past {n}")
        regions.append((ref.buffer, ref.index, lo, hi, is_write))
    checked = [r for r, update in zip(regions, updates + [False] * len(writes), strict=True) if not update]
    for a in range(len(checked)):
        for b in range(a + 1, len(checked)):
            ra, rb = checked[a], checked[b]
            if ra[:2] == rb[:2] and ra[2] < rb[3] and rb[2] < ra[3]:
                # inputs are shared; the slices of outputs and temporaries are split off as
                # disjoint borrows (a written one may not overlap anything)
                if ra[4] or rb[4]:
                    fail(f"{where}: a written slice of {ra[0]}{ra[1]} overlaps another slice of the call")
                if ra[0] != "in":
                    fail(f"{where}: two slices of {ra[0]}{ra[1]} read by the call overlap")
    for buffer, index, lo, hi, is_write in regions:
        if buffer != "in" and not is_write and 0 in written[(buffer, index)][lo:hi]:
            fail(f"{where} reads {buffer}{index}[{lo}:{hi}] before it is written")
    for buffer, index, lo, hi, is_write in regions:
        if is_write:
            written[(buffer, index)][lo:hi] = b"\x01" * (hi - lo)


# ---- printing -------------------------------------------------------------------------------
def format_steps(kernel: Kernel) -> list[str]:
    """The lines of a staged kernel's body (see :func:`ir.printer.format_kernel`)."""
    lines = [f"  tmp t{t}[{size}]" for t, size in enumerate(kernel.temps)]
    for s, call in enumerate(kernel.steps):
        callee = call.callee
        ins = [
            "carry" if r is None else r.text(p.size) for r, p in zip(call.inputs, callee.inputs, strict=True)
        ]
        outs = [
            "carry" if r is None else r.text(p.size)
            for r, p in zip(call.outputs, callee.outputs, strict=True)
        ]
        loop = f"loop k in {call.count}{' reversed' if call.reverse else ''}: " if call.count > 1 else ""
        lines.append(f"  s{s} = {loop}call {callee.name}({', '.join(ins)}) -> ({', '.join(outs)})")
        for c in call.carries:
            size = callee.inputs[c.input].size
            final = "dropped" if c.final is None else c.final.text(size)
            lines.append(
                f"    carry {callee.outputs[c.output].name} -> {callee.inputs[c.input].name}: "
                f"init {c.init.text(size)}, final {final}"
            )
    return lines


# ---- evaluation -----------------------------------------------------------------------------
def _walk(
    kernel: Kernel,
    inputs: Sequence[Sequence[Any]],
    outputs: list[list[Any]],
    temps: list[list[Any]],
    call_fn: Callable[[Kernel, list[list[Any]]], list[list[Any]]],
) -> None:
    """Run the steps of ``kernel`` on buffers of any element type (floats or value ids);
    ``call_fn`` evaluates one callee on its argument lists."""

    def buf(ref: Ref) -> Any:
        if ref.buffer == "in":
            return inputs[ref.index]
        return (outputs if ref.buffer == "out" else temps)[ref.index]

    for call in kernel.steps:
        callee = call.callee
        state: dict[int, list[Any]] = {}
        for c in call.carries:
            n = callee.inputs[c.input].size
            state[c.input] = list(buf(c.init)[c.init.offset : c.init.offset + n])
        into = {c.output: c.input for c in call.carries}
        for k in call.stage_order():
            args: list[list[Any]] = []
            for i, (ref, port) in enumerate(zip(call.inputs, callee.inputs, strict=True)):
                if ref is None:
                    args.append(state[i])
                else:
                    at = ref.offset + k * ref.stride
                    args.append(list(buf(ref)[at : at + port.size]))
            results = call_fn(callee, args)
            for j, (ref, vals) in enumerate(zip(call.outputs, results, strict=True)):
                if ref is None:
                    state[into[j]] = list(vals)
                else:
                    at = ref.offset + k * ref.stride
                    buf(ref)[at : at + len(vals)] = vals
        for c in call.carries:
            if c.final is not None:
                vals = state[c.input]
                buf(c.final)[c.final.offset : c.final.offset + len(vals)] = vals


def run_staged(
    kernel: Kernel,
    inputs: Sequence[Sequence[float]],
    run: Callable[[Kernel, Sequence[Sequence[float]]], list[list[float]]],
) -> list[list[float]]:
    """Evaluate a staged kernel; ``run`` evaluates a callee (``ir.interp.run``)."""
    outputs = [[0.0] * p.size for p in kernel.outputs]
    temps = [[0.0] * n for n in kernel.temps]
    _walk(kernel, inputs, outputs, temps, run)
    return outputs


def unroll(builder: KernelBuilder, kernel: Kernel, inputs: Sequence[Sequence[int]]) -> list[list[int]]:
    """Emit ``kernel`` on the values ``inputs`` (one id list per input port) into ``builder``
    with every call inlined; return the output ids."""
    if not kernel.steps:
        mapping = {(p, j): v for p, vals in enumerate(inputs) for j, v in enumerate(vals)}
        new = builder.copy_from(kernel, mapping)
        return [[new[v] for v in res] for res in kernel.results]
    zero = builder.const(0.0)
    outputs = [[zero] * p.size for p in kernel.outputs]
    temps = [[zero] * n for n in kernel.temps]

    def call(callee: Kernel, args: list[list[int]]) -> list[list[int]]:
        return unroll(builder, callee, args)

    _walk(kernel, inputs, outputs, temps, call)
    return outputs


def unrolled(kernel: Kernel) -> Kernel:
    """The straight-line kernel computing what the staged ``kernel`` computes."""
    from .kernel import KernelBuilder

    b = KernelBuilder()
    ins = [[b.input(p, j) for j in range(port.size)] for p, port in enumerate(kernel.inputs)]
    outs = unroll(b, kernel, ins)
    return b.finish(kernel.name, kernel.inputs, kernel.outputs, outs)


def fail_with(context: str) -> Callable[[str], NoReturn]:
    def fail(message: str) -> NoReturn:
        raise VerificationError(f"{message}{context}")

    return fail


# ---- workspace layout (computed by ``passes.staging``, read by the backends) --------------------
@attrs.frozen
class StepLayout:
    """Where one call's scratch lives in the caller's workspace: two buffers per carry (the
    current and the next state, swapped after each iteration of the loop; either may be the
    slice of a temporary the carry starts from or ends in) and the callee's own workspace; and
    how many stages one iteration runs (the state passing between them in locals, not in the
    workspace)."""

    carry_buffers: tuple[tuple[int, int], ...]
    work_offset: int
    work_size: int
    #: stages one iteration of the loop runs (the state passes between them in locals)
    unroll: int = 1


def final_buffer(call: Call, unroll: int = 1) -> int:
    """Which of a carry's two buffers (0: the one stage 0 reads, 1: the other) holds the last
    stage's value. A loop swaps them after each iteration (``unroll`` stages, then one stage per
    iteration for the ``count % unroll`` left over); a single call writes the other one."""
    if call.count < 2:
        return 1
    whole, left = divmod(call.count, unroll)
    return (whole + left) % 2


@attrs.frozen
class StageLayout:
    """The workspace of a staged kernel: temporaries first (``temp_offsets``), then the scratch
    of whichever call runs (reused by every call and every stage)."""

    temp_offsets: tuple[int, ...]
    steps: tuple[StepLayout, ...]
    size: int


#: the kernel note holding a staged kernel's :class:`StageLayout`
STAGE_LAYOUT = "stage_layout"
