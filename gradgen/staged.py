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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from gradgen.errors import DifferentiationError, FunctionDefinitionError, GradgenTypeError
from gradgen.ir.expr import SX
from gradgen.ir.hoist import hoist_loops
from gradgen.ir.kernel import Kernel, KernelBuilder, Port, build_kernel
from gradgen.ir.staged import Call, Carry, Ref, unroll, unrolled
from gradgen.ir.tape import split_tape
from gradgen.ir.verify import verify
from gradgen.taping import place_tape, rollout_kernel

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


def staged_derivative(f: Function, kind: str, wrt: int) -> Kernel:
    """The staged kernel of derivative ``kind`` (``gradient``, ``jacobian``, ``hvp``) w.r.t.
    input ``wrt`` of the staged Function ``f``; ``DifferentiationError`` when it has none."""
    if f.staged_derive is None:
        raise DifferentiationError(f"{f.name!r} is staged and offers no staged {kind}")
    return f.staged_derive(kind, wrt)


#: one builder bundle's ``(artifact, wrt input indices)`` pairs, as ``FunctionBundle.resolve`` gives them
Parts = Sequence[tuple[str, tuple[int, ...]]]


def register_staged_joint(f: Function, joint: Callable[[Parts], Kernel]) -> None:
    """Offer ``joint`` (``parts`` -> the kernel computing the builder bundle's artifacts ``f``,
    ``grad``, ... together, or ``DifferentiationError``) as the builder's ``add_joint`` of the
    staged Function ``f``."""
    f.staged_joint = joint


def has_staged_joint(f: Function) -> bool:
    """Whether the staged Function ``f`` offers joint kernels (``add_joint`` in the builder)."""
    return f.staged_joint is not None


def staged_joint(f: Function, parts: Parts) -> Kernel:
    """The staged kernel computing the builder bundle's ``parts`` of the staged Function ``f``
    together; ``DifferentiationError`` when it offers none."""
    if f.staged_joint is None:
        raise DifferentiationError(f"{f.name!r} is staged and offers no staged joint kernel")
    return f.staged_joint(parts)


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
        joint: Callable[[Sequence[str]], StagedFunction] | None = None,
    ) -> None:
        kernel = hoist_loops(kernel)
        verify(kernel, "staging")
        self.kernel = kernel
        self.function = Function.from_kernel(kernel)
        #: the stage function and the number of stages
        self.stage = stage
        self.count = count
        self._derive = derive
        self.function.staged_derive = lambda kind, wrt: self.derivative(kind, wrt).kernel
        if joint is not None:
            register_staged_joint(self.function, lambda parts: joint([a for a, _ in parts]).kernel)

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

    def __call__(self, *args: Any, **named: Any) -> Any:
        """Evaluate numerically (stage by stage, with the generated Rust's IEEE rules); the
        values are given positionally or by input name, as to a :class:`Function`."""
        return self.function(*args, **named)

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}[{s}]" for n, s in zip(self.input_names, self.input_sizes, strict=True))
        outs = ", ".join(f"{n}[{s}]" for n, s in zip(self.output_names, self.output_sizes, strict=True))
        return f"{type(self).__name__}({self.name!r}: ({ins}) -> ({outs}), {self.count} stages)"

    def to_function(self, name: str | None = None) -> Function:
        """The unrolled :class:`Function` computing the same outputs (its size grows with N),
        named ``name`` (default: this function's name)."""
        kernel = unrolled(self.kernel)
        if name is not None:
            kernel = attrs.evolve(kernel, name=_check_name("a function name", name))
        return Function.from_kernel(kernel)

    def generate_rust(self, config: RustBackendConfig | None = None, **options: Any) -> RustGenerationResult:
        """The staged kernel's Rust module (the keyword options of :meth:`Function.generate_rust`:
        ``function_name``, ``backend_mode``, ``scalar_type``, ``math_library``)."""
        return self.function.generate_rust(config, **options)

    def create_rust_project(
        self,
        path: str | os.PathLike[str],
        crate_name: str | None = None,
        function_name: str | None = None,
        config: RustBackendConfig | None = None,
        overwrite: bool = False,
        **options: Any,
    ) -> RustProjectResult:
        """A crate of the staged kernel (see :meth:`Function.create_rust_project`)."""
        return self.function.create_rust_project(
            path, crate_name, function_name, config, overwrite, **options
        )


class BatchedFunction(StagedFunction):
    """``f`` applied to ``count`` packed blocks (see :func:`map_function`, :func:`zip_function`)."""

    @property
    def input_sequence_names(self) -> tuple[str, ...]:
        return self.input_names

    def jacobian(self, wrt_index: int = 0, name: str | None = None) -> BatchedJacobianFunction:
        """The Jacobian w.r.t. the packed input ``wrt_index``, staged: the Jacobian of a map is
        block diagonal, so ``<name>_jacobian_<input>`` (or ``name``) is a loop over the stage
        Jacobians with one output per output of the stage, ``count`` row-major blocks packed one
        after the other (block ``k`` is ``d out_k / d in_k``; every other entry is zero)."""
        n_in = len(self.kernel.inputs)
        if isinstance(wrt_index, bool) or not isinstance(wrt_index, int) or not 0 <= wrt_index < n_in:
            raise DifferentiationError(
                f"wrt_index must be an input index 0..{n_in - 1} of {self.name!r}, got {wrt_index!r}"
            )
        block = self.stage.jacobian(wrt_index)
        full = name if name is not None else f"{self.name}_jacobian_{self.input_names[wrt_index]}"
        jac = _batched(block, self.count, list(self.input_names), full, BatchedJacobianFunction)
        jac.batched, jac.wrt_index = self, wrt_index
        return jac

    def _derivative(self, kind: str, wrt: int) -> StagedFunction:
        if kind == "jacobian":
            return self.jacobian(wrt)
        return super()._derivative(kind, wrt)


_B = TypeVar("_B", bound=BatchedFunction)


class BatchedJacobianFunction(BatchedFunction):
    """The staged Jacobian of a :class:`BatchedFunction` (what its ``jacobian`` returns):
    ``batched`` is that function and ``wrt_index`` the packed input it is taken w.r.t."""

    batched: BatchedFunction
    wrt_index: int


class ReducedFunction(StagedFunction):
    """A left fold ``acc = f(acc, x_k)`` over ``count`` packed blocks (see :func:`reduce_function`)."""

    #: whether the adjoint sweeps (:meth:`gradient`, :meth:`vjp`, the Jacobian w.r.t. the
    #: blocks) record the stage tape the reversed loop reads (faster) or store the states only
    #: and evaluate each stage again in the reversed loop (less workspace)
    stage_tape = True

    def with_stage_tape(self, enabled: bool = True) -> ReducedFunction:
        """This fold with its derivatives' stage tape on (the default) or off: with the tape,
        the forward loop stores what the reversed loop reads of each stage (see
        :meth:`_sweep`), so no transcendental op of a stage is evaluated twice; without it, the
        workspace holds only the ``count`` accumulator states and the reversed loop evaluates
        each stage again."""
        if not isinstance(enabled, bool):
            raise GradgenTypeError(f"with_stage_tape takes True or False, got {enabled!r}")
        fold = ReducedFunction(self.kernel, self.stage, self.count)
        fold.stage_tape = enabled
        return fold

    @property
    def accumulator_input_name(self) -> str:
        return self.input_names[0]

    @property
    def input_name(self) -> str:
        return self.input_names[1]

    @property
    def output_name(self) -> str:
        return self.output_names[0]

    def _wrt(self, wrt_index: object) -> int:
        if isinstance(wrt_index, bool) or wrt_index not in (0, 1):
            raise DifferentiationError(f"wrt_index must be 0 or 1 for {self.name!r}, got {wrt_index!r}")
        assert isinstance(wrt_index, int)
        return wrt_index

    def gradient(self, wrt_index: int = 0) -> StagedFunction:
        """The gradient of a scalar fold w.r.t. the initial accumulator (``0``) or the packed
        blocks (``1``), by an adjoint sweep: one forward loop storing the ``count`` stage
        states in the workspace, then one reversed loop calling the stage's vector-Jacobian
        product with the adjoint carried from stage to stage. Output ``grad_<input>``."""
        wrt_index = self._wrt(wrt_index)
        acc = self.stage.kernel.inputs[0]
        if acc.size != 1:
            raise DifferentiationError(
                f"the gradient of {self.name!r} needs a scalar accumulator; "
                f"{acc.name!r} has {acc.size} elements (use jacobian or vjp)"
            )
        seed = Function("seed", [SX.sym("a")], [1.0], ["a"], ["one"])
        wrt = self.kernel.inputs[wrt_index]
        step = Call(seed.kernel, 1, (Ref("in", 0),), (Ref("tmp", 0),))
        port = Port(f"grad_{wrt.name}", wrt.size, wrt.scalar)
        name = f"{self.name}_gradient_{wrt.name}"
        return self._adjoint_sweep(wrt_index, name, self.kernel.inputs, port, step, Ref("tmp", 0))

    def vjp(self, wrt_index: int = 0, name: str | None = None) -> StagedFunction:
        """The vector-Jacobian product ``w^T d acc_N / d <input>`` w.r.t. the initial
        accumulator (``0``) or the packed blocks (``1``) for a cotangent ``w`` given at run
        time: ``<name>_vjp_<input>`` with inputs ``(<acc>0, <x>_seq, cotangent_<output>)`` and
        output ``vjp_<input>``, the adjoint sweep of :meth:`gradient` seeded with ``w``."""
        wrt_index = self._wrt(wrt_index)
        out, wrt = self.kernel.outputs[0], self.kernel.inputs[wrt_index]
        cotangent = Port(f"cotangent_{out.name}", out.size, out.scalar)
        _distinct(self.name, [p.name for p in (*self.kernel.inputs, cotangent)])
        ports = (*self.kernel.inputs, cotangent)
        port = Port(f"vjp_{wrt.name}", wrt.size, wrt.scalar)
        full = name if name is not None else f"{self.name}_vjp_{wrt.name}"
        return self._adjoint_sweep(
            wrt_index, _check_name("a kernel name", full), ports, port, None, Ref("in", 2)
        )

    def _adjoint_sweep(
        self,
        wrt_index: int,
        name: str,
        ports: Sequence[Port],
        out_port: Port,
        seed: Call | None,
        init: Ref,
    ) -> StagedFunction:
        """One forward loop, ``seed`` (writing the initial adjoint), then one reversed loop
        calling the stage VJP with the adjoint (initially ``init``) carried (:meth:`_sweep`)."""
        x = self.stage.kernel.inputs[1]
        vjp = self.stage.vjp(wrt_index=(0, 1) if wrt_index == 1 else 0)  # (acc, x, lam) -> ..
        blocks = [(out_port.name, Ref("out", 0, 0, x.size))] if wrt_index == 1 else []
        final = Ref("out", 0) if wrt_index == 0 else None
        temps = [1] if seed is not None else []  # the seed's, tmp 0
        forward, back = self._sweep(vjp.kernel, blocks, temps, init, final)
        steps = (forward, *(() if seed is None else (seed,)), back)
        kernel = Kernel(name, tuple(ports), (out_port,), [], [], [], [[]], steps=steps, temps=tuple(temps))
        return StagedFunction(kernel, self.stage, self.count)

    def _sweep(
        self,
        back: Kernel,
        blocks: Sequence[tuple[str, Ref]],
        temps: list[int],
        init: Ref,
        final: Ref | None = None,
    ) -> tuple[Call, Call]:
        """The two loops of an adjoint sweep whose reversed step ``back`` maps ``(acc, x, lam)``
        to ``lam_prev`` (carried from stage to stage, from ``init`` to ``final``) and to the
        stage's ``blocks`` of the output (``(label, slice of stage k)``).
        With the stage tape (the default, :meth:`with_stage_tape`), ``back`` is split at
        ``lam`` (:mod:`gradgen.taping`): the forward loop stores what the reversed loop reads
        of each stage (its tape, and the states when recomputing from them is cheaper), so no
        expensive op of a stage runs twice, and the tape's last values wait in the ``blocks``;
        without it, the forward loop stores the states and the reversed loop evaluates
        ``back`` on them. ``temps`` (the sizes of the caller's temporaries) gains the
        sweep's; ``init`` is written before the reversed loop runs."""
        k = self.stage.kernel
        acc, x = k.inputs
        n = self.count

        def temp(size: int) -> Ref:
            temps.append(n * size)
            return Ref("tmp", len(temps) - 1, 0, size)

        split = split_tape(back, [2], [1]) if self.stage_tape else None
        tape = place_tape(split, blocks, temp)
        keep_acc = tape is None or 0 in tape.split.kept
        states = temp(acc.size) if keep_acc else None

        rollout = rollout_kernel(k, tape, keep_acc)
        written = ((states,) if states is not None else ()) + (tape.refs if tape is not None else ())
        bound = {0: states, 1: Ref("in", 1, 0, x.size), 2: None}
        order, inputs = tape.bind(bound) if tape is not None else ([0, 1, 2], (states, bound[1], None))
        return (
            Call(rollout, n, (None, Ref("in", 1, 0, x.size)), (None, *written), (Carry(0, 0, Ref("in", 0)),)),
            Call(
                tape.reverse() if tape is not None else back,
                n,
                inputs,
                (None, *(ref for _, ref in blocks)),
                (Carry(order.index(2), 0, init, final),),
                reverse=True,
            ),
        )

    def jacobian(self, wrt_index: int = 0, name: str | None = None) -> StagedFunction:
        """The Jacobian of the final accumulator w.r.t. the initial accumulator (``0``) or the
        packed blocks (``1``), for an accumulator of any size ``m``, as loops:
        ``<name>_jacobian_<input>`` with the row-major output ``jacobian_<output>_<input>``
        (``m`` rows; ``m * count * nx`` entries w.r.t. the blocks, every one structurally
        present). W.r.t. the accumulator: one forward loop carrying the state and the ``m x m``
        product of the stage Jacobians (one JVP per column). W.r.t. the blocks: one forward loop
        storing the states, then one reversed loop carrying ``M = d acc_N / d acc_k`` (``m x
        m``, starting at the identity; one VJP per row gives ``M A_k`` and ``M B_k``) and
        writing the block column of stage ``k``. The workspace is ``count * m`` states plus
        ``O(m^2)``."""
        wrt_index = self._wrt(wrt_index)
        k = self.stage.kernel
        acc, x = k.inputs
        na, nx, n = acc.size, x.size, self.count
        out, wrt = self.kernel.outputs[0], self.kernel.inputs[wrt_index]
        port = Port(f"jacobian_{out.name}_{wrt.name}", na * wrt.size)
        full = _check_name("a kernel name", name if name is not None else f"{self.name}_jacobian_{wrt.name}")

        def eye(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            return [[b.const(1.0 if i == j else 0.0) for i in range(na) for j in range(na)]]

        eye_k = build_kernel(f"{self.name}_identity", (Port("a", na),), (Port("eye", na * na),), eye)
        steps: tuple[Call, ...]
        if wrt_index == 0:
            jvp = self.stage.jvp(wrt_index=0)  # (acc, x, tangent_acc) -> d acc_next

            def forward(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
                a, phi, xk = ins
                nxt = unroll(b, k, [a, xk])[0]
                cols = [unroll(b, jvp.kernel, [a, xk, phi[j::na]])[0] for j in range(na)]
                return [nxt, [cols[j][i] for i in range(na) for j in range(na)]]

            stage_ports = (acc, Port("phi", na * na), x)
            stage_outs = (Port("acc_next", na), Port("phi_next", na * na))
            stage = build_kernel(f"{self.name}_tangent_stage", stage_ports, stage_outs, forward)
            steps = (
                Call(eye_k, 1, (Ref("in", 0),), (Ref("tmp", 0),)),
                Call(
                    stage,
                    n,
                    (None, None, Ref("in", 1, 0, nx)),
                    (None, None),
                    (Carry(0, 0, Ref("in", 0)), Carry(1, 1, Ref("tmp", 0), Ref("out", 0))),
                ),
            )
            temps: list[int] = [na * na]
        else:
            vjp = self.stage.vjp(wrt_index=(0, 1))  # (acc, x, cotangent) -> (w A_k, w B_k)

            def backward(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
                a, xk, m = ins
                rows = [unroll(b, vjp.kernel, [a, xk, m[i * na : (i + 1) * na]]) for i in range(na)]
                return [[v for row in rows for v in row[0]], *(row[1] for row in rows)]

            back_ports = (acc, x, Port("m", na * na))
            back_outs = (Port("m_prev", na * na), *(Port(f"row_{i}", nx) for i in range(na)))
            back = build_kernel(f"{self.name}_adjoint_rows", back_ports, back_outs, backward)
            rows = [(f"row_{i}", Ref("out", 0, i * n * nx, nx)) for i in range(na)]
            temps = [na * na]  # the identity's, tmp 0
            rollout, back_loop = self._sweep(back, rows, temps, Ref("tmp", 0))
            steps = (rollout, Call(eye_k, 1, (Ref("in", 0),), (Ref("tmp", 0),)), back_loop)
        kernel = Kernel(full, self.kernel.inputs, (port,), [], [], [], [[]], steps=steps, temps=tuple(temps))
        return StagedFunction(kernel, self.stage, n)

    def _derivative(self, kind: str, wrt: int) -> StagedFunction:
        if kind == "gradient":
            return self.gradient(wrt)
        if kind == "jacobian":
            return self.jacobian(wrt)
        if kind == "vjp":
            return self.vjp(wrt)
        return super()._derivative(kind, wrt)


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
    return _batched(stage, n, in_names, name if name is not None else f"{f.name}_zip", BatchedFunction)


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
    full = name if name is not None else f"{f.name}_map"
    return _batched(stage, n, [_check_name("input_name", in_name)], full, BatchedFunction)


def _batched(stage: Function, n: int, in_names: list[str], name: str, kind: type[_B]) -> _B:
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
    return kind(kernel, stage, n)


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
