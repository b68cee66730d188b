"""``FunctionComposer``: a serial pipeline of function-like stages whose map, zip, reduce and
composed stages stay staged.

``FunctionComposer(first).feed_into(next, arg="z").compose(name)`` feeds the single output of
each stage into the input ``arg`` of the next one. The pipeline's inputs are the first stage's
inputs followed by every later stage's other inputs in order (an input whose name is already
taken is the same input, and must have the same size); its outputs are the last stage's. It
lowers to one staged kernel (:mod:`ir.staged`) calling each stage's kernel once, staged
kernels included, with each intermediate result in a temporary of the workspace.
"""

from __future__ import annotations

from typing import Any

import attrs

from gradgen.errors import DifferentiationError, FunctionDefinitionError, GradgenTypeError
from gradgen.ir.kernel import Kernel, Port, build_kernel
from gradgen.ir.staged import Call, Carry, Ref
from gradgen.passes.staged_forward import drop_outputs, tangent_kernel
from gradgen.taping import rollout_kernel

from .composed import ComposedFunction, _name_or_index
from .function import Function
from .staged import BatchedFunction, ReducedFunction, StagedFunction, _check_name


def _stage_kernel(stage: object, where: str) -> tuple[Kernel, Function]:
    """The kernel of a function-like stage and the Function wrapping it."""
    if isinstance(stage, Function):
        return stage.kernel, stage
    function = getattr(stage, "function", None)
    if isinstance(function, Function) and hasattr(stage, "to_function"):
        return function.kernel, function
    raise GradgenTypeError(
        f"{where}: a stage must be a Function or a staged function (map, zip, reduce, composition), "
        f"got {type(stage).__name__}"
    )


class FunctionComposer:
    """Builder of a serial pipeline (see the module docstring); ``feed_into`` returns a new
    composer."""

    def __init__(self, stage: object) -> None:
        _stage_kernel(stage, "FunctionComposer")
        self.stages: tuple[tuple[object, str | None], ...] = ((stage, None),)

    def feed_into(self, function: object, *, arg: str) -> FunctionComposer:
        """Append ``function``, whose input ``arg`` receives the previous stage's output."""
        kernel, _ = _stage_kernel(function, "feed_into")
        names = [p.name for p in kernel.inputs]
        if not isinstance(arg, str) or arg not in names:
            raise FunctionDefinitionError(
                f"feed_into: {kernel.name!r} has no input {arg!r}; its inputs are {names}"
            )
        previous, _ = _stage_kernel(self.stages[-1][0], "feed_into")
        if len(previous.outputs) != 1:
            raise FunctionDefinitionError(
                f"feed_into: stage {previous.name!r} has {len(previous.outputs)} outputs; a stage "
                "feeding the next one must have exactly one"
            )
        target = kernel.inputs[names.index(arg)]
        if previous.outputs[0].size != target.size:
            raise FunctionDefinitionError(
                f"feed_into: stage {previous.name!r} returns {previous.outputs[0].size} element(s) "
                f"but input {arg!r} of {kernel.name!r} takes {target.size}"
            )
        new = FunctionComposer.__new__(FunctionComposer)
        new.stages = (*self.stages, (function, arg))
        return new

    def compose(self, name: str | None = None) -> FunctionComposition:
        """The pipeline as one staged function (named ``name``, or the stage names joined by
        ``_``)."""
        kernels = [_stage_kernel(s, "compose")[0] for s, _ in self.stages]
        full = _check_name(
            "a composition name", name if name is not None else "_".join(k.name for k in kernels)
        )
        ports: list[Port] = []
        index: dict[str, int] = {}
        steps: list[Call] = []
        temps: list[int] = []
        for s, (kernel, (_, arg)) in enumerate(zip(kernels, self.stages, strict=True)):
            ins: list[Ref | None] = []
            for port in kernel.inputs:
                if port.name == arg:
                    ins.append(Ref("tmp", len(temps) - 1))
                    continue
                if port.name in index:
                    known = ports[index[port.name]]
                    if known.size != port.size:
                        raise FunctionDefinitionError(
                            f"composition {full!r}: input {port.name!r} of {kernel.name!r} has "
                            f"{port.size} element(s) but an earlier stage's input of that name has "
                            f"{known.size}"
                        )
                else:
                    index[port.name] = len(ports)
                    ports.append(port)
                ins.append(Ref("in", index[port.name]))
            if s == len(kernels) - 1:
                outs = tuple(Ref("out", j) for j in range(len(kernel.outputs)))
            else:
                temps.append(kernel.outputs[0].size)
                outs = (Ref("tmp", len(temps) - 1),)
            steps.append(Call(kernel, 1, tuple(ins), outs))
        last = kernels[-1].outputs
        for port in last:
            if port.name in index:
                raise FunctionDefinitionError(
                    f"composition {full!r}: output {port.name!r} has the name of an input"
                )
        kernel = Kernel(
            full, tuple(ports), last, [], [], [], [[] for _ in last], steps=tuple(steps), temps=tuple(temps)
        )
        first = _stage_kernel(self.stages[0][0], "compose")[1]
        return FunctionComposition(kernel, first, len(kernels), stages=tuple(s for s, _ in self.stages))


class FunctionComposition(StagedFunction):
    """A serial pipeline of stages (see :class:`FunctionComposer`): callable, with
    :meth:`to_function`, :meth:`generate_rust` and :meth:`create_rust_project` (each stage a
    helper, map/reduce stages loops). :meth:`gradient` is staged (a reverse sweep over the
    stages calling each stage's own staged vector-Jacobian product); :meth:`hessian` and
    :meth:`hvp` differentiate the unrolled pipeline (:meth:`to_function`)."""

    def __init__(self, kernel: Kernel, stage: Function, count: int, stages: tuple[object, ...]) -> None:
        super().__init__(kernel, stage, count)
        self.stages = stages

    def to_function(self, name: str | None = None) -> Function:
        f = super().to_function()
        return f if name is None else f._derived(f.kernel, name)

    def gradient(self, name: str | int | None = None, *, wrt_index: int = 0) -> StagedFunction:
        """The gradient of the scalar pipeline w.r.t. input ``wrt_index`` (output
        ``grad_<input>``), staged: the forward calls of the stages before the last, then, last
        stage first, each stage's vector-Jacobian product w.r.t. the input fed by the stage
        before it (a loop for a map, an adjoint sweep for a fold or a composition), down to the
        first stage reading the input; the contributions of the stages that read it are added
        (a loop of scalar additions per extra reader). ``gradient("n")``
        names it (gradgen 0.5.2's spelling); ``gradient(1)`` is ``gradient(wrt_index=1)``."""
        name, wrt_index = _name_or_index(name, wrt_index)
        return StagedFunction(_gradient_kernel(self, wrt_index, name), self.stage, self.count)

    def derivative(self, kind: str, wrt: int) -> StagedFunction:
        if kind == "gradient":
            return self.gradient(wrt_index=wrt)
        if kind == "hvp":
            return self.hvp(wrt)
        return super().derivative(kind, wrt)

    def hessian(self, wrt_index: int = 0, name: str | None = None) -> Function:
        """The Hessian of the (scalar) pipeline w.r.t. input ``wrt_index``, unrolled."""
        return self.to_function().hessian(wrt_index=wrt_index, name=name)

    def hvp(
        self, wrt_index: int = 0, name: str | None = None, tangent_name: str | None = None
    ) -> StagedFunction:
        """The Hessian of the scalar pipeline w.r.t. input ``wrt_index`` times the direction
        ``v_<input>`` (or ``tangent_name``), output ``hvp_<input>``: forward over adjoint, the
        tangent of the staged gradient (each call of the gradient's sweeps calls the JVP of its
        callee, loops stay loops)."""
        kernel = _gradient_kernel(self, wrt_index, None)
        port = kernel.outputs[0]
        w = self.kernel.inputs[wrt_index]
        direction = _check_name("tangent_name", tangent_name if tangent_name is not None else f"v_{w.name}")
        if direction in self.input_names:
            raise DifferentiationError(f"the direction name {direction!r} is an input name of {self.name!r}")
        hvp = drop_outputs(tangent_kernel(kernel, [wrt_index]), [1])
        hvp = attrs.evolve(
            hvp,
            name=name if name is not None else f"{self.name}_hvp_{w.name}",
            inputs=(*self.kernel.inputs, Port(direction, w.size, w.scalar)),
            outputs=(Port(f"hvp_{w.name}", port.size, port.scalar),),
        )
        return StagedFunction(hvp, self.stage, self.count)


def _gradient_kernel(comp: FunctionComposition, wrt: object, name: str | None) -> Kernel:
    k = comp.kernel
    if isinstance(wrt, bool) or not isinstance(wrt, int) or not 0 <= wrt < len(k.inputs):
        raise DifferentiationError(
            f"wrt_index must be an input index 0..{len(k.inputs) - 1} of {comp.name!r}, got {wrt!r}"
        )
    out = k.outputs
    if len(out) != 1 or out[0].size != 1:
        raise DifferentiationError(
            f"the gradient of {comp.name!r} needs one scalar output; it has {[p.size for p in out]}"
        )
    calls = k.steps
    w_ref = Ref("in", wrt)
    readers = [s for s, c in enumerate(calls) if w_ref in c.inputs]
    first = readers[0]
    # temporaries: the stage results (as in the pipeline), the seed, the adjoint of each stage's
    # fed input and, when several stages read the input, each stage's contribution
    temps = list(k.temps)
    port = k.inputs[wrt]

    def tmp(size: int) -> Ref:
        temps.append(size)
        return Ref("tmp", len(temps) - 1)

    def one(b: Any, ins: list[list[int]]) -> list[list[int]]:
        return [[b.const(1.0)]]

    seed_k = build_kernel(f"{comp.name}_seed", k.inputs[wrt : wrt + 1], (Port("one", 1, True),), one)
    cotangent = tmp(1)
    steps = [*calls[:-1], Call(seed_k, 1, (w_ref,), (cotangent,))]
    contributions: list[Ref] = []
    for s in range(len(calls) - 1, first - 1, -1):
        call = calls[s]
        wrts: list[int] = []
        targets: list[Ref] = []
        if s in readers:
            wrts.append(call.inputs.index(w_ref))
            targets.append(Ref("out", 0) if len(readers) == 1 else tmp(port.size))
            contributions.append(targets[-1])
        if s > first:
            fed = _fed_index(call)
            wrts.append(fed)
            targets.append(tmp(call.callee.inputs[fed].size))
        vjp = _stage_vjp(comp.stages[s], tuple(wrts), f"stage {s} of {comp.name!r}")
        steps.append(Call(vjp, 1, (*call.inputs, cotangent), tuple(targets)))
        cotangent = targets[-1]
    if len(contributions) > 1:  # the gradient is the sum of the readers' contributions
        steps += _sum_into(contributions, Ref("out", 0), port.size, tmp)
    full = name if name is not None else f"{comp.name}_gradient_{port.name}"
    outs = (Port(f"grad_{port.name}", port.size, port.scalar),)
    return Kernel(full, k.inputs, outs, [], [], [], [[]], steps=tuple(steps), temps=tuple(temps))


def _sum_into(parts: list[Ref], target: Ref, size: int, tmp: Any) -> list[Call]:
    """Calls adding the ``size``-element buffers ``parts`` into ``target``: one loop of scalar
    additions per part after the first (the code does not grow with ``size``)."""

    def add(b: Any, ins: list[list[int]]) -> list[list[int]]:
        return [[b.add(ins[0][0], ins[1][0])]]

    adder = build_kernel("add", (Port("a", 1, True), Port("b", 1, True)), (Port("sum", 1, True),), add)
    calls = []
    acc = parts[0]
    for i, part in enumerate(parts[1:]):
        to = target if i == len(parts) - 2 else tmp(size)
        refs = (attrs.evolve(acc, stride=1), attrs.evolve(part, stride=1))
        calls.append(Call(adder, size, refs, (attrs.evolve(to, stride=1),)))
        acc = to
    return calls


def _fed_index(call: Call) -> int:
    """The callee input a stage's predecessor feeds (the one read from a temporary)."""
    return next(i for i, r in enumerate(call.inputs) if r is not None and r.buffer == "tmp")


def _stage_vjp(stage: object, wrts: tuple[int, ...], where: str) -> Kernel:
    """``(*inputs, cotangent) -> vjp_<input w> for w in wrts`` of a pipeline stage with one
    output, staged like the stage: a plain VJP for a Function, a loop over block VJPs for a map
    or zip, an adjoint sweep for a fold or a composition (w.r.t. its state)."""
    if isinstance(stage, Function):
        return stage.vjp(wrt_index=list(wrts)).kernel
    if isinstance(stage, ComposedFunction) and wrts == (0,):
        return stage.vjp().kernel
    if isinstance(stage, BatchedFunction):
        block = stage.stage.vjp(wrt_index=list(wrts)).kernel
        n = stage.count
        ports = (*stage.kernel.inputs, Port("cotangent", n * block.inputs[-1].size))
        results = tuple(Port(f"vjp_{stage.kernel.inputs[w].name}", stage.kernel.inputs[w].size) for w in wrts)
        refs = tuple(Ref("in", i, 0, p.size) for i, p in enumerate(block.inputs))
        block_outs = tuple(Ref("out", j, 0, p.size) for j, p in enumerate(block.outputs))
        call = Call(block, n, refs, block_outs)
        return Kernel(f"{stage.name}_vjp", ports, results, [], [], [], [[] for _ in wrts], steps=(call,))
    if isinstance(stage, ReducedFunction) and len(set(wrts)) == len(wrts) and set(wrts) <= {0, 1}:
        f = stage.stage
        acc, x = f.kernel.inputs
        n = stage.count
        vjp = f.vjp(wrt_index=[0, 1] if 1 in wrts else [0]).kernel  # (acc, x, cot) -> (vjp_acc, [vjp_x])
        ports = (*stage.kernel.inputs, Port("cotangent", acc.size, acc.scalar))
        results = tuple(
            Port(
                f"vjp_{stage.kernel.inputs[w].name}",
                stage.kernel.inputs[w].size,
                stage.kernel.inputs[w].scalar,
            )
            for w in wrts
        )
        outs: tuple[Ref | None, ...] = (None, Ref("out", wrts.index(1), 0, x.size)) if 1 in wrts else (None,)
        final = Ref("out", wrts.index(0)) if 0 in wrts else None
        steps = (
            Call(
                rollout_kernel(f.kernel, None, keep_state=True),
                n,
                (None, Ref("in", 1, 0, x.size)),
                (None, Ref("tmp", 0, 0, acc.size)),
                (Carry(0, 0, Ref("in", 0)),),
            ),
            Call(
                vjp,
                n,
                (Ref("tmp", 0, 0, acc.size), Ref("in", 1, 0, x.size), None),
                outs,
                (Carry(2, 0, Ref("in", 2), final),),
                reverse=True,
            ),
        )
        return Kernel(
            f"{stage.name}_vjp",
            ports,
            results,
            [],
            [],
            [],
            [[] for _ in wrts],
            steps=steps,
            temps=(n * acc.size,),
        )
    raise DifferentiationError(
        f"{where}: {type(stage).__name__} {getattr(stage, 'name', '')!r} offers no staged vector-Jacobian "
        "product w.r.t. the input(s) it is differentiated by; differentiate to_function() instead"
    )
