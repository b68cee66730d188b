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

from gradgen.errors import FunctionDefinitionError, GradgenTypeError
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.staged import Call, Ref

from .function import Function
from .staged import StagedFunction, _check_name


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
    helper, map/reduce stages loops). :meth:`gradient`, :meth:`hessian` and :meth:`hvp`
    differentiate the unrolled pipeline (:meth:`to_function`): their kernels are
    straight-line, and grow with the stages' sizes."""

    def __init__(self, kernel: Kernel, stage: Function, count: int, stages: tuple[object, ...]) -> None:
        super().__init__(kernel, stage, count)
        self.stages = stages

    def to_function(self, name: str | None = None) -> Function:
        f = super().to_function()
        return f if name is None else f._derived(f.kernel, name)

    def gradient(self, wrt_index: int = 0, name: str | None = None) -> Function:
        """The gradient of the (scalar) pipeline w.r.t. input ``wrt_index``, unrolled."""
        return self.to_function().gradient(wrt_index=wrt_index, name=name)

    def hessian(self, wrt_index: int = 0, name: str | None = None) -> Function:
        """The Hessian of the (scalar) pipeline w.r.t. input ``wrt_index``, unrolled."""
        return self.to_function().hessian(wrt_index=wrt_index, name=name)

    def hvp(self, wrt_index: int = 0, name: str | None = None, tangent_name: str | None = None) -> Any:
        """The Hessian-vector product w.r.t. input ``wrt_index`` (direction ``v_<input>``), unrolled."""
        return self.to_function().hvp(wrt_index=wrt_index, name=name, tangent_name=tangent_name)
