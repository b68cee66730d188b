"""``SingleShootingProblem``: the total cost of an optimal control problem over a horizon, its
gradient by an adjoint sweep and its Hessian-vector product, kept as loops down to Rust.

With dynamics ``x_{k+1} = f(x_k, u_k, p)``, stage cost ``ell(x_k, u_k, p)`` and terminal cost
``Vf(x_N, p)``, the total cost is ``sum_k ell(x_k, u_k, p) + Vf(x_N, p)`` with inputs
``(x0, u_seq, p)`` (and the penalty weight ``c`` when it is a runtime symbol, see
:meth:`SingleShootingProblem.with_penalties`).

Every kernel of a problem is one staged kernel (:mod:`ir.staged`) assembled by one function,
:func:`_assemble`, from the outputs it is asked for (a :class:`SingleShootingBundle`):

1. one forward loop carrying the state (and the running cost, and with an HVP the state
   tangent), storing the states ``x_0 .. x_{N-1}`` when something needs them (the ``x_traj``
   output, or a reversed step that reads them) and, with a gradient or an HVP, each stage's
   tape (below);
2. one terminal call: the total cost, the terminal adjoint ``grad Vf`` and its tangent;
3. with a gradient or an HVP, one reversed loop calling the VJP of the stage Hamiltonian
   ``ell + lambda . f`` (and its JVP for the HVP) with the adjoint carried from stage to stage.
   That step is split at the adjoint (:func:`ir.tape.split_tape`): of the values it computes
   from the forward stage alone, the smallest set from which the rest is cheap to recompute
   (with the control and the parameters, free to read again) is the stage's tape, written by
   the forward loop (which shares them with its own stage by hash-consing) and read here, so
   no expensive op of a stage is computed twice. A value of the parameters alone is never
   taped: each loop computes it once, in a prologue before the loop (:mod:`ir.hoist`, applied
   to every staged kernel when it becomes a :class:`~gradgen.staged.StagedFunction`).

:meth:`~SingleShootingProblem.primal`, :meth:`~SingleShootingProblem.gradient`,
:meth:`~SingleShootingProblem.hvp` and :meth:`~SingleShootingProblem.joint` are that one
assembly with different bundles, so a joint kernel shares its one forward rollout between all
its outputs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import attrs

from gradgen.errors import ConfigError, DifferentiationError, FunctionDefinitionError, GradgenTypeError
from gradgen.ir.expr import SX
from gradgen.ir.kernel import Kernel, KernelBuilder, Port, build_kernel
from gradgen.ir.staged import Call, Carry, Ref, unroll
from gradgen.ir.tape import TapeSplit, split_tape
from gradgen.taping import place_tape

from .function import Function
from .staged import StagedFunction, _check_count, _check_name

#: the outputs a bundle can ask for, in the order a joint kernel returns them
_LABELS = ("cost", "gradient", "hvp", "states")
#: the builder's artifact name of each label (``add_joint``'s generated names use them)
_ARTIFACTS = {"cost": "f", "gradient": "grad", "hvp": "hvp", "states": "states"}


def _penalized(cost: Function, residual: Function, weight: float | None, n_par: int) -> Function:
    """``cost + c/2 ||residual||^2`` over the inputs of ``cost``, whose last input (the
    parameters) gains one element, ``c``, when ``weight`` is ``None`` (a runtime weight)."""
    k = cost.kernel
    ports = list(k.inputs)
    if weight is None:
        ports[-1] = Port(ports[-1].name, n_par + 1)

    def body(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
        args = [*ins[:-1], ins[-1][:n_par]]
        value = unroll(b, k, args)[0][0]
        r = unroll(b, residual.kernel, args)[0]
        squares = b.sum([b.mul(v, v) for v in r])
        half = b.const(0.5 * weight) if weight is not None else b.mul(b.const(0.5), ins[-1][n_par])
        return [[b.add(value, b.mul(half, squares))]]

    return Function.from_kernel(build_kernel(f"{k.name}_penalized", ports, k.outputs, body))


def _widened(f: Function, n_par: int) -> Function:
    """``f(x, u, p)`` taking the parameters with the runtime weight appended (and ignoring it)."""
    k = f.kernel
    ports = (*k.inputs[:-1], Port(k.inputs[-1].name, n_par + 1))

    def body(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
        return unroll(b, k, [*ins[:-1], ins[-1][:n_par]])

    return Function.from_kernel(build_kernel(k.name, ports, k.outputs, body))


class SingleShootingBundle:
    """The outputs of one joint single-shooting kernel (:meth:`SingleShootingProblem.joint`):
    ``add_cost()``, ``add_gradient()`` (w.r.t. the control sequence), ``add_hvp()`` (adds the
    direction input ``v_<u_seq>``) and ``add_rollout_states()`` (``x_traj``: ``x_0 .. x_N``
    packed). Each ``add_*`` returns a new bundle; the kernel returns the outputs in that fixed
    order (cost, gradient, HVP, states) whatever the order of the calls. A bundle needs the
    cost, the gradient or the HVP, and at least two outputs (one output is what ``primal``,
    ``gradient`` and ``hvp`` generate)."""

    __slots__ = ("include_cost", "include_gradient", "include_hvp", "include_states")

    def __init__(
        self,
        include_cost: bool = False,
        include_gradient: bool = False,
        include_hvp: bool = False,
        include_states: bool = False,
    ) -> None:
        flags = (include_cost, include_gradient, include_hvp, include_states)
        for label, flag in zip(_LABELS, flags, strict=True):
            if not isinstance(flag, bool):
                raise GradgenTypeError(
                    f"SingleShootingBundle's include_{label} must be True or False, got {flag!r}"
                )
        self.include_cost, self.include_gradient, self.include_hvp, self.include_states = flags

    def _with(self, label: str) -> SingleShootingBundle:
        flags = dict(zip(_LABELS, self._flags(), strict=True)) | {label: True}
        return SingleShootingBundle(*(flags[x] for x in _LABELS))

    def _flags(self) -> tuple[bool, bool, bool, bool]:
        return (self.include_cost, self.include_gradient, self.include_hvp, self.include_states)

    def add_cost(self) -> SingleShootingBundle:
        """Include the total cost (output ``cost``)."""
        return self._with("cost")

    def add_gradient(self) -> SingleShootingBundle:
        """Include the gradient w.r.t. the control sequence (output ``grad_<u_seq>``)."""
        return self._with("gradient")

    def add_hvp(self) -> SingleShootingBundle:
        """Include the Hessian-vector product w.r.t. the control sequence (direction input
        ``v_<u_seq>``, output ``hvp_<u_seq>``)."""
        return self._with("hvp")

    def add_rollout_states(self) -> SingleShootingBundle:
        """Include the states ``x_0 .. x_N`` packed (output ``x_traj``)."""
        return self._with("states")

    @property
    def labels(self) -> tuple[str, ...]:
        """The requested outputs among ``cost``, ``gradient``, ``hvp``, ``states``, in order."""
        return tuple(x for x, flag in zip(_LABELS, self._flags(), strict=True) if flag)

    def checked(self) -> tuple[str, ...]:
        """:attr:`labels`, refused (``ConfigError``) for a bundle that is not a joint kernel."""
        labels = self.labels
        if not set(labels) & {"cost", "gradient", "hvp"}:
            raise ConfigError(
                "the SingleShootingBundle asks for none of the cost, the gradient and the HVP; "
                "add at least one of add_cost(), add_gradient(), add_hvp()"
            )
        if len(labels) < 2:
            method = {"cost": "primal()", "gradient": "gradient()", "hvp": "hvp()"}[labels[0]]
            raise ConfigError(
                f"the SingleShootingBundle asks for the {labels[0]} alone; a joint kernel computes "
                f"at least two outputs: add another one, or use the problem's {method}"
            )
        return labels

    @classmethod
    def from_artifacts(cls, artifacts: Sequence[str]) -> SingleShootingBundle:
        """The bundle of the builder's artifact names (``f``, ``grad``, ``hvp``, ``states``)."""
        by_artifact = {a: label for label, a in _ARTIFACTS.items()}
        chosen = {by_artifact[a] for a in artifacts}
        return cls(*(label in chosen for label in _LABELS))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SingleShootingBundle) and self._flags() == other._flags()

    def __hash__(self) -> int:
        return hash(self._flags())

    def __repr__(self) -> str:
        calls = "".join(f".add_{'rollout_states' if x == 'states' else x}()" for x in self.labels)
        return f"SingleShootingBundle(){calls}"


class _ShootingFunction(StagedFunction):
    """A staged kernel of a :class:`SingleShootingProblem` (``problem`` is its source). The
    total cost alone (``cost_only``) is the problem's function: its staged derivatives and
    joint kernels are the problem's."""

    def __init__(
        self,
        kernel: Kernel,
        stage: Function,
        count: int,
        problem: SingleShootingProblem,
        cost_only: bool = False,
    ) -> None:
        if cost_only:
            super().__init__(kernel, stage, count, problem.derivative, problem._joint_of_artifacts)
        else:
            super().__init__(kernel, stage, count)
        self.problem = problem


class SingleShootingPrimalFunction(_ShootingFunction):
    """The total cost (and the states with ``include_states``): what ``primal()`` returns."""


class SingleShootingGradientFunction(_ShootingFunction):
    """The gradient w.r.t. the control sequence by an adjoint sweep: what ``gradient()`` returns."""


class SingleShootingHvpFunction(_ShootingFunction):
    """The Hessian-vector product w.r.t. the control sequence: what ``hvp()`` returns."""


class SingleShootingJointFunction(_ShootingFunction):
    """Several outputs from one rollout (what ``joint(bundle)`` returns); ``bundle`` is the
    :class:`SingleShootingBundle` it computes."""

    def __init__(
        self,
        kernel: Kernel,
        stage: Function,
        count: int,
        problem: SingleShootingProblem,
        bundle: SingleShootingBundle,
    ) -> None:
        super().__init__(kernel, stage, count, problem)
        self.bundle = bundle


@attrs.frozen
class _Stages:
    """The checked stage functions of a problem. With a runtime penalty weight, the parameter
    input of ``f``, ``ell`` and ``vf`` is ``p`` with ``c`` appended (``n_par + 1`` elements)."""

    n: int
    f: Function
    ell: Function
    vf: Function
    n_par: int
    runtime_weight: bool


class _Slots:
    """Port lists built by name: ``add`` returns the index of the new port."""

    def __init__(self) -> None:
        self.ports: list[Port] = []

    def add(self, name: str, size: int, scalar: bool = False) -> int:
        self.ports.append(Port(name, size, scalar))
        return len(self.ports) - 1


class SingleShootingProblem:
    """Builder of a single-shooting optimal control problem (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = _check_name("a problem name", name)
        self.horizon: int | None = None
        self.dynamics: Function | None = None
        self.stage_cost: Function | None = None
        self.terminal_cost: Function | None = None
        self.penalties: tuple[Function, Function, float | SX] | None = None
        self.names = ("x0", "u_seq", "p")
        self.simplification: str | int | None = None
        #: whether the rollout records the stage tape the reversed loop reads (faster) or the
        #: reversed loop recomputes the stage from the stored states (workspace N * nx)
        self.stage_tape = True

    # ---- definition (each ``with_*`` returns a new problem) -----------------------------------------
    def _with(self, **changes: Any) -> SingleShootingProblem:
        new = copy.copy(self)
        new.__dict__.update(changes)
        return new

    def with_horizon(self, horizon: int) -> SingleShootingProblem:
        return self._with(horizon=_check_count(horizon))

    def with_dynamics(self, dynamics: Function) -> SingleShootingProblem:
        """``dynamics(x, u, p) -> x_next``."""
        return self._with(dynamics=self._function(dynamics, "dynamics", 3))

    def with_costs(self, stage_cost: Function, terminal_cost: Function) -> SingleShootingProblem:
        """``stage_cost(x, u, p)`` and ``terminal_cost(x, p)``, each one scalar output."""
        return self._with(
            stage_cost=self._function(stage_cost, "stage cost", 3),
            terminal_cost=self._function(terminal_cost, "terminal cost", 2),
        )

    def with_penalties(
        self, stage_penalty: Function, terminal_penalty: Function, penalty_weight: float | SX
    ) -> SingleShootingProblem:
        """Add ``c/2 ||q(x_k, u_k, p)||^2`` to every stage cost and ``c/2 ||q_N(x_N, p)||^2`` to
        the terminal cost (``stage_penalty`` takes ``(x, u, p)``, ``terminal_penalty``
        ``(x, p)``, each with one output, the residual). ``penalty_weight`` ``c`` is a number
        (built into the code) or a scalar symbol such as ``SX.sym("c")``: then every kernel of
        the problem takes ``c`` at run time, as a scalar input named like the symbol, placed
        after the parameters (before the direction of an HVP)."""
        q = self._function(stage_penalty, "stage penalty", 3)
        qn = self._function(terminal_penalty, "terminal penalty", 2)
        weight: float | SX
        if isinstance(penalty_weight, SX):
            if not penalty_weight.is_symbol:
                raise GradgenTypeError(
                    f"penalty_weight must be a number or a scalar symbol (SX.sym), got the expression "
                    f"{penalty_weight}; make the expression a symbol's value at run time instead"
                )
            weight = penalty_weight
        elif isinstance(penalty_weight, bool) or not isinstance(penalty_weight, (int, float)):
            raise GradgenTypeError(
                f"penalty_weight must be a number or a scalar symbol (SX.sym), got "
                f"{type(penalty_weight).__name__}"
            )
        else:
            weight = float(penalty_weight)
        for fn in (q, qn):
            if len(fn.kernel.outputs) != 1:
                raise FunctionDefinitionError(f"the penalty {fn.name!r} must have one (residual) output")
        return self._with(penalties=(q, qn, weight))

    def with_input_names(
        self,
        initial_state_name: str | None = None,
        control_sequence_name: str | None = None,
        parameter_name: str | None = None,
    ) -> SingleShootingProblem:
        given = (initial_state_name, control_sequence_name, parameter_name)
        checked = [n if n is None else _check_name("an input name", n) for n in given]
        names = tuple(d if n is None else n for n, d in zip(checked, self.names, strict=True))
        if len(set(names)) != 3:
            raise FunctionDefinitionError(f"the input names {names} of {self.name!r} must differ")
        return self._with(names=names)

    def with_simplification(self, level: str | int) -> SingleShootingProblem:
        """Simplify the stage functions at ``level`` before staging them."""
        return self._with(simplification=level)

    def with_stage_tape(self, enabled: bool = True) -> SingleShootingProblem:
        """Whether the derivative kernels record the stage tape (the default: the reversed loop
        reads what the rollout computed, the workspace holds ``N`` tapes) or, with ``False``,
        recompute each stage in the reversed loop from the ``N`` stored states (the workspace
        holds ``N * nx`` values for the gradient, ``2 * N * nx`` for the HVP)."""
        if not isinstance(enabled, bool):
            raise GradgenTypeError(f"with_stage_tape takes True or False, got {enabled!r}")
        return self._with(stage_tape=enabled)

    @property
    def penalty_weight_name(self) -> str | None:
        """The name of the runtime penalty weight input (``None`` when ``c`` is a number)."""
        if self.penalties is not None and isinstance(self.penalties[2], SX):
            return self.penalties[2].name
        return None

    @property
    def has_runtime_penalty_weight(self) -> bool:
        return self.penalty_weight_name is not None

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs of the cost: ``(x0, u_seq, p)``, then the runtime penalty weight if any."""
        weight = self.penalty_weight_name
        return self.names if weight is None else (*self.names, weight)

    @staticmethod
    def _function(f: object, what: str, n_inputs: int) -> Function:
        if not isinstance(f, Function):
            raise GradgenTypeError(f"the {what} must be a gradgen Function, got {type(f).__name__}")
        if len(f.kernel.inputs) != n_inputs:
            raise FunctionDefinitionError(
                f"the {what} {f.name!r} must take {n_inputs} inputs, it takes {len(f.kernel.inputs)}"
            )
        return f

    def _checked(self) -> _Stages:
        if (
            self.horizon is None
            or self.dynamics is None
            or self.stage_cost is None
            or self.terminal_cost is None
        ):
            raise FunctionDefinitionError(
                f"problem {self.name!r} needs with_horizon, with_dynamics and with_costs first"
            )
        f, ell, vf = self.dynamics, self.stage_cost, self.terminal_cost
        nx, nu, npar = (p.size for p in f.kernel.inputs)
        if f.kernel.outputs[0].size != nx or len(f.kernel.outputs) != 1:
            raise FunctionDefinitionError(
                f"the dynamics {f.name!r} must return one state of {nx} elements, like its first input; "
                f"it returns {[p.size for p in f.kernel.outputs]}"
            )
        checks: list[tuple[Function, tuple[int, ...], str]] = [
            (ell, (nx, nu, npar), "cost"),
            (vf, (nx, npar), "cost"),
        ]
        if self.penalties is not None:
            checks += [
                (self.penalties[0], (nx, nu, npar), "penalty"),
                (self.penalties[1], (nx, npar), "penalty"),
            ]
        for fn, sizes, what in checks:
            got = tuple(p.size for p in fn.kernel.inputs)
            if got != sizes:
                raise FunctionDefinitionError(
                    f"the {what} {fn.name!r} takes inputs of sizes {got}; the dynamics need {sizes}"
                )
            if what == "cost" and [p.size for p in fn.kernel.outputs] != [1]:
                raise FunctionDefinitionError(f"the cost {fn.name!r} must have one scalar output")
        runtime = False
        if self.penalties is not None:
            q, qn, c = self.penalties
            runtime = isinstance(c, SX)
            weight = None if isinstance(c, SX) else c
            ell, vf = _penalized(ell, q, weight, npar), _penalized(vf, qn, weight, npar)
            if runtime:
                f = _widened(f, npar)
        level = self.simplification
        if level is not None:
            f, ell, vf = (fn.simplify(level) for fn in (f, ell, vf))
        return _Stages(self.horizon, f, ell, vf, npar, runtime)

    def _inputs(self, st: _Stages, hvp: bool) -> tuple[Port, ...]:
        """The ports ``(x0, u_seq, p[, c][, v_<u_seq>])``, their names checked distinct."""
        x, u, _ = st.f.kernel.inputs
        ports = [
            Port(self.names[0], x.size),
            Port(self.names[1], st.n * u.size),
            Port(self.names[2], st.n_par),
        ]
        weight = self.penalty_weight_name
        if weight is not None:
            ports.append(Port(weight, 1, True))
        if hvp:
            ports.append(Port(f"v_{self.names[1]}", st.n * u.size))
        names = [p.name for p in ports]
        for name in names:
            if names.count(name) > 1:
                raise FunctionDefinitionError(
                    f"problem {self.name!r}: the input name {name!r} is used twice (the penalty weight "
                    "symbol, the input names and the HVP direction v_<controls> must differ)"
                )
        return tuple(ports)

    # ---- the one assembly of every kernel -----------------------------------------------------------
    def _assemble(self, labels: Sequence[str], name: str) -> tuple[Kernel, _Stages]:
        """The staged kernel computing the outputs ``labels`` (see the module docstring)."""
        st = self._checked()
        n, f, ell, vf = st.n, st.f, st.ell, st.vf
        x, u, par = f.kernel.inputs
        nx, nu = x.size, u.size
        want = set(labels)
        cost, grad, hvp, states = ("cost" in want, "gradient" in want, "hvp" in want, "states" in want)
        adjoint = grad or hvp
        ports = self._inputs(st, hvp)
        direction = len(ports) - 1 if hvp else -1
        control = ports[1].name
        outs = _Slots()
        o_cost = outs.add("cost", 1, True) if cost else -1
        o_grad = outs.add(f"grad_{control}", n * nu) if grad else -1
        o_hvp = outs.add(f"hvp_{control}", n * nu) if hvp else -1
        o_traj = outs.add("x_traj", (n + 1) * nx) if states else -1
        temps: list[int] = []

        def tmp(size: int) -> Ref:
            temps.append(size)
            return Ref("tmp", len(temps) - 1)

        steps: list[Call] = []
        p_ref = Ref("in", 2)
        if st.runtime_weight:  # the stage functions read the parameters with c appended
            p_ref = tmp(st.n_par + 1)

            def pack(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
                return [ins[0] + ins[1]]

            pack_k = build_kernel(
                f"{self.name}_parameters",
                ports[2:4],
                (Port(f"{ports[2].name}_{ports[3].name}", par.size),),
                pack,
            )
            steps.append(Call(pack_k, 1, (Ref("in", 2), Ref("in", 3)), (p_ref,)))

        # the initial running cost and state tangent
        run0 = tmp(1) if cost else None
        dx0 = tmp(nx) if hvp else None
        if cost or hvp:
            zero_outs = [Port("cost", 1, True)] if cost else []
            zero_outs += [Port("dx", nx)] if hvp else []

            def zeros(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
                return [[b.const(0.0)] * p.size for p in zero_outs]

            zero_k = build_kernel(f"{self.name}_zero", (Port("x", nx),), zero_outs, zeros)
            zero_refs = tuple(r for r in (run0, dx0) if r is not None)
            steps.append(Call(zero_k, 1, (Ref("in", 0),), zero_refs))

        # the reversed loop's stage (the VJP of the stage Hamiltonian, with the HVP its JVP),
        # split at the adjoint: what it computes from the forward stage alone is written by the
        # rollout to a tape of N blocks, the reversed loop reads it instead of recomputing it
        split: TapeSplit | None = None
        if adjoint:
            adj = self._adjoint(f, ell)  # (x, u, p, lam) -> (H_x, H_u)
            adj_jvp = adj.jvp(wrt_index=[0, 1, 3]) if hvp else None  # (.., dx, du, dlam) -> dH
            bin_, bout = _Slots(), _Slots()
            b_x, b_dx = bin_.add("x", nx), (bin_.add("dx", nx) if hvp else -1)
            b_u, b_du = bin_.add("u", nu), (bin_.add("du", nu) if hvp else -1)
            b_p, b_lam = bin_.add("p", par.size), bin_.add("lam", nx)
            b_dlam = bin_.add("dlam", nx) if hvp else -1
            bout.add("lam_prev", nx)
            k_dlam = bout.add("dlam_prev", nx) if hvp else -1
            k_grad = bout.add("grad_u", nu) if grad else -1
            k_hvp = bout.add("hvp_u", nu) if hvp else -1

            def backward(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
                xk, uk, pk, lam = ins[b_x], ins[b_u], ins[b_p], ins[b_lam]
                h_x, h_u = unroll(b, adj.kernel, [xk, uk, pk, lam])
                res = [h_x]
                if adj_jvp is not None:
                    args = [xk, uk, pk, lam, ins[b_dx], ins[b_du], ins[b_dlam]]
                    dh_x, dh_u = unroll(b, adj_jvp.kernel, args)
                    res.append(dh_x)
                if grad:
                    res.append(h_u)
                if adj_jvp is not None:
                    res.append(dh_u)
                return res

            back_name = f"{self.name}_adjoint_tangent" if hvp else f"{self.name}_adjoint"
            joint_k = build_kernel(back_name, bin_.ports, bout.ports, backward)
            late = [b_lam] + ([b_dlam] if hvp else [])
            # free to re-read in the reversed loop: the control, its direction, the parameters
            # (inputs of the whole kernel), and the state when x_traj stores it anyway
            free = [b_u, b_p] + ([b_du] if hvp else []) + ([b_x] if states else [])
            # the parameters are the same at every stage: what they alone give is hoisted out of
            # the loops (``ir.hoist``), never taped
            split = split_tape(joint_k, late, free, [b_p]) if self.stage_tape else None
            if split is not None and not split.tape_size:
                split = None

        # 1. the forward rollout
        reads_x = adjoint and (split is None or b_x in split.kept)
        reads_dx = hvp and (split is None or b_dx in split.kept)
        stored = reads_x or states  # the states x_0 .. x_{N-1}: in x_traj when it is an output
        x_store: Ref | None = None
        if states:
            x_store, x_final = Ref("out", o_traj, 0, nx), Ref("out", o_traj, n * nx)
        else:
            x_store = Ref("tmp", tmp(n * nx).index, 0, nx) if reads_x else None
            x_final = tmp(nx)
        dx_store = Ref("tmp", tmp(n * nx).index, 0, nx) if reads_dx else None
        # the tape's last values wait in the stage's block of the gradient and of the HVP
        lenders = [(label, Ref("out", o, 0, nu)) for label, o in (("grad", o_grad), ("hvp", o_hvp)) if o >= 0]
        tape = place_tape(split, lenders, lambda size: Ref("tmp", tmp(n * size).index, 0, size))
        run_final = tmp(1) if cost else None
        dx_final = tmp(nx) if hvp else None
        f_jvp = f.jvp(wrt_index=[0, 1]) if hvp else None  # (x, u, p, dx, du) -> dx_next
        fin, fout = _Slots(), _Slots()
        i_x, i_run = fin.add("x", nx), (fin.add("cost", 1, True) if cost else -1)
        i_dx = fin.add("dx", nx) if hvp else -1
        i_u, i_du = fin.add("u", nu), (fin.add("du", nu) if hvp else -1)
        i_p = fin.add("p", par.size)
        fout.add("x_next", nx)
        j_run = fout.add("cost_next", 1, True) if cost else -1
        j_dx = fout.add("dx_next", nx) if hvp else -1
        j_x = fout.add("x_now", nx) if stored else -1
        j_dxs = fout.add("dx_now", nx) if reads_dx else -1
        j_tape = [fout.add(port.name, port.size) for port in tape.parts] if tape is not None else []

        def forward(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            xk, uk, pk = ins[i_x], ins[i_u], ins[i_p]
            res = [unroll(b, f.kernel, [xk, uk, pk])[0]]
            if cost:
                res.append([b.add(ins[i_run][0], unroll(b, ell.kernel, [xk, uk, pk])[0][0])])
            if f_jvp is not None:
                res.append(unroll(b, f_jvp.kernel, [xk, uk, pk, ins[i_dx], ins[i_du]])[0])
            if stored:
                res.append(xk)
            if reads_dx:
                res.append(ins[i_dx])
            if tape is not None:
                res += tape.write(b, [xk, ins[i_dx], uk, ins[i_du], pk] if hvp else [xk, uk, pk])
            return res

        roll_name = "tangent_rollout" if hvp else "rollout" if stored or split is not None else "stage"
        roll_k = build_kernel(f"{self.name}_{roll_name}", fin.ports, fout.ports, forward)
        f_inputs: list[Ref | None] = [None] * len(fin.ports)
        f_inputs[i_u] = Ref("in", 1, 0, nu)
        f_inputs[i_p] = p_ref
        if hvp:
            f_inputs[i_du] = Ref("in", direction, 0, nu)
        f_outputs: list[Ref | None] = [None] * len(fout.ports)
        if stored:
            f_outputs[j_x] = x_store
        if reads_dx:
            f_outputs[j_dxs] = dx_store
        for j, ref in zip(j_tape, tape.refs if tape is not None else (), strict=True):
            f_outputs[j] = ref
        carries = [Carry(i_x, 0, Ref("in", 0), x_final)]
        if cost:
            assert run0 is not None
            carries.append(Carry(i_run, j_run, run0, run_final))
        if hvp:
            assert dx0 is not None
            carries.append(Carry(i_dx, j_dx, dx0, dx_final))
        steps.append(Call(roll_k, n, tuple(f_inputs), tuple(f_outputs), tuple(carries)))

        # 2. the terminal call: total cost, terminal adjoint and its tangent
        tin, tout = _Slots(), _Slots()
        t_x = tin.add("x", nx)
        t_run = tin.add("cost", 1, True) if cost else -1
        t_dx = tin.add("dx", nx) if hvp else -1
        t_p = tin.add("p", par.size)
        if cost:
            tout.add("total", 1, True)
        if adjoint:
            tout.add("lam", nx)
        if hvp:
            tout.add("dlam", nx)
        v_grad = vf.gradient(0) if adjoint else None  # (x, p) -> g
        v_hvp = vf.hvp(0) if hvp else None  # (x, p, v_x) -> Hv

        def terminal(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            xn, pk = ins[t_x], ins[t_p]
            res = []
            if cost:
                res.append([b.add(ins[t_run][0], unroll(b, vf.kernel, [xn, pk])[0][0])])
            if v_grad is not None:
                res.append(unroll(b, v_grad.kernel, [xn, pk])[0])
            if v_hvp is not None:
                res.append(unroll(b, v_hvp.kernel, [xn, pk, ins[t_dx]])[0])
            return res

        term_k = build_kernel(f"{self.name}_terminal", tin.ports, tout.ports, terminal)
        t_inputs: list[Ref | None] = [x_final]
        if cost:
            t_inputs.append(run_final)
        if hvp:
            t_inputs.append(dx_final)
        t_inputs.append(p_ref)
        lam_n = tmp(nx) if adjoint else None
        dlam_n = tmp(nx) if hvp else None
        t_outputs = [Ref("out", o_cost)] if cost else []
        t_outputs += [r for r in (lam_n, dlam_n) if r is not None]
        steps.append(Call(term_k, 1, tuple(t_inputs), tuple(t_outputs)))

        # 3. the reversed adjoint loop
        if adjoint:
            assert lam_n is not None
            bound: dict[int, Ref | None] = {b_u: Ref("in", 1, 0, nu), b_p: p_ref, b_lam: None}
            bound[b_x] = x_store
            if hvp:
                bound.update({b_dx: dx_store, b_du: Ref("in", direction, 0, nu), b_dlam: None})
            if tape is None:
                back_k, order = joint_k, list(range(len(bin_.ports)))
                b_inputs = tuple(bound[i] for i in order)
            else:
                back_k = tape.reverse()
                order, b_inputs = tape.bind(bound)
            b_outputs: list[Ref | None] = [None] * len(bout.ports)
            if grad:
                b_outputs[k_grad] = Ref("out", o_grad, 0, nu)
            if hvp:
                b_outputs[k_hvp] = Ref("out", o_hvp, 0, nu)
            b_carries = [Carry(order.index(b_lam), 0, lam_n)]
            if hvp:
                assert dlam_n is not None
                b_carries.append(Carry(order.index(b_dlam), k_dlam, dlam_n))
            steps.append(Call(back_k, n, b_inputs, tuple(b_outputs), tuple(b_carries), reverse=True))

        kernel = Kernel(
            name,
            ports,
            tuple(outs.ports),
            [],
            [],
            [],
            [[] for _ in outs.ports],
            steps=tuple(steps),
            temps=tuple(temps),
        )
        return kernel, st

    def _adjoint(self, f: Function, ell: Function) -> Function:
        """``(x, u, p, lam) -> (H_x, H_u)``: the gradient of the stage Hamiltonian
        ``ell + lam . f`` w.r.t. the state and the control."""
        x, u, p = f.kernel.inputs
        nx = x.size

        def hamiltonian(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            nxt = unroll(b, f.kernel, ins[:3])[0]
            cost = unroll(b, ell.kernel, ins[:3])[0][0]
            return [[b.sum([cost, *(b.mul(lam, v) for lam, v in zip(ins[3], nxt, strict=True))])]]

        ports = (Port("x", nx), Port("u", u.size), Port("p", p.size), Port("lam", nx))
        ham = build_kernel(f"{self.name}_hamiltonian", ports, (Port("h", 1, True),), hamiltonian)
        return Function.from_kernel(ham).vjp(cotangent=[1.0], wrt_index=[0, 1])

    # ---- staged kernels ----------------------------------------------------------------------------
    def primal(self, include_states: bool = False, name: str | None = None) -> SingleShootingPrimalFunction:
        """``<name>`` with output ``cost`` (with ``include_states``, ``<name>_with_states``
        with a second output ``x_traj``: ``x_0 .. x_N`` packed): one forward loop carrying the
        state and the running cost."""
        labels = ("cost", "states") if _flag(include_states, "include_states") else ("cost",)
        default = f"{self.name}_with_states" if include_states else self.name
        kernel, st = self._assemble(labels, _named(name, default))
        return SingleShootingPrimalFunction(kernel, st.f, st.n, self, cost_only=labels == ("cost",))

    def gradient(
        self, include_states: bool = False, name: str | None = None
    ) -> SingleShootingGradientFunction:
        """``<name>_gradient`` with output ``grad_<u_seq>`` (and ``x_traj`` with
        ``include_states``): the gradient of the total cost w.r.t. the control sequence by an
        adjoint sweep (forward rollout storing the stage tapes, terminal gradient, reversed loop
        over the stage Hamiltonian's VJP)."""
        labels = ("gradient", "states") if _flag(include_states, "include_states") else ("gradient",)
        kernel, st = self._assemble(labels, _named(name, f"{self.name}_gradient"))
        return SingleShootingGradientFunction(kernel, st.f, st.n, self)

    def hvp(self, include_states: bool = False, name: str | None = None) -> SingleShootingHvpFunction:
        """``<name>_hvp`` with the inputs of the cost plus ``v_<u_seq>`` and output
        ``hvp_<u_seq>`` (and ``x_traj`` with ``include_states``): the Hessian of the total cost
        w.r.t. ``u_seq`` times ``v``, forward over adjoint: one forward loop carrying the state
        and its tangent (the JVP of the dynamics) and storing the stage tapes, the terminal
        gradient and Hessian-vector product, then one reversed loop calling the JVP of the
        adjoint step with the adjoint and its tangent carried."""
        labels = ("hvp", "states") if _flag(include_states, "include_states") else ("hvp",)
        kernel, st = self._assemble(labels, _named(name, f"{self.name}_hvp"))
        return SingleShootingHvpFunction(kernel, st.f, st.n, self)

    def joint(self, bundle: SingleShootingBundle, name: str | None = None) -> SingleShootingJointFunction:
        """One staged kernel computing every output of ``bundle`` from one forward rollout
        (outputs in the order cost, ``grad_<u_seq>``, ``hvp_<u_seq>``, ``x_traj``; inputs those
        of the cost plus ``v_<u_seq>`` when the HVP is asked for). The name defaults to
        ``<name>_<labels>`` (``cost``, ``gradient_<u_seq>``, ``hvp_<u_seq>``, ``states``)."""
        if not isinstance(bundle, SingleShootingBundle):
            raise GradgenTypeError(f"joint expects a SingleShootingBundle, got {type(bundle).__name__}")
        labels = bundle.checked()
        control = self.names[1]
        words = [{"gradient": f"gradient_{control}", "hvp": f"hvp_{control}"}.get(x, x) for x in labels]
        kernel, st = self._assemble(labels, _named(name, "_".join([self.name, *words])))
        return SingleShootingJointFunction(kernel, st.f, st.n, self, bundle)

    def derivative(self, kind: str, wrt: int) -> StagedFunction:
        """``gradient`` or ``hvp`` w.r.t. the control sequence (input 1), for the builder."""
        if wrt == 1 and kind == "gradient":
            return self.gradient()
        if wrt == 1 and kind == "hvp":
            return self.hvp()
        raise DifferentiationError(
            f"problem {self.name!r} offers the staged gradient and hvp w.r.t. the control sequence "
            f"(wrt 1), not the {kind} w.r.t. input {wrt}"
        )

    def _joint_of_artifacts(self, artifacts: Sequence[str]) -> StagedFunction:
        """The joint kernel of the builder's artifact names (``add_joint``)."""
        return self.joint(SingleShootingBundle.from_artifacts(artifacts))

    def builder_artifacts(self, bundle: object) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The builder's ``(artifact, blocks)`` pairs of ``bundle`` (checked): the cost is
        ``f``, the gradient ``grad`` and the HVP ``hvp`` w.r.t. the control sequence (input
        1), the states ``states``."""
        if not isinstance(bundle, SingleShootingBundle):
            raise GradgenTypeError(
                f"add_joint of the problem {self.name!r} expects a SingleShootingBundle, "
                f"got {type(bundle).__name__}"
            )
        labels = bundle.checked()
        self._checked()
        return tuple((_ARTIFACTS[x], (1,) if x in ("gradient", "hvp") else ()) for x in labels)

    @property
    def function(self) -> Function:
        """The Function of the staged total cost (what the builder generates)."""
        return self.primal().function

    # ---- conveniences ------------------------------------------------------------------------------
    def __call__(self, *args: object, **named: object) -> float:
        """The total cost of ``(x0, u_seq, p[, c])``, given positionally or by input name (the
        primal, evaluated stage by stage)."""
        value = self.primal()(*args, **named)
        assert isinstance(value, float)
        return value

    def to_function(self, name: str | None = None) -> Function:
        """The unrolled total cost (its size grows with the horizon; for checking)."""
        return self.primal().to_function(name)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise GradgenTypeError(f"{what} must be True or False, got {value!r}")
    return value


def _named(name: str | None, default: str) -> str:
    return default if name is None else _check_name("a kernel name", name)
