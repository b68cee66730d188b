"""Joint single-shooting kernels, the runtime penalty weight, and the Jacobian and VJP of a fold
with a vector accumulator: values against plain Python loops, the unrolled functions and
central differences; several of them compiled into one crate (f64/std, f32/no_std, clippy
clean) and compared with Python; code size independent of the horizon; the errors of bad
bundles, weights and sizes raised before anything is written."""

from __future__ import annotations

import pathlib
import re

import pytest

import gradgen as gg
from gradgen.config import RustBackendConfig
from gradgen.errors import ConfigError, EvaluationArgumentError, FunctionDefinitionError, GradgenTypeError
from tests.cargo import cargo_env, rustfmt_check
from tests.staged_crates import HORIZON_PAIRS, build_and_compare, central_columns
from tests.test_shooting import X0, P, _controls, _direction, _python_cost, pendulum
from tests.test_staged import _bicycle_python, bicycle_step
from tests.test_staged import _controls as _bicycle_controls

RHO = 7.5
FULL = gg.SingleShootingBundle().add_cost().add_gradient().add_hvp().add_rollout_states()


def residuals() -> tuple[gg.Function, gg.Function]:
    x, u, p = gg.SXVector.sym("x", 2), gg.SXVector.sym("u", 1), gg.SXVector.sym("p", 2)
    q = gg.Function("q", [x, u, p], [[x[0] + u[0] - 0.1, u[0] * x[1]]], ["x", "u", "p"], ["r"])
    qn = gg.Function("qn", [x, p], [[x[1] - 0.2, p[1] * x[0]]], ["x", "p"], ["rn"])
    return q, qn


def weighted(n: int) -> gg.SingleShootingProblem:
    """The pendulum with penalties whose weight ``rho`` is a runtime input."""
    return pendulum(n).with_penalties(*residuals(), gg.SX.sym("rho"))


def _python_penalized(x0: list[float], us: list[float], p: list[float], rho: float) -> float:
    """The penalized total cost by a plain Python loop (the states of ``_python_cost``)."""
    base, traj = _python_cost(x0, us, p)
    extra = 0.0
    for k, u in enumerate(us):
        x = traj[2 * k : 2 * k + 2]
        extra += (x[0] + u - 0.1) ** 2 + (u * x[1]) ** 2
    xn = traj[-2:]
    extra += (xn[1] - 0.2) ** 2 + (p[1] * xn[0]) ** 2
    return base + rho / 2 * extra


def _fd_gradient(cost, us: list[float], h: float = 1e-6) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for k in range(len(us)):
        plus, minus = list(us), list(us)
        plus[k] += h
        minus[k] -= h
        out.append((cost(plus) - cost(minus)) / (2 * h))
    return out


# ---- single shooting: runtime weight and joint kernels --------------------------------------------
def test_a_symbolic_weight_is_a_runtime_input_after_the_parameters() -> None:
    n = 9
    problem = weighted(n)
    us = _controls(n)
    assert problem.input_names == ("x0", "u_seq", "p", "rho") and problem.penalty_weight_name == "rho"
    primal, grad, hvp = problem.primal(), problem.gradient(), problem.hvp()
    assert primal.input_names == grad.input_names == ("x0", "u_seq", "p", "rho")
    assert hvp.input_names == ("x0", "u_seq", "p", "rho", "v_u_seq")
    assert primal.kernel.inputs[3].scalar
    for rho in (0.0, 2.0, RHO):
        expected = _python_penalized(X0, us, P, rho)
        assert problem(X0, us, P, rho) == pytest.approx(expected, rel=1e-13)
        # the same as the number baked in
        fixed = pendulum(n).with_penalties(*residuals(), rho)
        assert problem(X0, us, P, rho) == pytest.approx(fixed(X0, us, P), rel=1e-15)
        assert grad(X0, us, P, rho) == pytest.approx(fixed.gradient()(X0, us, P), rel=1e-14, abs=1e-15)
    got = grad(X0, us, P, RHO)
    fd = _fd_gradient(lambda v: _python_penalized(X0, v, P, RHO), us)
    assert got == pytest.approx(fd, rel=1e-6, abs=1e-7)
    unrolled = problem.to_function()
    assert unrolled.input_names == ("x0", "u_seq", "p", "rho")
    assert got == pytest.approx(unrolled.gradient(1)(X0, us, P, RHO), rel=1e-12)
    v = _direction(n)
    assert hvp(X0, us, P, RHO, v) == pytest.approx(unrolled.hvp(1)(X0, us, P, RHO, v), rel=1e-11, abs=1e-13)
    # the cost is linear in rho: its derivative is half the squared residuals
    d_rho = (problem(X0, us, P, RHO + 1e-4) - problem(X0, us, P, RHO - 1e-4)) / 2e-4
    assert d_rho == pytest.approx((problem(X0, us, P, RHO) - problem(X0, us, P, 0.0)) / RHO, rel=1e-7)


def test_joint_kernel_shares_one_rollout_and_equals_the_separate_kernels() -> None:
    n = 10
    problem = weighted(n)
    joint = problem.joint(FULL)
    assert isinstance(joint, gg.SingleShootingJointFunction) and joint.bundle == FULL
    assert joint.name == "pendulum_cost_gradient_u_seq_hvp_u_seq_states"
    assert joint.input_names == ("x0", "u_seq", "p", "rho", "v_u_seq")
    assert joint.output_names == ("cost", "grad_u_seq", "hvp_u_seq", "x_traj")
    assert joint.output_sizes == (1, n, n, 2 * (n + 1))
    # one forward loop, one terminal call, one reversed loop (after packing p with rho and the zeros)
    loops = [(s.callee.name, s.reverse) for s in joint.kernel.steps if s.count == n]
    assert loops == [("pendulum_tangent_rollout", False), ("pendulum_adjoint_tangent", True)]
    us, v = _controls(n), _direction(n)
    cost, grad, hvp, traj = joint(X0, us, P, RHO, v)
    assert cost == pytest.approx(_python_penalized(X0, us, P, RHO), rel=1e-13)
    assert traj == pytest.approx(_python_cost(X0, us, P)[1], rel=1e-13)
    assert cost == problem(X0, us, P, RHO) == problem(x0=X0, u_seq=us, p=P, rho=RHO)
    assert joint(X0, us, P, v_u_seq=v, rho=RHO)[1] == grad  # by input name, as a Function
    assert grad == pytest.approx(problem.gradient()(X0, us, P, RHO), rel=1e-15, abs=1e-15)
    assert hvp == pytest.approx(problem.hvp()(X0, us, P, RHO, v), rel=1e-15, abs=1e-15)
    states = problem.primal(include_states=True)(X0, us, P, RHO)[1]
    assert traj == states
    unrolled = joint.to_function(name="unrolled_joint")
    assert unrolled.name == "unrolled_joint"
    for a, b in zip(unrolled(X0, us, P, RHO, v), (cost, grad, hvp, traj), strict=True):
        assert (a if isinstance(a, list) else [a]) == pytest.approx(
            b if isinstance(b, list) else [b], rel=1e-12
        )
    h = 1e-5
    plus = problem.gradient()(X0, [a + h * b for a, b in zip(us, v, strict=True)], P, RHO)
    minus = problem.gradient()(X0, [a - h * b for a, b in zip(us, v, strict=True)], P, RHO)
    assert hvp == pytest.approx(
        [(a - b) / (2 * h) for a, b in zip(plus, minus, strict=True)], rel=1e-6, abs=1e-8
    )


@pytest.mark.parametrize(
    ("bundle", "outputs", "has_direction"),
    [
        (gg.SingleShootingBundle().add_cost().add_gradient(), ("cost", "grad_u_seq"), False),
        (gg.SingleShootingBundle().add_gradient().add_rollout_states(), ("grad_u_seq", "x_traj"), False),
        (gg.SingleShootingBundle().add_rollout_states().add_hvp(), ("hvp_u_seq", "x_traj"), True),
        (gg.SingleShootingBundle().add_hvp().add_cost(), ("cost", "hvp_u_seq"), True),
        (gg.SingleShootingBundle().add_gradient().add_hvp(), ("grad_u_seq", "hvp_u_seq"), True),
    ],
)
def test_every_bundle_equals_its_separate_kernels(
    bundle: gg.SingleShootingBundle, outputs: tuple[str, ...], has_direction: bool
) -> None:
    n = 7
    problem = pendulum(n).with_penalties(*residuals(), 3.0)  # a number: no runtime input
    joint = problem.joint(bundle)
    assert joint.output_names == outputs
    us, v = _controls(n), _direction(n)
    args = [X0, us, P, v] if has_direction else [X0, us, P]
    assert joint.input_names == ("x0", "u_seq", "p", "v_u_seq")[: len(args)]
    reference = {
        "cost": problem(X0, us, P),
        "grad_u_seq": problem.gradient()(X0, us, P),
        "hvp_u_seq": problem.hvp()(X0, us, P, v),
        "x_traj": problem.primal(include_states=True)(X0, us, P)[1],
    }
    for name, value in zip(outputs, joint(*args), strict=True):
        assert value == pytest.approx(reference[name], rel=1e-14, abs=1e-15), name
    # gradient(include_states=True) and hvp(include_states=True) are bundles too
    grad, traj = problem.gradient(include_states=True)(X0, us, P)
    assert grad == reference["grad_u_seq"] and traj == reference["x_traj"]
    assert problem.hvp(include_states=True)(X0, us, P, v)[1] == reference["x_traj"]


def test_a_joint_kernel_with_states_stores_them_once() -> None:
    """The states live in the x_traj output: the joint's workspace does not hold them again."""
    n = 40
    problem = pendulum(n)
    both = problem.joint(gg.SingleShootingBundle().add_gradient().add_rollout_states()).generate_rust()
    alone = problem.gradient().generate_rust()
    # the gradient alone tapes 4 cosines and 2 products per stage; the joint, whose states are
    # in x_traj anyway, tapes the 4 cosines and its reversed loop reads the states there; it
    # writes x_N into x_traj where the gradient alone keeps it in the workspace, in the forward
    # loop's state buffer (which holds the state between the stages in both)
    assert alone.workspace_size - both.workspace_size == 2 * n
    assert "fn pendulum_gradient(" in alone.source
    # the full joint's reversed loop zips seven slices: a chain short enough for rustfmt to put
    # on a line of its own after a header too wide for one line
    full = weighted(n).joint(FULL).generate_rust().source
    assert re.search(r"\) in\n        w[0-9]+\.zip\(", full)
    assert rustfmt_check(full) is None


def test_builder_add_joint_of_a_problem(tmp_path: pathlib.Path, cargo_available: None) -> None:
    n = 12
    problem = weighted(n)
    builder = (
        gg.CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_crate_name("mpc"))
        .for_function(problem)
        .add_primal()
        .add_joint(gg.SingleShootingBundle().add_cost().add_gradient().add_hvp())
        .done()
        .for_function(problem.hvp(include_states=True))  # a kernel-source object as the source
        .add_primal()
        .done()
    )
    crate = builder.generate()
    assert crate.function_names == (
        "mpc_pendulum_f",
        "mpc_pendulum_f_grad_u_seq_hvp_u_seq",
        "mpc_pendulum_hvp_f",
    )
    summary = crate.function("mpc_pendulum_f_grad_u_seq_hvp_u_seq")
    assert summary.input_names == ("x0", "u_seq", "p", "rho", "v_u_seq")
    assert rustfmt_check(crate.source) is None
    lib = gg.compile(builder, build_dir=tmp_path / "cache", env=cargo_env())
    us, v = _controls(n), _direction(n)
    cost, grad, hvp = lib.mpc_pendulum_f_grad_u_seq_hvp_u_seq(X0, us, P, RHO, v)
    assert cost == pytest.approx(_python_penalized(X0, us, P, RHO), rel=1e-13)
    assert lib.mpc_pendulum_f(X0, us, P, RHO) == pytest.approx(cost, rel=1e-15)
    assert grad == pytest.approx(problem.gradient()(X0, us, P, RHO), rel=1e-13)
    assert hvp == pytest.approx(problem.hvp()(X0, us, P, RHO, v), rel=1e-12)
    assert lib.mpc_pendulum_hvp_f(X0, us, P, RHO, v)[1] == pytest.approx(
        _python_cost(X0, us, P)[1], rel=1e-13
    )


# ---- the Jacobian and VJP of a fold ---------------------------------------------------------------
def _roll(x0: list[float], us: list[float]) -> list[float]:
    s = list(x0)
    for k in range(len(us) // 2):
        s = _bicycle_python(s, us[2 * k : 2 * k + 2])
    return s


S0 = [0.2, -0.1, 0.3, 1.2]


@pytest.mark.parametrize("wrt", [0, 1])
def test_jacobian_of_a_fold_with_a_vector_accumulator(wrt: int) -> None:
    n = 6
    fold = gg.reduce_function(bicycle_step(), n)
    us = _bicycle_controls(n)
    jac = fold.jacobian(wrt)
    wrt_name = ("state0", "control_seq")[wrt]
    assert jac.name == f"bicycle_reduce_jacobian_{wrt_name}"
    assert jac.output_names == (f"jacobian_next_state_{wrt_name}",)
    cols = len((S0, us)[wrt])
    assert jac.output_sizes == (4 * cols,)
    got = jac(S0, us)
    fd = central_columns(_roll, [S0, us], wrt)  # fd[col][row], of the plain Python loop
    for row in range(4):
        for col in range(cols):
            assert got[row * cols + col] == pytest.approx(fd[col][row], rel=1e-6, abs=1e-8), (row, col)
    assert got == pytest.approx(fold.to_function().jacobian(wrt)(S0, us), rel=1e-13, abs=1e-15)
    assert jac.to_function()(S0, us) == pytest.approx(got, rel=1e-15)
    # loops, not an unrolled body: every call of the sweep runs once or N times
    assert [s.count for s in jac.kernel.steps] == ([1, n] if wrt == 0 else [n, 1, n])
    assert wrt == 0 or jac.kernel.steps[-1].reverse


@pytest.mark.parametrize("wrt", [0, 1])
def test_vjp_of_a_fold_is_the_adjoint_sweep_seeded_at_run_time(wrt: int) -> None:
    n = 5
    fold = gg.reduce_function(bicycle_step(), n)
    vjp = fold.vjp(wrt)
    wrt_name = ("state0", "control_seq")[wrt]
    assert vjp.input_names == ("state0", "control_seq", "cotangent_next_state")
    assert vjp.output_names == (f"vjp_{wrt_name}",) and vjp.name == f"bicycle_reduce_vjp_{wrt_name}"
    us, w = _bicycle_controls(n), [0.3, -1.2, 0.7, 2.0]
    got = vjp(S0, us, w)
    dense = fold.jacobian(wrt)(S0, us)
    cols = len((S0, us)[wrt])
    expected = [sum(w[i] * dense[i * cols + j] for i in range(4)) for j in range(cols)]
    assert got == pytest.approx(expected, rel=1e-13, abs=1e-15)
    fd = central_columns(lambda *a: [sum(x * y for x, y in zip(w, _roll(*a), strict=True))], [S0, us], wrt)
    assert got == pytest.approx([c[0] for c in fd], rel=1e-6, abs=1e-8)


def test_fold_workspace_grows_by_the_states_only() -> None:
    def work(m: int, wrt: int, taped: bool = True) -> int:
        fold = gg.reduce_function(bicycle_step(), m).with_stage_tape(taped)
        return fold.jacobian(wrt).generate_rust().workspace_size

    # without the tape, N * nacc stored states; with it, the 8 values a reversed stage reads
    # (the stage Jacobian's entries w.r.t. the control) wait in the stage's 4 blocks of 2
    # entries of the output, and the workspace does not grow with N
    assert work(30, 1, taped=False) - work(10, 1, taped=False) == 20 * 4
    assert work(30, 1) == work(10, 1)
    rows = gg.reduce_function(bicycle_step(), 10).jacobian(1).kernel.steps[-1]
    assert [p.name for p in rows.callee.inputs] == [*(f"tape_row_{i}" for i in range(4)), "m"]
    assert work(30, 0) == work(10, 0)  # the forward sweep stores nothing


# ---- compiled Rust --------------------------------------------------------------------------------
def _cases() -> list[tuple[str, gg.StagedFunction, list[list[float]]]]:
    n = 12
    us, v = _controls(n), _direction(n)
    problem = weighted(n)
    fixed = pendulum(n).with_penalties(*residuals(), 3.0)
    fold = gg.reduce_function(bicycle_step(), 5)
    bicycle_us = [u * 0.5 for u in _bicycle_controls(5)]
    w = [0.3, -1.2, 0.7, 2.0]
    return [
        ("joint_all", problem.joint(FULL), [X0, us, P, [RHO], v]),
        ("joint_cost_grad", fixed.joint(gg.SingleShootingBundle().add_cost().add_gradient()), [X0, us, P]),
        ("grad_states", problem.gradient(include_states=True), [X0, us, P, [RHO]]),
        ("hvp_weighted", problem.hvp(), [X0, us, P, [RHO], v]),
        ("cost_weighted", problem.primal(), [X0, us, P, [RHO]]),
        ("fold_jac_acc", fold.jacobian(0), [S0, bicycle_us]),
        ("fold_jac_x", fold.jacobian(1), [S0, bicycle_us]),
        ("fold_vjp_acc", fold.vjp(0), [S0, bicycle_us, w]),
        ("fold_vjp_x", fold.vjp(1), [S0, bicycle_us, w]),
        ("fold_jac_one", gg.reduce_function(bicycle_step(), 1).jacobian(1), [S0, bicycle_us[:2]]),
        # without the stage tape: the states stored, each stage evaluated again
        ("fold_jac_x_lean", fold.with_stage_tape(False).jacobian(1), [S0, bicycle_us]),
        ("fold_vjp_x_lean", fold.with_stage_tape(False).vjp(1), [S0, bicycle_us, w]),
    ]


@pytest.mark.parametrize(("scalar", "mode"), [("f64", "std"), ("f32", "no_std")])
def test_rust_equals_python(tmp_path: pathlib.Path, scalar: str, mode: str, cargo_available: None) -> None:
    config = RustBackendConfig().with_scalar_type(scalar).with_backend_mode(mode)

    def check(source: str, kernels: list[object]) -> None:
        assert "#![forbid(unsafe_code)]" in source or mode == "std"

    rust, python = build_and_compare(tmp_path, f"staged_joint_{scalar}", _cases(), config, check=check)
    tol = {"rel": 1e-12, "abs": 1e-13} if scalar == "f64" else {"rel": 2e-3, "abs": 2e-4}
    for label, ref in python.items():
        assert rust[label] == pytest.approx(ref, **tol), label


@pytest.mark.parametrize(
    "make",
    [
        lambda m: weighted(m).joint(FULL),
        lambda m: pendulum(m).joint(gg.SingleShootingBundle().add_cost().add_gradient()),
        lambda m: weighted(m).hvp(include_states=True),
        lambda m: gg.reduce_function(bicycle_step(), m).jacobian(0),
        lambda m: gg.reduce_function(bicycle_step(), m).jacobian(1),
        lambda m: gg.reduce_function(bicycle_step(), m).vjp(1),
    ],
    ids=["joint", "joint_cost_grad", "hvp_states", "fold_jac_acc", "fold_jac_x", "fold_vjp_x"],
)
def test_generated_code_size_does_not_depend_on_the_horizon(make) -> None:  # type: ignore[no-untyped-def]
    for pair in HORIZON_PAIRS:  # of one parity: an odd horizon runs its last stage apart
        short, long = (make(m).generate_rust().source.splitlines() for m in pair)
        assert len(short) == len(long)
        differing = [(a, b) for a, b in zip(short, long, strict=True) if a != b]
        # constants only: lengths, offsets (the joint's reversed loop reads the states in x_traj:
        # two of its slice offsets)
        assert 0 < len(differing) <= 34
        assert all(re.sub(r"[0-9]+", "N", a) == re.sub(r"[0-9]+", "N", b) for a, b in differing)


# ---- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        (gg.SingleShootingBundle(), "asks for none of the cost, the gradient and the HVP"),
        (gg.SingleShootingBundle().add_rollout_states(), "asks for none of the cost"),
        (gg.SingleShootingBundle().add_hvp(), r"asks for the hvp alone.*use the problem's hvp\(\)"),
        (gg.SingleShootingBundle().add_cost(), r"the cost alone.*primal\(\)"),
    ],
)
def test_bad_bundles_are_refused_before_anything_is_written(
    tmp_path: pathlib.Path, bundle: gg.SingleShootingBundle, message: str
) -> None:
    problem = pendulum(4)
    with pytest.raises(ConfigError, match=message):
        problem.joint(bundle)
    with pytest.raises(ConfigError, match=message):
        gg.CodeGenerationBuilder().for_function(problem).add_joint(bundle)
    assert not any(tmp_path.iterdir())


def test_bad_weights_names_and_sources_are_refused(tmp_path: pathlib.Path) -> None:
    q, qn = residuals()
    base = pendulum(4)
    for weight in (gg.SX.sym("c") * 2.0, gg.SXVector.sym("c", 2), "c", None, True):
        with pytest.raises(GradgenTypeError, match="penalty_weight must be a number or a scalar symbol"):
            base.with_penalties(q, qn, weight)  # type: ignore[arg-type]
    clash = base.with_penalties(q, qn, gg.SX.sym("p"))
    with pytest.raises(FunctionDefinitionError, match="the input name 'p' is used twice"):
        clash.primal()
    with pytest.raises(FunctionDefinitionError, match="the input name 'v_u_seq' is used twice"):
        base.with_penalties(q, qn, gg.SX.sym("v_u_seq")).hvp()
    with pytest.raises(GradgenTypeError, match="joint expects a SingleShootingBundle"):
        base.joint(gg.FunctionBundle().add_f())  # type: ignore[arg-type]
    with pytest.raises(GradgenTypeError, match="expects a SingleShootingBundle, got FunctionBundle"):
        gg.CodeGenerationBuilder().for_function(base).add_joint(gg.FunctionBundle().add_f())
    with pytest.raises(GradgenTypeError, match="needs a SingleShootingProblem source"):
        gg.CodeGenerationBuilder().for_function(bicycle_step()).add_joint(FULL)
    with pytest.raises(gg.DifferentiationError, match="is staged and offers no joint kernel"):
        gg.CodeGenerationBuilder().for_function(gg.zip_function(bicycle_step(), 3)).add_joint(
            gg.FunctionBundle().add_f()
        )
    # a derivative kernel is not the cost: it offers neither the cost's derivatives nor joints
    with pytest.raises(
        gg.DifferentiationError, match="'pendulum_gradient' is staged and offers no staged jacobian"
    ):
        gg.CodeGenerationBuilder().for_function(base.gradient()).add_jacobian(wrt=1).done().generate("c")
    with pytest.raises(GradgenTypeError, match="needs a SingleShootingProblem source"):
        gg.CodeGenerationBuilder().for_function(base.gradient()).add_joint(FULL)
    with pytest.raises(GradgenTypeError, match="include_states must be True or False"):
        base.primal(include_states=1)  # type: ignore[arg-type]
    # the problem is incomplete: refused when the joint is asked for, before the builder writes
    with pytest.raises(FunctionDefinitionError, match="needs with_horizon"):
        gg.CodeGenerationBuilder().for_function(gg.SingleShootingProblem("empty")).add_joint(FULL)
    with pytest.raises(FunctionDefinitionError, match="needs with_horizon"):
        gg.SingleShootingProblem("empty").joint(FULL)
    assert not any(tmp_path.iterdir())


def test_wrong_sizes_are_refused(tmp_path: pathlib.Path) -> None:
    joint = weighted(4).joint(FULL)
    with pytest.raises(
        EvaluationArgumentError, match="'rho' of 'pendulum_cost_gradient_u_seq_hvp_u_seq_states'"
    ):
        joint(X0, _controls(4), P, [1.0, 2.0], _direction(4))
    with pytest.raises(EvaluationArgumentError, match="takes 5 argument"):
        joint(X0, _controls(4), P, _direction(4))
    with pytest.raises(EvaluationArgumentError, match=r"'v_u_seq' .* has length 3, expected 4"):
        joint(X0, _controls(4), P, 1.0, [0.0] * 3)
    fold = gg.reduce_function(bicycle_step(), 3)
    with pytest.raises(EvaluationArgumentError, match=r"'cotangent_next_state' .* has length 3, expected 4"):
        fold.vjp(1)(S0, _bicycle_controls(3), [1.0, 2.0, 3.0])
    with pytest.raises(gg.DifferentiationError, match="wrt_index must be 0 or 1"):
        fold.jacobian(2)
    with pytest.raises(gg.DifferentiationError, match="wrt_index must be 0 or 1"):
        fold.vjp(True)  # type: ignore[arg-type]
    with pytest.raises(gg.DifferentiationError, match="use jacobian or vjp"):
        fold.gradient(0)
    with pytest.raises(FunctionDefinitionError, match="a kernel name must be a non-empty string"):
        fold.jacobian(0, name=" ")
    assert not any(tmp_path.iterdir())


def test_staged_objects_write_projects_and_build_through_the_builder(
    tmp_path: pathlib.Path, cargo_available: None
) -> None:
    """create_rust_project of a joint, and the fold's Jacobian and VJP through the builder."""
    joint = weighted(6).joint(gg.SingleShootingBundle().add_cost().add_gradient())
    project = joint.create_rust_project(tmp_path / "joint", crate_name="joint")
    assert (tmp_path / "joint" / "src" / "lib.rs").read_text() == project.source
    assert "pub fn pendulum_cost_gradient_u_seq(" in project.source
    assert gg.generate_rust(joint).source == joint.generate_rust().source
    fold = gg.reduce_function(bicycle_step(), 6)
    builder = (
        gg.CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_crate_name("fold"))
        .for_function(fold)
        .add_jacobian()
        .add_vjp(wrt=1)
        .done()
    )
    lib = gg.compile(builder, build_dir=tmp_path / "cache", env=cargo_env())
    assert tuple(lib) == (
        "fold_bicycle_reduce_jf_state0",
        "fold_bicycle_reduce_jf_control_seq",
        "fold_bicycle_reduce_vjp_control_seq",
    )
    us, w = _bicycle_controls(6), [0.3, -1.2, 0.7, 2.0]
    assert lib.fold_bicycle_reduce_jf_state0(S0, us) == pytest.approx(fold.jacobian(0)(S0, us), rel=1e-13)
    assert lib.fold_bicycle_reduce_jf_control_seq(S0, us) == pytest.approx(
        fold.to_function().jacobian(1)(S0, us), rel=1e-12, abs=1e-14
    )
    assert lib.fold_bicycle_reduce_vjp_control_seq(S0, us, w) == pytest.approx(
        fold.vjp(1)(S0, us, w), rel=1e-13
    )
