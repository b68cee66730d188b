"""Staged functions: a stage function applied over a horizon, kept as a loop down to Rust.

``map_function(f, N)`` applies ``f`` to ``N`` packed blocks, ``zip_function(f, N)`` to ``N``
tuples of blocks (one packed input per argument of ``f``), ``reduce_function(f, N)`` folds
``acc = f(acc, x_k)`` over ``N`` packed blocks. Each builds one staged kernel
(:mod:`ir.staged`): a loop calling ``f``'s kernel on sub-slices, which the Rust backend prints as
a ``for`` loop over ``chunks_exact`` calling a private helper, so the generated code does not grow
with ``N``. :meth:`StagedFunction.to_function` is the unrolled equivalent (for checking).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gradgen.errors import DifferentiationError, FunctionDefinitionError, GradgenTypeError
from gradgen.ir.expr import SX
from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.staged import Call, Carry, Ref, unrolled
from gradgen.ir.verify import verify

from .function import Function

if TYPE_CHECKING:  # pragma: no cover
    from gradgen.backends.rust_module import RustGenerationResult
    from gradgen.config import RustBackendConfig

    from .codegen import RustProjectResult


def _check_count(count: object) -> int:
    if isinstance(count, bool) or not isinstance(count, int):
        raise GradgenTypeError(f"the number of stages must be an int, got {count!r}")
    if count < 1:
        raise FunctionDefinitionError(f"the number of stages must be at least 1, got {count}")
    return count


def _check_function(f: object, what: str) -> Function:
    if not isinstance(f, Function):
        raise GradgenTypeError(f"{what} must be a gradgen Function, got {type(f).__name__}")
    return f


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise FunctionDefinitionError(f"{kind} must be a non-empty string, got {name!r}")
    return name


def _distinct(name: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise FunctionDefinitionError(
                f"staged function {name!r}: argument name {n!r} is used more than once"
            )
        seen.add(n)


def _stage(f: Function, simplification: str | int | None) -> Function:
    return f if simplification is None else f.simplify(simplification)


#: the staged derivative kernels of a staged kernel's Function, for code generators that only see
#: the Function (the builder): ``derive(kind, wrt)`` -> the kernel of that derivative
_DERIVATIVES: weakref.WeakKeyDictionary[Function, Callable[[str, int], Kernel]] = weakref.WeakKeyDictionary()


def staged_derivative(f: Function, kind: str, wrt: int) -> Kernel:
    """The staged kernel of derivative ``kind`` (``gradient``, ``jacobian``, ``hvp``) w.r.t.
    input ``wrt`` of the staged Function ``f``; ``DifferentiationError`` when it has none."""
    derive = _DERIVATIVES.get(f)
    if derive is None:
        raise DifferentiationError(f"{f.name!r} is staged and offers no staged {kind}")
    return derive(kind, wrt)


class StagedFunction:
    """A staged function: callable like a :class:`Function` (one number or sequence per input,
    packed), with :meth:`to_function` (the unrolled equivalent), :meth:`generate_rust` and
    :meth:`create_rust_project` (a loop in Rust). ``function`` is the :class:`Function` of its
    staged kernel (what the code generators read)."""

    def __init__(
        self,
        kernel: Kernel,
        stage: Function,
        count: int,
        derive: Callable[[str, int], StagedFunction] | None = None,
    ) -> None:
        verify(kernel, "staging")
        self.kernel = kernel
        self.function = Function.from_kernel(kernel)
        #: the stage function and the number of stages
        self.stage = stage
        self.count = count
        self._derive = derive
        _DERIVATIVES[self.function] = lambda kind, wrt: self.derivative(kind, wrt).kernel

    def derivative(self, kind: str, wrt: int) -> StagedFunction:
        """The staged derivative ``kind`` w.r.t. input ``wrt`` (what the builder's
        ``add_gradient``/``add_jacobian``/``add_hvp`` generate)."""
        if self._derive is not None:
            return self._derive(kind, wrt)
        return self._derivative(kind, wrt)

    def _derivative(self, kind: str, wrt: int) -> StagedFunction:
        raise DifferentiationError(f"{self.name!r} is staged and offers no staged {kind}")

    # the names and sizes are those of the Function wrapping the staged kernel
    @property
    def name(self) -> str:
        return self.function.name

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.function.input_names

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.function.output_names

    @property
    def input_sizes(self) -> tuple[int, ...]:
        return self.function.input_sizes

    @property
    def output_sizes(self) -> tuple[int, ...]:
        return self.function.output_sizes

    def __call__(self, *args: Any) -> Any:
        """Evaluate numerically (stage by stage, with the generated Rust's IEEE rules)."""
        return self.function(*args)

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}[{s}]" for n, s in zip(self.input_names, self.input_sizes, strict=True))
        outs = ", ".join(f"{n}[{s}]" for n, s in zip(self.output_names, self.output_sizes, strict=True))
        return f"{type(self).__name__}({self.name!r}: ({ins}) -> ({outs}), {self.count} stages)"

    def to_function(self) -> Function:
        """The unrolled :class:`Function` computing the same outputs (its size grows with N)."""
        return Function.from_kernel(unrolled(self.kernel))

    def generate_rust(self, config: RustBackendConfig | None = None) -> RustGenerationResult:
        return self.function.generate_rust(config)

    def create_rust_project(
        self,
        path: str | os.PathLike[str],
        crate_name: str | None = None,
        function_name: str | None = None,
        config: RustBackendConfig | None = None,
        overwrite: bool = False,
    ) -> RustProjectResult:
        return self.function.create_rust_project(path, crate_name, function_name, config, overwrite)


class BatchedFunction(StagedFunction):
    """``f`` applied to ``count`` packed blocks (see :func:`map_function`, :func:`zip_function`)."""

    @property
    def input_sequence_names(self) -> tuple[str, ...]:
        return self.input_names

    def jacobian(self, wrt_index: int = 0) -> BatchedFunction:
        """The Jacobian w.r.t. the packed input ``wrt_index``, staged: the Jacobian of a map is
        block diagonal, so ``<name>_jacobian_<input>`` is a loop over the stage Jacobians with
        one output per output of the stage, ``count`` row-major blocks packed one after the
        other (block ``k`` is ``d out_k / d in_k``; every other entry is zero)."""
        n_in = len(self.kernel.inputs)
        if isinstance(wrt_index, bool) or not isinstance(wrt_index, int) or not 0 <= wrt_index < n_in:
            raise DifferentiationError(
                f"wrt_index must be an input index 0..{n_in - 1} of {self.name!r}, got {wrt_index!r}"
            )
        block = self.stage.jacobian(wrt_index)
        name = f"{self.name}_jacobian_{self.input_names[wrt_index]}"
        return _batched(block, self.count, list(self.input_names), name)

    def _derivative(self, kind: str, wrt: int) -> StagedFunction:
        if kind == "jacobian":
            return self.jacobian(wrt)
        return super()._derivative(kind, wrt)


class ReducedFunction(StagedFunction):
    """A left fold ``acc = f(acc, x_k)`` over ``count`` packed blocks (see :func:`reduce_function`)."""

    @property
    def accumulator_input_name(self) -> str:
        return self.input_names[0]

    @property
    def input_name(self) -> str:
        return self.input_names[1]

    @property
    def output_name(self) -> str:
        return self.output_names[0]

    def gradient(self, wrt_index: int = 0) -> StagedFunction:
        """The gradient of a scalar fold w.r.t. the initial accumulator (``0``) or the packed
        blocks (``1``), by an adjoint sweep: one forward loop storing the ``count`` stage
        states in the workspace, then one reversed loop calling the stage's vector-Jacobian
        product with the adjoint carried from stage to stage. Output ``grad_<input>``."""
        if wrt_index not in (0, 1) or isinstance(wrt_index, bool):
            raise DifferentiationError(f"wrt_index must be 0 or 1 for {self.name!r}, got {wrt_index!r}")
        k = self.stage.kernel
        acc, x = k.inputs
        if acc.size != 1:
            raise DifferentiationError(
                f"the gradient of {self.name!r} needs a scalar accumulator; "
                f"{acc.name!r} has {acc.size} elements"
            )
        n = self.count
        seed = Function("seed", [SX.sym("a")], [1.0], ["a"], ["one"])
        vjp = self.stage.vjp(wrt_index=(0, 1) if wrt_index == 1 else 0)
        wrt = self.kernel.inputs[wrt_index]
        outputs: tuple[Ref | None, ...] = (None, Ref("out", 0, 0, x.size)) if wrt_index == 1 else (None,)
        final = Ref("out", 0) if wrt_index == 0 else None
        steps = (
            Call(
                _with_state_output(k),
                n,
                (None, Ref("in", 1, 0, x.size)),
                (None, Ref("tmp", 0, 0, acc.size)),
                (Carry(0, 0, Ref("in", 0)),),
            ),
            Call(seed.kernel, 1, (Ref("in", 0),), (Ref("tmp", 1),)),
            Call(
                vjp.kernel,
                n,
                (Ref("tmp", 0, 0, acc.size), Ref("in", 1, 0, x.size), None),
                outputs,
                (Carry(2, 0, Ref("tmp", 1), final),),
                reverse=True,
            ),
        )
        kernel = Kernel(
            f"{self.name}_gradient_{wrt.name}",
            self.kernel.inputs,
            (Port(f"grad_{wrt.name}", wrt.size, wrt.scalar),),
            [],
            [],
            [],
            [[]],
            steps=steps,
            temps=(n * acc.size, 1),
        )
        return StagedFunction(kernel, self.stage, n)

    def _derivative(self, kind: str, wrt: int) -> StagedFunction:
        if kind == "gradient":
            return self.gradient(wrt)
        return super()._derivative(kind, wrt)


def _with_state_output(kernel: Kernel) -> Kernel:
    """``kernel`` (accumulator, x) -> next accumulator, also returning its accumulator input
    (the rollout of an adjoint sweep stores each stage's state this way)."""
    b = KernelBuilder()
    new = b.copy_from(kernel)
    state = [b.input(0, j) for j in range(kernel.inputs[0].size)]
    results = [[new[v] for v in res] for res in kernel.results] + [state]
    port = Port(f"{kernel.inputs[0].name}_in", kernel.inputs[0].size, kernel.inputs[0].scalar)
    return b.finish(f"{kernel.name}_rollout", kernel.inputs, (*kernel.outputs, port), results)


def zip_function(
    function: Function,
    count: int,
    *,
    input_names: Sequence[str] | None = None,
    name: str | None = None,
    simplification: str | int | None = None,
) -> BatchedFunction:
    """``function`` applied to ``count`` tuples of blocks: input ``i`` is the ``count`` blocks of
    argument ``i`` packed one after the other (default name ``<arg>_seq``); each output is the
    ``count`` results packed the same way (the output names of ``function``). The name defaults
    to ``<function>_zip``."""
    f = _check_function(function, "zip_function's function")
    n = _check_count(count)
    stage = _stage(f, simplification)
    ports = stage.kernel.inputs
    if input_names is None:
        in_names = [f"{p.name}_seq" for p in ports]
    else:
        if isinstance(input_names, str) or not isinstance(input_names, (list, tuple)):
            raise FunctionDefinitionError(f"input_names must be a list of strings, got {input_names!r}")
        if len(input_names) != len(ports):
            raise FunctionDefinitionError(
                f"function {f.name!r} has {len(ports)} inputs but {len(input_names)} input names were given"
            )
        in_names = [_check_name("an input name", x) for x in input_names]
    return _batched(stage, n, in_names, name if name is not None else f"{f.name}_zip")


def map_function(
    function: Function,
    count: int,
    *,
    input_name: str | None = None,
    name: str | None = None,
    simplification: str | int | None = None,
) -> BatchedFunction:
    """``function`` (one input) applied to ``count`` packed blocks: input ``<arg>_seq`` (or
    ``input_name``), outputs packed the same way; the name defaults to ``<function>_map``."""
    f = _check_function(function, "map_function's function")
    if len(f.kernel.inputs) != 1:
        raise FunctionDefinitionError(
            f"map_function needs a function of one input; {f.name!r} has {len(f.kernel.inputs)} "
            "(use zip_function)"
        )
    n = _check_count(count)
    stage = _stage(f, simplification)
    in_name = f"{stage.kernel.inputs[0].name}_seq" if input_name is None else input_name
    return _batched(
        stage, n, [_check_name("input_name", in_name)], name if name is not None else f"{f.name}_map"
    )


def _batched(stage: Function, n: int, in_names: list[str], name: str) -> BatchedFunction:
    _check_name("a staged function name", name)
    k = stage.kernel
    out_names = [p.name for p in k.outputs]
    _distinct(name, in_names + out_names)
    call = Call(
        k,
        n,
        tuple(Ref("in", i, 0, p.size) for i, p in enumerate(k.inputs)),
        tuple(Ref("out", j, 0, p.size) for j, p in enumerate(k.outputs)),
    )
    kernel = Kernel(
        name,
        tuple(Port(x, n * p.size) for x, p in zip(in_names, k.inputs, strict=True)),
        tuple(Port(p.name, n * p.size) for p in k.outputs),
        [],
        [],
        [],
        [[] for _ in k.outputs],
        steps=(call,),
    )
    return BatchedFunction(kernel, stage, n)


def reduce_function(
    function: Function,
    count: int,
    *,
    accumulator_input_name: str | None = None,
    input_name: str | None = None,
    output_name: str | None = None,
    name: str | None = None,
    simplification: str | int | None = None,
) -> ReducedFunction:
    """The left fold ``acc = function(acc, x_k)``, ``k = 0 .. count-1``: inputs ``<acc>0`` (the
    initial accumulator) and ``<x>_seq`` (the packed blocks), output the final accumulator (named
    like ``function``'s output); the name defaults to ``<function>_reduce``. ``function`` must
    have two inputs and one output of the accumulator's size."""
    f = _check_function(function, "reduce_function's function")
    n = _check_count(count)
    stage = _stage(f, simplification)
    k = stage.kernel
    if len(k.inputs) != 2 or len(k.outputs) != 1:
        raise FunctionDefinitionError(
            f"reduce_function needs a function (accumulator, x) -> accumulator; {f.name!r} has "
            f"{len(k.inputs)} input(s) and {len(k.outputs)} output(s)"
        )
    acc, x = k.inputs
    out = k.outputs[0]
    if out.size != acc.size:
        raise FunctionDefinitionError(
            f"reduce_function: the output {out.name!r} of {f.name!r} has {out.size} element(s) but "
            f"the accumulator {acc.name!r} has {acc.size}; they must match"
        )
    names = [
        _check_name("accumulator_input_name", accumulator_input_name or f"{acc.name}0"),
        _check_name("input_name", input_name or f"{x.name}_seq"),
        _check_name("output_name", output_name or out.name),
    ]
    full = name if name is not None else f"{f.name}_reduce"
    _check_name("a staged function name", full)
    _distinct(full, names)
    call = Call(
        k,
        n,
        (None, Ref("in", 1, 0, x.size)),
        (None,),
        (Carry(0, 0, Ref("in", 0), Ref("out", 0)),),
    )
    kernel = Kernel(
        full,
        (Port(names[0], acc.size, acc.scalar), Port(names[1], n * x.size)),
        (Port(names[2], out.size, out.scalar and acc.scalar),),
        [],
        [],
        [],
        [[]],
        steps=(call,),
    )
    return ReducedFunction(kernel, stage, n)
