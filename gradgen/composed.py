"""``ComposedFunction``: a state passed through stages ``x <- G(x, p_k)``, kept as loops down
to Rust.

``ComposedFunction(name, x).then(G, p=...).repeat(G, params=[p1, ..., pK]).finish()`` describes
the stages; the finished composition has two inputs, the initial state and one packed parameter
vector holding the symbolic parameters of every stage (one slot per distinct symbol name, in
order of first appearance: symbols with one name share a slot), and one output, the final state.

It lowers to one staged kernel (:mod:`ir.staged`): adjacent stages of one stage function whose
parameter blocks sit at evenly spaced offsets (consecutive blocks, or one shared block) form a
single loop carrying the state, so ``repeat`` over ``K`` blocks is one loop whatever ``K``.
Numeric parameters and blocks that are not one contiguous slice of the packed input are copied
once into a parameter table at the start. The Jacobian with respect to the initial state is an
adjoint sweep: one forward rollout, then one reversed loop per run calling the stage's
vector-Jacobian products with the adjoint carried. The rollout records each stage's tape
(:mod:`gradgen.taping`: what the reversed step reads of the stage's forward values, and the
state when recomputing from it is cheaper), so no transcendental op of a stage runs twice;
:meth:`ComposedFunction.with_stage_tape` ``(False)`` stores the states alone (workspace
``K * nx``) and evaluates each stage again in the reversed loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from gradgen.errors import DifferentiationError, FunctionDefinitionError, GradgenTypeError
from gradgen.ir.expr import SX
from gradgen.ir.kernel import Kernel, KernelBuilder, Port, build_kernel
from gradgen.ir.staged import Call, Carry, Ref, unroll, unrolled
from gradgen.ir.tape import TapeSplit, split_tape
from gradgen.passes.staged_forward import drop_outputs, tangent_kernel
from gradgen.taping import place_tape, rollout_kernel

from .function import Function
from .function_ports import _input_block
from .staged import Parts, StagedFunction, _check_name, register_staged_joint
from .vector import SXVector

if TYPE_CHECKING:  # pragma: no cover
    from gradgen.backends.rust_module import RustGenerationResult
    from gradgen.config import RustBackendConfig

    from .codegen import RustProjectResult

#: one element of a stage's parameter block: a symbol's name (a slot of the packed input) or a number
_Entry = str | float


@attrs.frozen
class _Stage:
    """One stage: ``function`` applied to the state with the parameter block ``params``
    (empty for a stage function of the state alone)."""

    function: Function
    params: tuple[_Entry, ...]


@attrs.frozen
class _Run:
    """Stages ``first .. first+count-1``, all of one stage function, whose parameter blocks are
    ``buffer[index][offset + k*stride ...]`` (``buffer`` is ``None`` without parameters)."""

    function: Function
    first: int
    count: int
    buffer: str | None
    index: int
    offset: int
    stride: int

    def param_ref(self) -> Ref | None:
        if self.buffer is None:
            return None
        return Ref(self.buffer, self.index, self.offset, self.stride if self.count > 1 else 0)


class ComposedFunction:
    """A staged composition of state transforms (see the module docstring).

    ``then``, ``chain``, ``repeat`` and ``finish`` return new compositions; the finished one is
    callable like a :class:`Function` (``comp(x0, parameters)``), with :meth:`to_function`,
    :meth:`jacobian`, :meth:`gradient`, :meth:`joint`, :meth:`generate_rust` and
    :meth:`create_rust_project`, and is accepted by ``CodeGenerationBuilder.for_function``."""

    def __init__(
        self,
        name: str,
        state_input: SX | SXVector | Sequence[SX],
        input_name: str | None = None,
        parameter_name: str = "parameters",
        simplification: str | int | None = None,
    ) -> None:
        self.name = _check_name("a composition name", name)
        symbols, scalar, default = _input_block(0, state_input)
        if not symbols:
            raise FunctionDefinitionError(f"composition {name!r}: the state must have at least one element")
        self.state_symbols: tuple[SX, ...] = tuple(symbols)
        self.state_scalar = scalar
        self.input_name = _check_name("input_name", input_name if input_name is not None else default or "x0")
        self.parameter_name = _check_name("parameter_name", parameter_name)
        if self.parameter_name == self.input_name:
            raise FunctionDefinitionError(
                f"composition {name!r}: the state and the parameters are both named {self.input_name!r}"
            )
        self.simplification = simplification
        #: whether the adjoint sweeps record each stage's tape (see :meth:`with_stage_tape`)
        self.stage_tape = True
        self.steps: tuple[_Stage, ...] = ()
        self.finished = False
        self._lowered: _Lowered | None = None

    # ---- definition ------------------------------------------------------------------------------
    @property
    def state_size(self) -> int:
        return len(self.state_symbols)

    def _extended(self, stages: Sequence[_Stage], finished: bool = False) -> ComposedFunction:
        if self.finished:
            raise FunctionDefinitionError(f"composition {self.name!r} is already finished")
        new = ComposedFunction.__new__(ComposedFunction)
        new.__dict__.update(self.__dict__)
        new.steps = (*self.steps, *stages)
        new.finished = finished
        new._lowered = None
        return new

    def _stage(self, function: object, p: object, where: str) -> _Stage:
        if not isinstance(function, Function):
            raise GradgenTypeError(
                f"{where}: a stage must be a gradgen Function, got {type(function).__name__}"
            )
        k = function.kernel
        nx = self.state_size
        if len(k.inputs) not in (1, 2):
            raise FunctionDefinitionError(
                f"{where}: stage {function.name!r} must take (state) or (state, parameters); "
                f"it takes {len(k.inputs)} inputs"
            )
        if k.inputs[0].size != nx:
            raise FunctionDefinitionError(
                f"{where}: stage {function.name!r} takes a state of {k.inputs[0].size} element(s); "
                f"the state of {self.name!r} has {nx}"
            )
        if len(k.outputs) != 1 or k.outputs[0].size != nx:
            raise FunctionDefinitionError(
                f"{where}: stage {function.name!r} must return one state of {nx} element(s); it returns "
                f"{[o.size for o in k.outputs]}"
            )
        if len(k.inputs) == 1:
            if p is not None:
                raise FunctionDefinitionError(
                    f"{where}: stage {function.name!r} takes no parameters, got p={p!r}"
                )
            return _Stage(function, ())
        if p is None:
            raise FunctionDefinitionError(
                f"{where}: stage {function.name!r} takes parameters {k.inputs[1].name!r}; "
                "give them (numbers or symbols) with p="
            )
        return _Stage(function, self._entries(function, p, k.inputs[1].size, where))

    def _entries(self, function: Function, p: object, size: int, where: str) -> tuple[_Entry, ...]:
        items: list[Any] = [p] if isinstance(p, (SX, int, float)) else _as_list(p, where)
        if len(items) != size:
            raise FunctionDefinitionError(
                f"{where}: stage {function.name!r} takes {size} parameter(s), got {len(items)}"
            )
        state_names = {s.name for s in self.state_symbols}
        out: list[_Entry] = []
        for v in items:
            if isinstance(v, SX):
                if not v.is_symbol:
                    raise FunctionDefinitionError(
                        f"{where}: a stage parameter must be a symbol or a number, got the expression {v!r}"
                    )
                if v.name in state_names:
                    raise FunctionDefinitionError(
                        f"{where}: parameter symbol {v.name!r} is also a state symbol of {self.name!r}"
                    )
                out.append(str(v.name))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(float(v))
            else:
                raise GradgenTypeError(
                    f"{where}: a stage parameter must be a symbol or a number, got {type(v).__name__}"
                )
        return tuple(out)

    def then(self, function: Function, p: object = None) -> ComposedFunction:
        """Append the stage ``x <- function(x, p)`` (``p``: numbers or symbols; ``None`` for a
        stage function of the state alone)."""
        return self._extended([self._stage(function, p, "then")])

    def chain(self, stages: Iterable[tuple[Function, object] | Function]) -> ComposedFunction:
        """Append the stages ``[(G1, p1), (G2, p2), ...]`` (a bare ``G`` for a stage without
        parameters); identical adjacent stages become one loop."""
        items = _as_list(stages, "chain")
        out = []
        for i, item in enumerate(items):
            if isinstance(item, Function):
                out.append(self._stage(item, None, f"chain item {i}"))
                continue
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise GradgenTypeError(f"chain item {i} must be a (function, parameters) pair, got {item!r}")
            out.append(self._stage(item[0], item[1], f"chain item {i}"))
        if not out:
            raise FunctionDefinitionError("chain needs at least one stage")
        return self._extended(out)

    def repeat(self, function: Function, params: Iterable[object]) -> ComposedFunction:
        """Append ``function`` once per parameter block of ``params`` (``K >= 1`` blocks)."""
        blocks = _as_list(params, "repeat")
        if not blocks:
            raise FunctionDefinitionError("repeat needs at least one parameter block (K >= 1)")
        return self._extended([self._stage(function, p, f"repeat block {k}") for k, p in enumerate(blocks)])

    def finish(self) -> ComposedFunction:
        """The finished composition (its stages can no longer be extended)."""
        if not self.steps and not self.finished:
            raise FunctionDefinitionError(
                f"composition {self.name!r} needs at least one stage before finish()"
            )
        finished = self._extended([], finished=True)
        finished._lowered = _lower(finished)
        return finished

    def with_stage_tape(self, enabled: bool = True) -> ComposedFunction:
        """This composition with its adjoint sweeps' stage tape on (the default) or off. With
        the tape, the forward rollout stores what each stage's reversed step reads of it, so no
        transcendental op of a stage is evaluated twice; without it, the workspace holds only
        the ``K`` states and the reversed loop evaluates each stage again from its state."""
        if not isinstance(enabled, bool):
            raise GradgenTypeError(f"with_stage_tape takes True or False, got {enabled!r}")
        new = ComposedFunction.__new__(ComposedFunction)
        new.__dict__.update(self.__dict__)
        new.stage_tape = enabled
        return new

    # ---- the finished composition --------------------------------------------------------------------
    def _require(self) -> _Lowered:
        if self._lowered is None:
            raise FunctionDefinitionError(f"composition {self.name!r} is not finished; call finish() first")
        return self._lowered

    @property
    def stage_count(self) -> int:
        return len(self.steps)

    @property
    def parameter_size(self) -> int:
        return len(self._require().slots)

    @property
    def primal(self) -> StagedFunction:
        """The staged primal (inputs ``(<state>, <parameters>)``, output the final state)."""
        return self._require().primal

    @property
    def function(self) -> Function:
        """The Function of the staged primal kernel (what the code generators read)."""
        return self.primal.function

    @property
    def kernel(self) -> Kernel:
        return self.primal.kernel

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.primal.input_names

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.primal.output_names

    @property
    def input_sizes(self) -> tuple[int, ...]:
        return self.primal.input_sizes

    @property
    def output_sizes(self) -> tuple[int, ...]:
        return self.primal.output_sizes

    def __call__(self, *args: Any, **named: Any) -> Any:
        """The final state (evaluated stage by stage with the generated Rust's IEEE rules)."""
        return self.primal.function(*args, **named)

    def __repr__(self) -> str:
        state = "finished" if self.finished else "open"
        return f"ComposedFunction({self.name!r}, {len(self.steps)} stages, {state})"

    def to_function(self, name: str | None = None) -> Function:
        """The unrolled :class:`Function` (in the state symbols and the parameter symbols, one
        per slot); its size grows with the number of stages."""
        low = self._require()
        kernel = unrolled(low.primal.kernel)
        if name is not None:
            kernel = kernel.with_annotations(name=_check_name("a function name", name))
        return Function.from_kernel(kernel, low.input_symbols(self))

    def jacobian(self, name: str | int | None = None, *, wrt_index: int = 0) -> ComposedJacobianFunction:
        """The Jacobian of the final state with respect to the initial state (row-major
        ``nx * nx``, output ``jacobian_<out>``), by an adjoint sweep. ``jacobian("n")`` names it
        (gradgen 0.5.2's spelling); ``jacobian(0)`` is ``jacobian(wrt_index=0)``."""
        name, wrt_index = _name_or_index(name, wrt_index)
        _state_only(self.name, wrt_index)
        kernel = _adjoint_kernel(self, name or f"{self.name}_jacobian_{self.input_name}", with_primal=False)
        return ComposedJacobianFunction(kernel, self)

    def gradient(self, name: str | None = None) -> ComposedGradientFunction:
        """The derivative of the final state with respect to the initial state (the gradient
        when the state is a scalar; the Jacobian, row-major, otherwise), by an adjoint sweep."""
        kernel = _adjoint_kernel(self, name or f"{self.name}_gradient_{self.input_name}", with_primal=False)
        return ComposedGradientFunction(kernel, self)

    def joint(
        self, components: Iterable[str], wrt_index: int = 0, name: str | None = None
    ) -> ComposedJointFunction:
        """One kernel with the outputs ``components`` among ``"f"`` (the final state) and
        ``"jf"`` (its Jacobian w.r.t. the initial state), in that order, sharing one rollout."""
        _state_only(self.name, wrt_index)
        comps = _as_list(components, "joint components")
        if not comps or any(c not in ("f", "jf") for c in comps) or len(set(comps)) != len(comps):
            raise DifferentiationError(
                f"the joint kernel of composition {self.name!r} takes distinct components among 'f' "
                f"and 'jf', got {comps!r}"
            )
        with_primal = "f" in comps
        label = "_".join(c for c in ("f", "jf") if c in comps)
        full = name or f"{self.name}_joint_{label}_{self.input_name}"
        return ComposedJointFunction(_adjoint_kernel(self, full, with_primal=with_primal), self)

    def hvp(self, name: str | None = None, tangent_name: str | None = None) -> StagedFunction:
        """For a scalar state: the second derivative of the final state w.r.t. the initial
        state times the direction ``v_<state>`` (or ``tangent_name``), output ``hvp_<state>``,
        forward over adjoint (the tangent of the staged :meth:`gradient`)."""
        if self.state_size != 1:
            raise DifferentiationError(
                f"the hvp of composition {self.name!r} needs a scalar state (a scalar final value); "
                f"its state has {self.state_size} elements"
            )
        low = self._require()
        direction = _check_name("tangent_name", tangent_name or f"v_{self.input_name}")
        if direction in (p.name for p in low.ports):
            raise DifferentiationError(f"the direction name {direction!r} is an input name of {self.name!r}")
        grad = _adjoint_kernel(self, "gradient", with_primal=False)
        hvp = drop_outputs(tangent_kernel(grad, [0]), [1])
        hvp = attrs.evolve(
            hvp,
            name=name or f"{self.name}_hvp_{self.input_name}",
            inputs=(*low.ports, Port(direction, 1, self.state_scalar)),
            outputs=(Port(f"hvp_{self.input_name}", 1, self.state_scalar),),
        )
        return _ComposedDerivative(hvp, self)

    def _joint_of_parts(self, parts: Parts) -> Kernel:
        """The builder's ``add_joint(FunctionBundle().add_f().add_jf(wrt=0))``: :meth:`joint`."""
        if any(a not in ("f", "jf") or (a == "jf" and wrt != (0,)) for a, wrt in parts):
            raise DifferentiationError(
                f"the staged joint kernel of composition {self.name!r} takes f and jf w.r.t. its "
                f"state (input 0), got {list(parts)}"
            )
        return self.joint([artifact for artifact, _ in parts]).kernel

    def derivative(self, kind: str, wrt: int) -> StagedFunction:
        """``jacobian``, ``gradient`` or ``hvp`` w.r.t. the initial state, for the builder."""
        if wrt == 0 and kind == "jacobian":
            return self.jacobian()
        if wrt == 0 and kind == "gradient":
            return self.gradient()
        if wrt == 0 and kind == "hvp":
            return self.hvp()
        raise DifferentiationError(
            f"composition {self.name!r} offers the staged jacobian, gradient and hvp w.r.t. its "
            f"state (input 0), not the {kind} w.r.t. input {wrt}"
        )

    def vjp(self, name: str | None = None) -> StagedFunction:
        """``c^T d y / d x0`` for a runtime cotangent ``c`` of the final state (the appended input
        ``cotangent_<out>``; output ``vjp_<state>``), by the same adjoint sweep with a vector
        adjoint: what a pipeline's staged gradient calls for a composed stage."""
        kernel = _adjoint_kernel(self, name or f"{self.name}_vjp_{self.input_name}", False, vjp=True)
        return _ComposedDerivative(kernel, self)

    def generate_rust(self, config: RustBackendConfig | None = None, **options: Any) -> RustGenerationResult:
        """The staged primal's Rust module (the keyword options of :meth:`Function.generate_rust`:
        ``function_name``, ``backend_mode``, ``scalar_type``)."""
        return self.primal.generate_rust(config, **options)

    def create_rust_project(
        self,
        path: str | os.PathLike[str],
        crate_name: str | None = None,
        function_name: str | None = None,
        config: RustBackendConfig | None = None,
        overwrite: bool = False,
        **options: Any,
    ) -> RustProjectResult:
        """A crate of the staged primal (see :meth:`Function.create_rust_project`)."""
        return self.primal.create_rust_project(path, crate_name, function_name, config, overwrite, **options)


class _ComposedDerivative(StagedFunction):
    """A staged derivative kernel of a :class:`ComposedFunction` (``composed``)."""

    def __init__(self, kernel: Kernel, composed: ComposedFunction) -> None:
        super().__init__(kernel, composed.steps[0].function, len(composed.steps))
        self.composed = composed

    def to_function(self, name: str | None = None) -> Function:
        kernel = unrolled(self.kernel)
        if name is not None:
            kernel = kernel.with_annotations(name=_check_name("a function name", name))
        blocks = self.composed._require().input_symbols(self.composed)
        if len(blocks) != len(kernel.inputs):  # an appended cotangent: fresh symbols for all
            return Function.from_kernel(kernel)
        return Function.from_kernel(kernel, blocks)


class ComposedJacobianFunction(_ComposedDerivative):
    """The staged Jacobian of a composition w.r.t. its initial state."""


class ComposedGradientFunction(_ComposedDerivative):
    """The staged derivative of a composition w.r.t. its initial state (``gradient()``)."""


class ComposedJointFunction(_ComposedDerivative):
    """The final state and its Jacobian w.r.t. the initial state, from one rollout."""


# ---- lowering ------------------------------------------------------------------------------------
def _as_list(items: object, what: str) -> list[Any]:
    if isinstance(items, (str, bytes, SX)) or not isinstance(items, Iterable):
        raise GradgenTypeError(f"{what} must be a list, got {type(items).__name__}")
    if isinstance(items, (set, frozenset, dict)):
        raise GradgenTypeError(f"{what} must be a list in your order, not a {type(items).__name__}")
    return list(items)


def _name_or_index(name: str | int | None, wrt_index: int) -> tuple[str | None, int]:
    """A first positional argument that is an input index rather than a name."""
    if isinstance(name, str) or name is None:
        return name, wrt_index
    return None, name  # an index, checked by the caller


def _state_only(name: str, wrt_index: object) -> None:
    if wrt_index != 0 or isinstance(wrt_index, bool):
        raise DifferentiationError(
            f"composition {name!r} offers staged derivatives w.r.t. its initial state (wrt_index 0), "
            f"got wrt_index={wrt_index!r}; differentiate to_function() for the parameters"
        )


@attrs.frozen
class _Lowered:
    """A finished composition's slots, runs, parameter table and staged primal."""

    slots: tuple[str, ...]
    runs: tuple[_Run, ...]
    table: tuple[_Entry, ...]
    ports: tuple[Port, ...]
    out_port: Port
    primal: StagedFunction
    #: the helper kernels of the derivative kernels, made once per stage function (the runs'
    #: functions are kept alive by ``runs``, so their ids stay valid)
    helpers: dict[tuple[object, ...], Kernel] = attrs.field(factory=dict, eq=False)
    #: each stage function's reversed step split at its adjoint (``None`` without the tape)
    splits: dict[tuple[object, ...], TapeSplit | None] = attrs.field(factory=dict, eq=False)

    def input_symbols(self, comp: ComposedFunction) -> list[list[SX]]:
        blocks = [list(comp.state_symbols)]
        if self.slots:
            blocks.append([SX.sym(n) for n in self.slots])
        return blocks


#: the indices of the temporaries of a lowered composition: the parameter table and the two
#: state buffers of the forward carry (then, in an adjoint kernel: the identity seed, the two
#: adjoint buffers, and each run's stored states and tape)
_TABLE, _XA, _XB, _SEED, _LA, _LB = range(6)


def _lower(comp: ComposedFunction) -> _Lowered:
    slots: dict[str, int] = {}
    for stage in comp.steps:
        for e in stage.params:
            if isinstance(e, str) and e not in slots:
                slots[e] = len(slots)
    level = comp.simplification
    simplified: dict[int, Function] = {}

    def stage_function(f: Function) -> Function:
        if level is None:
            return f
        if id(f) not in simplified:
            simplified[id(f)] = f.simplify(level)
        return simplified[id(f)]

    # each stage's parameter source: a contiguous slice of the packed input, or the table
    table: list[_Entry] = []
    sources: list[tuple[str | None, int, int]] = []
    for stage in comp.steps:
        ps = stage.params
        if not ps:
            sources.append((None, 0, 0))
            continue
        names = [slots[e] if isinstance(e, str) else -1 for e in ps]
        if names[0] >= 0 and names == list(range(names[0], names[0] + len(ps))):
            sources.append(("in", 1, names[0]))
        else:
            sources.append(("tmp", _TABLE, len(table)))
            table.extend(ps)
    runs: list[_Run] = []
    for s, (stage, (buffer, index, offset)) in enumerate(zip(comp.steps, sources, strict=True)):
        f = stage_function(stage.function)
        if runs:
            last = runs[-1]
            same = last.function is f and last.buffer == buffer and last.index == index
            if same and buffer is None:
                runs[-1] = attrs.evolve(last, count=last.count + 1)
                continue
            if same:
                size = len(stage.params)
                stride = offset - last.offset if last.count == 1 else last.stride
                if stride in (0, size) and offset == last.offset + last.count * stride:
                    runs[-1] = attrs.evolve(last, count=last.count + 1, stride=stride)
                    continue
        runs.append(_Run(f, s, 1, buffer, index, offset, 0))
    nx = comp.state_size
    ports = [Port(comp.input_name, nx, comp.state_scalar)]
    if slots:
        ports.append(Port(comp.parameter_name, len(slots)))
    out_name = comp.steps[-1].function.kernel.outputs[0].name
    if out_name in (p.name for p in ports):
        out_name = f"{out_name}_final"
    out_port = Port(out_name, nx, comp.state_scalar)
    low = _Lowered(tuple(slots), tuple(runs), tuple(table), tuple(ports), out_port, None)  # type: ignore[arg-type]
    primal = StagedFunction(
        _primal_kernel(comp, low), comp.steps[0].function, len(comp.steps), comp.derivative
    )
    register_staged_joint(primal.function, comp._joint_of_parts)
    return attrs.evolve(low, primal=primal)


def _table_call(low: _Lowered, ports: Sequence[Port]) -> list[Call]:
    """The call filling the parameter table (numbers and gathered slots), if there is one."""
    if not low.table:
        return []

    def body(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
        index = {n: i for i, n in enumerate(low.slots)}
        return [[b.input(1, index[e]) if isinstance(e, str) else b.const(e) for e in low.table]]

    k = build_kernel("parameter_table", ports, (Port("table", len(low.table)),), body)
    return [Call(k, 1, tuple(Ref("in", i) for i in range(len(ports))), (Ref("tmp", _TABLE),))]


def _staged_kernel(
    name: str, ports: Sequence[Port], outs: Sequence[Port], steps: list[Call], temps: list[int]
) -> Kernel:
    # a temporary nobody uses still needs a size of at least 1
    return Kernel(
        name,
        tuple(ports),
        tuple(outs),
        [],
        [],
        [],
        [[] for _ in outs],
        steps=tuple(steps),
        temps=tuple(max(1, t) for t in temps),
    )


def _carry_temps(low: _Lowered, size: int) -> list[int]:
    """The sizes of the parameter table and of the two buffers a state of ``size`` elements
    alternates between from run to run (a buffer no run boundary uses gets one element)."""
    n = len(low.runs)
    return [len(low.table), size if n > 1 else 1, size if n > 2 else 1]


def _forward(low: _Lowered, final: Ref | None, stages: Sequence[_Sweep] | None = None) -> list[Call]:
    """The forward pass over every run, the state carried from ``in0`` to ``final``, alternating
    between the two state buffers between runs (with ``stages``, one per run, each run calls
    its sweep's rollout, which also writes the run's stored states and tape)."""
    calls = []
    init = Ref("in", 0)
    for r, run in enumerate(low.runs):
        last = r == len(low.runs) - 1
        to = final if last else Ref("tmp", _XA if r % 2 == 0 else _XB)
        callee, written = (stages[r].rollout, stages[r].written) if stages else (run.function.kernel, ())
        ins: tuple[Ref | None, ...] = (None,) if run.buffer is None else (None, run.param_ref())
        calls.append(Call(callee, run.count, ins, (None, *written), (Carry(0, 0, init, to),)))
        if to is not None:
            init = to
    return calls


def _primal_kernel(comp: ComposedFunction, low: _Lowered) -> Kernel:
    steps = _table_call(low, low.ports) + _forward(low, Ref("out", 0))
    return _staged_kernel(comp.name, low.ports, [low.out_port], steps, _carry_temps(low, comp.state_size))


@attrs.frozen
class _Sweep:
    """One run's part of an adjoint sweep: the ``rollout`` it calls in the forward pass (the
    stage, also writing the slices ``written``: the stored states and the tape), and the
    reversed step ``back`` with its ``inputs`` (the adjoint, carried, at ``lam``)."""

    rollout: Kernel
    written: tuple[Ref, ...]
    back: Kernel
    inputs: tuple[Ref | None, ...]
    lam: int


def _sweep(low: _Lowered, run: _Run, vjp: bool, taped: bool, temps: list[int]) -> _Sweep:
    """``run``'s rollout and reversed step (see :class:`_Sweep`); its stored states and tape are
    new temporaries appended to ``temps``. With ``taped``, the reversed step is split at the
    adjoint (:mod:`gradgen.taping`): the rollout records the forward values it reads, and the
    state only when the reversed step still reads it."""
    f = run.function
    back = _vjp_step(low, f) if vjp else _adjoint_step(low, f)
    has_p = run.buffer is not None
    lam = 2 if has_p else 1
    # a block shared by every stage of the loop: values of it alone are hoisted, not taped
    invariant = has_p and run.count > 1 and run.stride == 0
    kind = ("vjp" if vjp else "adjoint", id(f), taped, invariant)
    if kind not in low.splits:
        p = [1] if has_p else []
        low.splits[kind] = split_tape(back, [lam], p, p if invariant else []) if taped else None
    split = low.splits[kind]

    def slot(size: int) -> Ref:
        temps.append(run.count * size)
        return Ref("tmp", len(temps) - 1, 0, size if run.count > 1 else 0)

    tape = place_tape(split, (), slot)
    keep = tape is None or 0 in tape.split.kept
    nx = f.kernel.inputs[0].size
    states = slot(nx) if keep else None
    rollout = low.helpers.get(("rollout", *kind))
    if rollout is None:
        rollout = low.helpers[("rollout", *kind)] = rollout_kernel(f.kernel, tape, keep)
    written = ((states,) if states is not None else ()) + (tape.refs if tape is not None else ())
    bound = {0: states, lam: None} | ({1: run.param_ref()} if has_p else {})
    if tape is None:
        return _Sweep(rollout, written, back, tuple(bound[i] for i in range(lam + 1)), lam)
    order, inputs = tape.bind(bound)
    return _Sweep(rollout, written, tape.reverse(), inputs, order.index(lam))


def _adjoint_step(low: _Lowered, f: Function) -> Kernel:
    """``(x, [p,] lam) -> lam J_x``: one vector-Jacobian product of the stage per row of the
    ``nx * nx`` adjoint ``lam`` (the primal part is shared between the rows)."""
    key = ("adjoint", id(f))
    if key in low.helpers:
        return low.helpers[key]
    k = f.kernel
    nx = k.inputs[0].size
    vjp = f.vjp(wrt_index=0).kernel  # (x, [p,] cotangent) -> vjp_x
    ports = (*k.inputs, Port("lam", nx * nx))

    def body(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
        lam = ins[-1]
        rows: list[int] = []
        for i in range(nx):
            rows += unroll(b, vjp, [*ins[:-1], lam[i * nx : (i + 1) * nx]])[0]
        return [rows]

    adj = build_kernel(f"{k.name}_adjoint", ports, (Port("lam_prev", nx * nx),), body)
    low.helpers[key] = adj
    return adj


def _adjoint_kernel(comp: ComposedFunction, name: str, with_primal: bool, vjp: bool = False) -> Kernel:
    """The forward rollout storing each stage's tape or state (:func:`_sweep`), the seed, then
    one reversed loop per run (last run first) carrying the adjoint down to stage 0. Without
    ``vjp``, the adjoint is the ``nx * nx`` matrix ``d x_K / d x_k`` seeded with the identity
    (the Jacobian); with ``vjp``, it is the vector ``c^T d x_K / d x_k`` seeded with a runtime
    cotangent ``c`` (an appended input)."""
    low = comp._require()
    nx = comp.state_size
    out_name = low.out_port.name
    if vjp:
        ports = (*low.ports, Port(f"cotangent_{out_name}", nx, comp.state_scalar))
        result = Port(f"vjp_{comp.input_name}", nx, comp.state_scalar)
        lam_size = nx
    else:
        ports = low.ports
        result = Port(f"jacobian_{out_name}", nx * nx, comp.state_scalar)
        lam_size = nx * nx
    outs = [low.out_port, result] if with_primal else [result]
    final = Ref("out", 0) if with_primal else None
    temps = [*_carry_temps(low, nx), 1 if vjp else nx * nx, *_carry_temps(low, lam_size)[1:]]
    sweeps = [_sweep(low, run, vjp, comp.stage_tape, temps) for run in low.runs]
    steps = _table_call(low, low.ports) + _forward(low, final, sweeps)
    if vjp:
        init = Ref("in", len(low.ports))
    else:

        def identity(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            return [[b.const(1.0 if i == j else 0.0) for i in range(nx) for j in range(nx)]]

        seed = build_kernel(f"{comp.name}_seed", low.ports[:1], (Port("eye", nx * nx),), identity)
        steps.append(Call(seed, 1, (Ref("in", 0),), (Ref("tmp", _SEED),)))
        init = Ref("tmp", _SEED)
    for r, sweep in enumerate(reversed(sweeps)):
        last = r == len(sweeps) - 1
        to = Ref("out", len(outs) - 1) if last else Ref("tmp", _LA if r % 2 == 0 else _LB)
        carry = Carry(sweep.lam, 0, init, to)
        steps.append(Call(sweep.back, low.runs[-1 - r].count, sweep.inputs, (None,), (carry,), reverse=True))
        init = to
    return _staged_kernel(name, ports, outs, steps, temps)


def _vjp_step(low: _Lowered, f: Function) -> Kernel:
    """``(x, [p,] cotangent) -> cotangent^T J_x``: the stage's vector-Jacobian product."""
    key = ("vjp", id(f))
    if key not in low.helpers:
        low.helpers[key] = f.vjp(wrt_index=0).kernel
    return low.helpers[key]
