"""SingleShootingProblem: the total cost and its adjoint-sweep gradient, staged, against plain
Python loops, central differences, the unrolled function, and compiled Rust."""

from __future__ import annotations

import itertools
import math
import pathlib
import re

import pytest

import gradgen as gg
from gradgen.config import RustBackendConfig
from gradgen.errors import EvaluationArgumentError, FunctionDefinitionError
from tests.cargo import cargo_env, rustfmt_check
from tests.staged_crates import HORIZON_PAIRS, build_and_compare

DT = 0.05


def pendulum(n: int) -> gg.SingleShootingProblem:
    x, u, p = gg.SXVector.sym("x", 2), gg.SXVector.sym("u", 1), gg.SXVector.sym("p", 2)

    def rhs(s: list[gg.SX]) -> list[gg.SX]:
        return [s[1], -p[0] * gg.sin(s[0]) - p[1] * s[1] + u[0]]

    k1 = rhs(list(x))
    k2 = rhs([x[i] + 0.5 * DT * k1[i] for i in range(2)])
    k3 = rhs([x[i] + 0.5 * DT * k2[i] for i in range(2)])
    k4 = rhs([x[i] + DT * k3[i] for i in range(2)])
    nxt = [x[i] + DT / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) for i in range(2)]
    f = gg.Function("rk4", [x, u, p], [nxt], ["x", "u", "p"], ["x_next"])
    ell = gg.Function(
        "ell", [x, u, p], [x[0] ** 2 + 0.1 * x[1] ** 2 + 0.01 * u[0] ** 2], ["x", "u", "p"], ["l"]
    )
    vf = gg.Function("vf", [x, p], [10.0 * (1.0 - gg.cos(x[0])) + x[1] ** 2], ["x", "p"], ["v"])
    return gg.SingleShootingProblem("pendulum").with_horizon(n).with_dynamics(f).with_costs(ell, vf)


def _python_cost(x0: list[float], us: list[float], p: list[float]) -> tuple[float, list[float]]:
    def rhs(s: list[float], u: float) -> list[float]:
        return [s[1], -p[0] * math.sin(s[0]) - p[1] * s[1] + u]

    x, total, traj = list(x0), 0.0, list(x0)
    for u in us:
        total += x[0] ** 2 + 0.1 * x[1] ** 2 + 0.01 * u**2
        k1 = rhs(x, u)
        k2 = rhs([x[i] + 0.5 * DT * k1[i] for i in range(2)], u)
        k3 = rhs([x[i] + 0.5 * DT * k2[i] for i in range(2)], u)
        k4 = rhs([x[i] + DT * k3[i] for i in range(2)], u)
        x = [x[i] + DT / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) for i in range(2)]
        traj += x
    return total + 10.0 * (1.0 - math.cos(x[0])) + x[1] ** 2, traj


X0, P = [0.6, -0.3], [9.81, 0.2]


def _controls(n: int) -> list[float]:
    return [0.4 * math.sin(0.5 * k) for k in range(n)]


def test_cost_equals_a_python_loop_and_the_unrolled_function() -> None:
    n = 12
    problem = pendulum(n)
    us = _controls(n)
    expected, traj = _python_cost(X0, us, P)
    assert problem(X0, us, P) == pytest.approx(expected, rel=1e-13)
    assert problem.to_function()(X0, us, P) == problem(X0, us, P)
    cost, states = problem.primal(include_states=True)(X0, us, P)
    assert cost == problem(X0, us, P)
    assert states == pytest.approx(traj, rel=1e-13)


def test_gradient_is_an_adjoint_sweep_equal_to_central_differences() -> None:
    n = 12
    problem = pendulum(n)
    grad = problem.gradient()
    assert grad.name == "pendulum_gradient" and grad.output_names == ("grad_u_seq",)
    assert grad.kernel.steps[-1].reverse and grad.kernel.steps[-1].count == n
    us = _controls(n)
    got = grad(X0, us, P)
    h = 1e-6
    for k in range(n):
        plus, minus = list(us), list(us)
        plus[k] += h
        minus[k] -= h
        fd = (problem(X0, plus, P) - problem(X0, minus, P)) / (2 * h)
        assert got[k] == pytest.approx(fd, rel=1e-6, abs=1e-8)
    assert got == pytest.approx(problem.to_function().gradient(1)(X0, us, P), rel=1e-12)


def _direction(n: int) -> list[float]:
    return [0.3 * (-1) ** k + 0.05 * k for k in range(n)]


def test_hvp_is_forward_over_adjoint_equal_to_differences_of_the_gradient() -> None:
    n = 10
    problem = pendulum(n)
    hvp = problem.hvp()
    assert hvp.input_names == ("x0", "u_seq", "p", "v_u_seq") and hvp.output_names == ("hvp_u_seq",)
    assert [s.reverse for s in hvp.kernel.steps] == [False, False, False, True]
    us, v = _controls(n), _direction(n)
    got = hvp(X0, us, P, v)
    grad = problem.gradient()
    h = 1e-5
    plus = grad(X0, [a + h * b for a, b in zip(us, v, strict=True)], P)
    minus = grad(X0, [a - h * b for a, b in zip(us, v, strict=True)], P)
    fd = [(a - b) / (2 * h) for a, b in zip(plus, minus, strict=True)]
    assert got == pytest.approx(fd, rel=1e-6, abs=1e-9)
    assert got == pytest.approx(problem.to_function().hvp(1)(X0, us, P, v), rel=1e-12, abs=1e-15)


def test_workspace_of_the_gradient_grows_by_the_tape_per_stage_and_the_code_not_at_all() -> None:
    for n_small, n_large in HORIZON_PAIRS:  # of one parity: an odd one runs a stage apart
        small, large = (
            pendulum(n_small).gradient().generate_rust(),
            pendulum(n_large).gradient().generate_rust(),
        )
        # the stage tape of the RK4 pendulum: 4 cosines and 2 products of the state (the cheapest
        # tape: the reversed loop recomputes the other products from it and the free u and p), one
        # of them kept in the stage's element of the gradient until the reversed loop writes it
        assert large.workspace_size - small.workspace_size == (n_large - n_small) * 5
        # the HVP's 12 values per stage: 11 in the workspace, one in the stage's element of the HVP
        hvps = [pendulum(m).hvp().generate_rust().workspace_size for m in (n_small, n_large)]
        assert hvps[1] - hvps[0] == (n_large - n_small) * 11
        a, b = small.source.splitlines(), large.source.splitlines()
        assert len(a) == len(b)
        differing = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        assert 0 < len(differing) <= 20
        assert all(re.sub(r"[0-9]+", "N", x) == re.sub(r"[0-9]+", "N", y) for x, y in differing)
        for make in (lambda m: pendulum(m).primal(), lambda m: pendulum(m).hvp()):
            short, long = (make(m).generate_rust().source for m in (n_small, n_large))
            assert len(short.splitlines()) == len(long.splitlines())


def _stores(source: str) -> dict[tuple[str, bool], int]:
    """Output name, whether a scheduling fence is the line before -> number of element stores."""
    found: dict[tuple[str, bool], int] = {}
    for before, line in itertools.pairwise(source.splitlines()):
        store = re.fullmatch(r"\s+(\w+)\[\d+\] = w\d+;", line)
        if store:
            key = (store.group(1), "compiler_fence" in before)
            found[key] = found.get(key, 0) + 1
    return found


def test_each_store_of_a_state_or_the_tape_follows_a_fence_and_no_other_store_does() -> None:
    # the loops keep x_next, cost_next, lam_prev (and their tangents) and the tape (in the
    # workspace and in the stage's element of the output) from stage to stage; the terminal
    # adjoint and the per-stage gradient are written once, into a temporary read next or into
    # the output
    assert _stores(pendulum(5).primal().generate_rust().source) == {
        ("x_next", True): 2,
        ("cost_next", True): 1,
        ("total", False): 1,
    }
    assert _stores(pendulum(5).gradient().generate_rust().source) == {
        ("x_next", True): 2,
        ("tape", True): 5,
        ("tape_grad", True): 1,
        ("lam", False): 2,
        ("lam_prev", True): 2,
        ("grad_u", False): 1,
    }
    hvp = _stores(pendulum(5).hvp().generate_rust().source)
    kept = {"x_next", "dx_next", "lam_prev", "dlam_prev", "tape", "tape_hvp"}
    assert {name for name, fenced in hvp if fenced} == kept
    assert {name for name, fenced in hvp if not fenced} == {"lam", "dlam", "hvp_u"}
    assert sum(n for (_, fenced), n in hvp.items() if fenced) == 8 + 12
    # the unrolled function of the same problem has no loop and no such fence
    unrolled = pendulum(5).gradient().to_function().generate_rust().source
    assert not any(fenced for _, fenced in _stores(unrolled))


@pytest.mark.parametrize(("scalar", "mode"), [("f64", "std"), ("f32", "no_std")])
def test_rust_equals_python(tmp_path: pathlib.Path, scalar: str, mode: str, cargo_available: None) -> None:
    n = 30
    problem = pendulum(n)
    config = RustBackendConfig().with_scalar_type(scalar).with_backend_mode(mode)
    args = [X0, _controls(n), P]
    cases = [
        ("ocp_cost", problem.primal(), args),
        ("ocp_states", problem.primal(include_states=True), args),
        ("ocp_gradient", problem.gradient(), args),
        ("ocp_hvp", problem.hvp(), [*args, _direction(n)]),
    ]
    rust, python = build_and_compare(tmp_path, f"shooting_{scalar}", cases, config)
    tol = {"rel": 1e-12, "abs": 1e-14} if scalar == "f64" else {"rel": 1e-3, "abs": 1e-4}
    for label, ref in python.items():
        assert rust[label] == pytest.approx(ref, **tol), label


def test_wrong_sizes_are_refused_before_anything_is_written(tmp_path: pathlib.Path) -> None:
    x, u, p = gg.SXVector.sym("x", 2), gg.SXVector.sym("u", 1), gg.SXVector.sym("p", 2)
    short = gg.Function("short", [x, u, p], [[x[0] + u[0]]], ["x", "u", "p"], ["x_next"])
    ell = gg.Function("ell", [x, u, p], [x[0] ** 2], ["x", "u", "p"], ["l"])
    vf = gg.Function("vf", [x, p], [x[1] ** 2], ["x", "p"], ["v"])
    problem = gg.SingleShootingProblem("bad").with_horizon(4).with_dynamics(short).with_costs(ell, vf)
    with pytest.raises(FunctionDefinitionError, match="must return one state of 2 elements"):
        problem.gradient()
    y = gg.SXVector.sym("y", 3)
    vf3 = gg.Function("vf3", [y, p], [y[1] ** 2], ["y", "p"], ["v"])
    good = pendulum(4)
    with pytest.raises(FunctionDefinitionError, match=r"'vf3' takes inputs of sizes \(3, 2\)"):
        good.with_costs(ell, vf3).primal()
    with pytest.raises(FunctionDefinitionError, match="must take 2 inputs"):
        good.with_costs(ell, ell)
    with pytest.raises(FunctionDefinitionError, match="at least 1"):
        gg.SingleShootingProblem("p").with_horizon(0)
    with pytest.raises(FunctionDefinitionError, match="needs with_horizon"):
        gg.SingleShootingProblem("p").with_horizon(3).gradient()
    with pytest.raises(EvaluationArgumentError, match="'u_seq' of 'pendulum' has length 3, expected 4"):
        pendulum(4)(X0, [0.0] * 3, P)
    assert not any(tmp_path.iterdir())


def test_input_names() -> None:
    problem = pendulum(3).with_input_names(initial_state_name="x_init", control_sequence_name="controls")
    assert problem.primal().input_names == ("x_init", "controls", "p")
    assert problem.gradient().output_names == ("grad_controls",)
    with pytest.raises(FunctionDefinitionError, match="must differ"):
        pendulum(3).with_input_names(parameter_name="x0")


def test_builder_generates_the_staged_cost_gradient_and_hvp(
    tmp_path: pathlib.Path, cargo_available: None
) -> None:
    n = 16
    problem = pendulum(n)
    builder = (
        gg.CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_crate_name("ocp"))
        .for_function(problem)
        .add_primal()
        .add_gradient(wrt=1)
        .add_hvp(wrt=1)
        .done()
    )
    crate = builder.generate()
    assert crate.function_names == ("ocp_pendulum_f", "ocp_pendulum_grad_u_seq", "ocp_pendulum_hvp_u_seq")
    assert rustfmt_check(crate.source) is None
    lib = gg.compile(builder, build_dir=tmp_path / "cache", env=cargo_env())
    us, v = _controls(n), _direction(n)
    assert lib.ocp_pendulum_f(X0, us, P) == pytest.approx(problem(X0, us, P), rel=1e-13)
    assert lib.ocp_pendulum_grad_u_seq(X0, us, P) == pytest.approx(problem.gradient()(X0, us, P), rel=1e-12)
    assert lib.ocp_pendulum_hvp_u_seq(X0, us, P, v) == pytest.approx(problem.hvp()(X0, us, P, v), rel=1e-12)
    with pytest.raises(gg.DifferentiationError, match=r"not the gradient w\.r\.t\. input 0"):
        gg.CodeGenerationBuilder().for_function(problem).add_gradient(wrt=0).done().generate("ocp")


def test_penalties_add_half_the_weighted_squared_residuals() -> None:
    n = 8
    x, u, p = gg.SXVector.sym("x", 2), gg.SXVector.sym("u", 1), gg.SXVector.sym("p", 2)
    q = gg.Function("q", [x, u, p], [[x[0] + u[0] - 0.1, u[0] * u[0]]], ["x", "u", "p"], ["r"])
    qn = gg.Function("qn", [x, p], [x[1] - 0.2], ["x", "p"], ["rn"])
    base = pendulum(n)
    penalized = base.with_penalties(q, qn, 40.0)
    assert base.penalties is None  # with_* returns a new problem
    us = _controls(n)
    _, traj = _python_cost(X0, us, P)
    extra = 0.0
    for k in range(n):
        xk = traj[2 * k : 2 * k + 2]
        extra += 20.0 * ((xk[0] + us[k] - 0.1) ** 2 + (us[k] ** 2) ** 2)
    extra += 20.0 * (traj[2 * n + 1] - 0.2) ** 2
    assert penalized(X0, us, P) == pytest.approx(base(X0, us, P) + extra, rel=1e-13)
    grad = penalized.gradient()(X0, us, P)
    assert grad == pytest.approx(penalized.to_function().gradient(1)(X0, us, P), rel=1e-12)
    h = 1e-6
    for k in (0, n // 2, n - 1):
        plus, minus = list(us), list(us)
        plus[k] += h
        minus[k] -= h
        fd = (penalized(X0, plus, P) - penalized(X0, minus, P)) / (2 * h)
        assert grad[k] == pytest.approx(fd, rel=1e-6, abs=1e-7)
    with pytest.raises(gg.GradgenTypeError, match="penalty_weight must be a number"):
        base.with_penalties(q, qn, gg.SX.sym("c") + 1.0)  # a symbol is a runtime weight; not an expression
    y = gg.SXVector.sym("y", 3)
    bad = gg.Function("bad", [y, p], [y[0]], ["y", "p"], ["r"])
    with pytest.raises(FunctionDefinitionError, match=r"penalty 'bad' takes inputs of sizes \(3, 2\)"):
        base.with_penalties(q, bad, 1.0).gradient()
