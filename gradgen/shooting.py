"""``SingleShootingProblem``: the total cost of an optimal control problem over a horizon, its
gradient by an adjoint sweep, both kept as loops down to Rust.

With dynamics ``x_{k+1} = f(x_k, u_k, p)``, stage cost ``ell(x_k, u_k, p)`` and terminal cost
``Vf(x_N, p)``, the total cost is ``sum_k ell(x_k, u_k, p) + Vf(x_N, p)`` with inputs
``(x0, u_seq, p)``. :meth:`SingleShootingProblem.primal` is one forward loop carrying the state
and the running cost; :meth:`SingleShootingProblem.gradient` (w.r.t. ``u_seq``) is one forward
loop storing the states (workspace ``N * nx``), the terminal gradient, then one reversed loop
calling the VJP of the stage Hamiltonian ``ell + lambda . f`` with the adjoint ``lambda``
carried from stage to stage. Both are staged kernels (:mod:`ir.staged`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from gradgen.errors import DifferentiationError, FunctionDefinitionError, GradgenTypeError
from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.staged import Call, Carry, Ref, unroll

from .function import Function
from .staged import StagedFunction, _check_count, _check_name


def _kernel(name: str, ports: Sequence[Port], outs: Sequence[Port], body: object) -> Kernel:
    """A straight-line kernel over ``ports`` whose outputs ``body(builder, inputs)`` returns."""
    b = KernelBuilder()
    ins = [[b.input(p, j) for j in range(port.size)] for p, port in enumerate(ports)]
    results = body(b, ins)  # type: ignore[operator]
    return b.finish(name, ports, outs, results)


def _penalized(cost: Function, residual: Function, weight: float) -> Function:
    """``cost + weight/2 ||residual||^2`` (both over the same inputs)."""
    k = cost.kernel

    def body(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
        value = unroll(b, k, ins)[0][0]
        r = unroll(b, residual.kernel, ins)[0]
        squares = b.sum([b.mul(v, v) for v in r])
        return [[b.add(value, b.mul(b.const(0.5 * weight), squares))]]

    return Function.from_kernel(_kernel(f"{k.name}_penalized", k.inputs, k.outputs, body))


class SingleShootingProblem:
    """Builder of a single-shooting optimal control problem (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = _check_name("a problem name", name)
        self.horizon: int | None = None
        self.dynamics: Function | None = None
        self.stage_cost: Function | None = None
        self.terminal_cost: Function | None = None
        self.penalties: tuple[Function, Function, float] | None = None
        self.names = ("x0", "u_seq", "p")
        self.simplification: str | int | None = None

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
        self, stage_penalty: Function, terminal_penalty: Function, penalty_weight: float
    ) -> SingleShootingProblem:
        """Add ``c/2 ||q(x_k, u_k, p)||^2`` to every stage cost and ``c/2 ||q_N(x_N, p)||^2`` to
        the terminal cost (``stage_penalty`` takes ``(x, u, p)``, ``terminal_penalty``
        ``(x, p)``, each with one output, the residual); ``penalty_weight`` ``c`` is a number."""
        q = self._function(stage_penalty, "stage penalty", 3)
        qn = self._function(terminal_penalty, "terminal penalty", 2)
        if isinstance(penalty_weight, bool) or not isinstance(penalty_weight, (int, float)):
            raise GradgenTypeError(
                f"penalty_weight must be a number, got {type(penalty_weight).__name__} "
                "(a runtime weight is not supported by the staged problem)"
            )
        for fn in (q, qn):
            if len(fn.kernel.outputs) != 1:
                raise FunctionDefinitionError(f"the penalty {fn.name!r} must have one (residual) output")
        return self._with(penalties=(q, qn, float(penalty_weight)))

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

    @staticmethod
    def _function(f: object, what: str, n_inputs: int) -> Function:
        if not isinstance(f, Function):
            raise GradgenTypeError(f"the {what} must be a gradgen Function, got {type(f).__name__}")
        if len(f.kernel.inputs) != n_inputs:
            raise FunctionDefinitionError(
                f"the {what} {f.name!r} must take {n_inputs} inputs, it takes {len(f.kernel.inputs)}"
            )
        return f

    def _checked(self) -> tuple[int, Function, Function, Function]:
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
        if self.penalties is not None:
            q, qn, c = self.penalties
            ell, vf = _penalized(ell, q, c), _penalized(vf, qn, c)
        level = self.simplification
        if level is not None:
            f, ell, vf = (fn.simplify(level) for fn in (f, ell, vf))
        return self.horizon, f, ell, vf

    def _ports(self, n: int, f: Function) -> tuple[Port, Port, Port]:
        x, u, p = f.kernel.inputs
        return (Port(self.names[0], x.size), Port(self.names[1], n * u.size), Port(self.names[2], p.size))

    # ---- staged kernels ----------------------------------------------------------------------------
    def primal(self, include_states: bool = False) -> StagedFunction:
        """``<name>`` with output ``cost`` (and ``x_traj``: ``x_0 .. x_N`` packed, with
        ``include_states``): one forward loop carrying the state and the running cost."""
        n, f, ell, vf = self._checked()
        x, u, p = f.kernel.inputs
        nx = x.size
        state, run = Port("x", nx), Port("cost", 1, True)
        stage_ports = (state, run, Port("u", u.size), Port("p", p.size))
        stage_outs = [Port("x_next", nx), Port("cost_next", 1, True)]
        if include_states:
            stage_outs.append(Port("x_now", nx))

        def stage(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            nxt = unroll(b, f.kernel, [ins[0], ins[2], ins[3]])[0]
            cost = unroll(b, ell.kernel, [ins[0], ins[2], ins[3]])[0]
            out = [nxt, [b.add(ins[1][0], cost[0])]]
            return [*out, ins[0]] if include_states else out

        def terminal(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            cost = unroll(b, vf.kernel, [ins[0], ins[2]])[0]
            return [[b.add(ins[1][0], cost[0])]]

        def zero(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            return [[b.const(0.0)]]

        stage_k = _kernel(f"{self.name}_stage", stage_ports, stage_outs, stage)
        total = Port("total", 1, True)
        term_k = _kernel(f"{self.name}_terminal", (state, run, Port("p", p.size)), (total,), terminal)
        zero_k = _kernel(f"{self.name}_zero", (Port("p", p.size),), (run,), zero)
        outs = [Port("cost", 1, True)]
        stage_refs: list[Ref | None] = [None, None]
        final_x = Ref("tmp", 0)
        if include_states:
            outs.append(Port("x_traj", (n + 1) * nx))
            stage_refs.append(Ref("out", 1, 0, nx))
            final_x = Ref("out", 1, n * nx)
        steps = (
            Call(zero_k, 1, (Ref("in", 2),), (Ref("tmp", 1),)),
            Call(
                stage_k,
                n,
                (None, None, Ref("in", 1, 0, u.size), Ref("in", 2)),
                tuple(stage_refs),
                (Carry(0, 0, Ref("in", 0), final_x), Carry(1, 1, Ref("tmp", 1), Ref("tmp", 2))),
            ),
            Call(term_k, 1, (final_x, Ref("tmp", 2), Ref("in", 2)), (Ref("out", 0),)),
        )
        derive = None if include_states else self.derivative
        kernel = Kernel(
            self.name,
            self._ports(n, f),
            tuple(outs),
            [],
            [],
            [],
            [[] for _ in outs],
            steps=steps,
            temps=(nx, 1, 1),
        )
        return StagedFunction(kernel, f, n, derive)

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
        ham = _kernel(f"{self.name}_hamiltonian", ports, (Port("h", 1, True),), hamiltonian)
        return Function.from_kernel(ham).vjp(cotangent=[1.0], wrt_index=[0, 1])

    def gradient(self) -> StagedFunction:
        """``<name>_gradient`` with output ``grad_<u_seq>``: the gradient of the total cost
        w.r.t. the control sequence by an adjoint sweep (forward rollout storing the states,
        terminal gradient, reversed loop over the stage Hamiltonian's VJP)."""
        n, f, ell, vf = self._checked()
        x, u, p = f.kernel.inputs
        nx, nu = x.size, u.size
        ports3 = (Port("x", nx), Port("u", nu), Port("p", p.size))

        def rollout(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            return [unroll(b, f.kernel, ins)[0], ins[0]]

        roll_k = _kernel(f"{self.name}_rollout", ports3, (Port("x_next", nx), Port("x_now", nx)), rollout)
        adjoint = self._adjoint(f, ell)
        term = vf.gradient(0)
        steps = (
            Call(
                roll_k,
                n,
                (None, Ref("in", 1, 0, nu), Ref("in", 2)),
                (None, Ref("tmp", 0, 0, nx)),
                (Carry(0, 0, Ref("in", 0), Ref("tmp", 1)),),
            ),
            Call(term.kernel, 1, (Ref("tmp", 1), Ref("in", 2)), (Ref("tmp", 2),)),
            Call(
                adjoint.kernel,
                n,
                (Ref("tmp", 0, 0, nx), Ref("in", 1, 0, nu), Ref("in", 2), None),
                (None, Ref("out", 0, 0, nu)),
                (Carry(3, 0, Ref("tmp", 2)),),
                reverse=True,
            ),
        )
        ports = self._ports(n, f)
        kernel = Kernel(
            f"{self.name}_gradient",
            ports,
            (Port(f"grad_{ports[1].name}", n * nu),),
            [],
            [],
            [],
            [[]],
            steps=steps,
            temps=(n * nx, nx, nx),
        )
        return StagedFunction(kernel, f, n)

    def hvp(self) -> StagedFunction:
        """``<name>_hvp`` with inputs ``(x0, u_seq, p, v_<u_seq>)`` and output ``hvp_<u_seq>``:
        the Hessian of the total cost w.r.t. ``u_seq`` times ``v``, forward over adjoint: one
        forward loop storing the states and their tangents (the JVP of the dynamics), the
        terminal gradient and Hessian-vector product, then one reversed loop calling the JVP of
        the adjoint step with the adjoint and its tangent carried."""
        n, f, ell, vf = self._checked()
        x, u, p = f.kernel.inputs
        nx, nu = x.size, u.size
        f_jvp = f.jvp(wrt_index=[0, 1])  # (x, u, p, dx, du) -> dx_next
        state_ports = (Port("x", nx), Port("dx", nx), Port("u", nu), Port("du", nu), Port("p", p.size))

        def rollout(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            xk, dx, uk, du, pk = ins
            nxt = unroll(b, f.kernel, [xk, uk, pk])[0]
            dnxt = unroll(b, f_jvp.kernel, [xk, uk, pk, dx, du])[0]
            return [nxt, dnxt, xk, dx]

        roll_outs = (Port("x_next", nx), Port("dx_next", nx), Port("x_now", nx), Port("dx_now", nx))
        roll_k = _kernel(f"{self.name}_tangent_rollout", state_ports, roll_outs, rollout)

        def zeros(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            return [[b.const(0.0)] * nx]

        zero_k = _kernel(f"{self.name}_zero_tangent", (Port("x", nx),), (Port("dx", nx),), zeros)
        v_grad, v_hvp = vf.gradient(0), vf.hvp(0)  # (x, p) -> g; (x, p, v_x) -> Hv

        def terminal(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            xn, dxn, pk = ins
            return [unroll(b, v_grad.kernel, [xn, pk])[0], unroll(b, v_hvp.kernel, [xn, pk, dxn])[0]]

        term_ports = (Port("x", nx), Port("dx", nx), Port("p", p.size))
        term_k = _kernel(
            f"{self.name}_terminal_hvp", term_ports, (Port("lam", nx), Port("dlam", nx)), terminal
        )
        adjoint = self._adjoint(f, ell)  # (x, u, p, lam) -> (H_x, H_u)
        adjoint_jvp = adjoint.jvp(wrt_index=[0, 1, 3])  # (x, u, p, lam, dx, du, dlam) -> (dH_x, dH_u)
        back_ports = (*state_ports, Port("lam", nx), Port("dlam", nx))

        def backward(b: KernelBuilder, ins: list[list[int]]) -> list[list[int]]:
            xk, dx, uk, du, pk, lam, dlam = ins
            h_x = unroll(b, adjoint.kernel, [xk, uk, pk, lam])[0]
            dh_x, dh_u = unroll(b, adjoint_jvp.kernel, [xk, uk, pk, lam, dx, du, dlam])
            return [h_x, dh_x, dh_u]

        back_outs = (Port("lam_prev", nx), Port("dlam_prev", nx), Port("hvp_u", nu))
        back_k = _kernel(f"{self.name}_adjoint_tangent", back_ports, back_outs, backward)
        ports = self._ports(n, f)
        direction = Port(f"v_{ports[1].name}", n * nu)
        # temporaries: states, state tangents, x_N, dx_N, lambda_N, dlambda_N, the zero tangent
        steps = (
            Call(zero_k, 1, (Ref("in", 0),), (Ref("tmp", 6),)),
            Call(
                roll_k,
                n,
                (None, None, Ref("in", 1, 0, nu), Ref("in", 3, 0, nu), Ref("in", 2)),
                (None, None, Ref("tmp", 0, 0, nx), Ref("tmp", 1, 0, nx)),
                (Carry(0, 0, Ref("in", 0), Ref("tmp", 2)), Carry(1, 1, Ref("tmp", 6), Ref("tmp", 3))),
            ),
            Call(term_k, 1, (Ref("tmp", 2), Ref("tmp", 3), Ref("in", 2)), (Ref("tmp", 4), Ref("tmp", 5))),
            Call(
                back_k,
                n,
                (
                    Ref("tmp", 0, 0, nx),
                    Ref("tmp", 1, 0, nx),
                    Ref("in", 1, 0, nu),
                    Ref("in", 3, 0, nu),
                    Ref("in", 2),
                    None,
                    None,
                ),
                (None, None, Ref("out", 0, 0, nu)),
                (Carry(5, 0, Ref("tmp", 4)), Carry(6, 1, Ref("tmp", 5))),
                reverse=True,
            ),
        )
        kernel = Kernel(
            f"{self.name}_hvp",
            (*ports, direction),
            (Port(f"hvp_{ports[1].name}", n * nu),),
            [],
            [],
            [],
            [[]],
            steps=steps,
            temps=(n * nx, n * nx, nx, nx, nx, nx, nx),
        )
        return StagedFunction(kernel, f, n)

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

    @property
    def function(self) -> Function:
        """The Function of the staged total cost (what the builder generates)."""
        return self.primal().function

    # ---- conveniences ------------------------------------------------------------------------------
    def __call__(self, x0: object, u_seq: object, p: object) -> float:
        """The total cost (the primal, evaluated stage by stage)."""
        value = self.primal()(x0, u_seq, p)
        assert isinstance(value, float)
        return value

    def to_function(self) -> Function:
        """The unrolled total cost (its size grows with the horizon; for checking)."""
        return self.primal().to_function()
