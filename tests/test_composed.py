"""Staged composition: ``ComposedFunction`` (a state through stages ``x <- G(x, p_k)``) and
``FunctionComposer`` (a serial pipeline of staged stages): values against the unrolled function
and a plain Python loop, derivatives against central differences, generated Rust compiled with
cargo against the Python values, code size independent of the number of stages, and errors."""

from __future__ import annotations

import math
import pathlib
import re

import pytest

import gradgen as gg
from gradgen.config import RustBackendConfig
from gradgen.errors import (
    DifferentiationError,
    EvaluationArgumentError,
    FunctionDefinitionError,
    GradgenTypeError,
)
from gradgen.ir.ops import Op
from tests.cargo import cargo_env, rustfmt_check
from tests.staged_crates import HORIZON_PAIRS, build_and_compare, central_columns

SX, SXVector, Function = gg.SX, gg.SXVector, gg.Function


def rotor() -> gg.Function:
    """``(x, p) -> x_next``: a damped, parameterised rotation of a 2-vector."""
    x, p = SXVector.sym("x", 2), SXVector.sym("p", 2)
    return Function(
        "rotor",
        [x, p],
        [
            [
                x[0] * gg.cos(p[0]) - x[1] * gg.sin(p[0]) + p[1],
                gg.tanh(x[0] * gg.sin(p[0]) + x[1] * gg.cos(p[0])),
            ]
        ],
        ["x", "p"],
        ["y"],
    )


def _rotor_python(x: list[float], p: list[float]) -> list[float]:
    c, s = math.cos(p[0]), math.sin(p[0])
    return [x[0] * c - x[1] * s + p[1], math.tanh(x[0] * s + x[1] * c)]


def squash() -> gg.Function:
    """``x -> x_next`` (no parameters)."""
    x = SXVector.sym("x", 2)
    return Function("squash", [x], [[gg.sin(x[0]) + 0.5 * x[1], x[0] * x[1]]], ["x"], ["z"])


def _squash_python(x: list[float]) -> list[float]:
    return [math.sin(x[0]) + 0.5 * x[1], x[0] * x[1]]


def blocks(k: int, name: str = "t") -> list[gg.SXVector]:
    return [SXVector.sym(f"{name}{i}", 2) for i in range(k)]


def mixed() -> gg.ComposedFunction:
    """A fixed-parameter stage, a repeat over fresh blocks, a stage without parameters, then a
    chain reusing the symbols ``q`` (a shared slot) and a numeric block."""
    g, q = rotor(), SXVector.sym("q", 2)
    return (
        gg.ComposedFunction("mixed", SXVector.sym("x0", 2))
        .then(g, p=[0.3, -0.1])
        .repeat(g, params=blocks(4))
        .then(squash())
        .chain([(g, q), (g, [0.2, 0.05]), (g, q)])
        .finish()
    )


X0 = [0.4, -0.3]
PARAMS = [0.1 * (i + 1) * (-1) ** i for i in range(10)]  # t0..t3 (8 slots), then q (2)


def _mixed_python(x: list[float], params: list[float]) -> list[float]:
    x = _rotor_python(x, [0.3, -0.1])
    for k in range(4):
        x = _rotor_python(x, params[2 * k : 2 * k + 2])
    x = _squash_python(x)
    q = params[8:10]
    for p in (q, [0.2, 0.05], q):
        x = _rotor_python(x, p)
    return x


def _row_major(cols: list[list[float]]) -> list[float]:
    return [cols[j][i] for i in range(len(cols[0])) for j in range(len(cols))]


# ---- ComposedFunction: definition and values ------------------------------------------------------
def test_inputs_are_the_state_and_the_packed_parameters() -> None:
    comp = mixed()
    assert comp.finished and comp.input_names == ("x0", "parameters")
    assert comp.output_names == ("y",) and comp.input_sizes == (2, 10) and comp.parameter_size == 10
    assert comp.stage_count == 9
    named = gg.ComposedFunction("c", SX.sym("s"), input_name="state", parameter_name="theta")
    scalar = named.then(Function("h", [SX.sym("a"), SX.sym("b")], [SX.sym("a") * SX.sym("b")]), p=SX.sym("w"))
    assert scalar.finish().input_names == ("state", "theta") and scalar.finish()(2.0, [3.0]) == 6.0


def test_values_equal_the_unrolled_function_and_a_python_loop() -> None:
    comp = mixed()
    expected = _mixed_python(X0, PARAMS)
    assert comp(X0, PARAMS) == pytest.approx(expected, rel=1e-14)
    assert comp(x0=X0, parameters=PARAMS) == comp(X0, PARAMS)
    unrolled = comp.to_function()
    assert unrolled(X0, PARAMS) == pytest.approx(expected, rel=1e-14)
    # the unrolled function is expressed in the user's symbols, one per parameter slot
    assert [s.name for s in unrolled.inputs[1]] == [f"t{k}_{j}" for k in range(4) for j in (0, 1)] + [
        "q_0",
        "q_1",
    ]
    assert comp.to_function("named").name == "named"


def test_builders_return_new_compositions() -> None:
    g = rotor()
    start = gg.ComposedFunction("c", SXVector.sym("x0", 2))
    one = start.then(g, p=[0.1, 0.2])
    assert start.steps == () and len(one.steps) == 1 and not one.finished
    done = one.finish()
    assert done.finished and not one.finished
    assert done(X0) == pytest.approx(_rotor_python(X0, [0.1, 0.2]), rel=1e-15)


def test_symbols_with_one_name_share_a_slot() -> None:
    g, q, r = rotor(), SXVector.sym("q", 2), SXVector.sym("r", 2)
    comp = gg.ComposedFunction("c", SXVector.sym("x0", 2)).chain([(g, q), (g, r), (g, q)]).finish()
    assert comp.parameter_size == 4
    qv, rv = [0.3, 0.1], [-0.2, 0.4]
    expected = _rotor_python(_rotor_python(_rotor_python(X0, qv), rv), qv)
    assert comp(X0, qv + rv) == pytest.approx(expected, rel=1e-15)
    shared = gg.ComposedFunction("c", SXVector.sym("x0", 2)).repeat(g, params=[q, q, q]).finish()
    assert shared.parameter_size == 2
    # one loop reading the same block at every stage, after the prologue computing the sine and
    # the cosine of that block once (``ir.hoist``)
    prologue, call = shared.kernel.steps
    assert prologue.count == 1 and prologue.callee.name == "rotor_prologue"
    assert sorted(op.name for op in prologue.callee.ops if op.name in ("SIN", "COS")) == ["COS", "SIN"]
    assert call.count == 3 and call.inputs[1].stride == 0 and call.inputs[2] == prologue.outputs[0]


def test_repeat_is_one_loop_whatever_the_number_of_blocks() -> None:
    for k in (1, 7, 300):
        comp = gg.ComposedFunction("c", SXVector.sym("x0", 2)).repeat(rotor(), params=blocks(k)).finish()
        (call,) = comp.kernel.steps
        assert call.count == k
    comp = mixed()
    counts = [c.count for c in comp.kernel.steps]
    # table fill, rotor (fixed block, from the table), rotor x4, squash, rotor (q), rotor (table), rotor (q)
    assert counts == [1, 1, 4, 1, 1, 1, 1]


def _lines(obj: object, scalar: str = "f64") -> list[str]:
    return obj.generate_rust(RustBackendConfig().with_scalar_type(scalar)).source.splitlines()  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["primal", "jacobian", "joint"])
def test_generated_code_size_does_not_depend_on_the_number_of_stages(kind: str) -> None:
    def make(k: int) -> object:
        comp = (
            gg.ComposedFunction("c", SXVector.sym("x0", 2)).repeat(rotor(), params=blocks(k)).then(squash())
        )
        done = comp.finish()
        return {"primal": done, "jacobian": done.jacobian(), "joint": done.joint(["f", "jf"])}[kind]

    for n_short, n_long in HORIZON_PAIRS:  # of one parity: an odd count runs a stage apart
        short, long = _lines(make(n_short)), _lines(make(n_long))
        assert len(short) == len(long)
        differing = [(a, b) for a, b in zip(short, long, strict=True) if a != b]
        assert 0 < len(differing) <= 20  # lengths in doc comments and entry checks, offsets
        assert all(re.sub(r"[0-9]+", "N", a) == re.sub(r"[0-9]+", "N", b) for a, b in differing)
    text = "\n".join(long)
    assert "for " in text and "core::mem::swap(" in text
    unrolled_short = make(5).to_function().generate_rust().source.count("\n")  # type: ignore[attr-defined]
    unrolled_long = make(50).to_function().generate_rust().source.count("\n")  # type: ignore[attr-defined]
    assert unrolled_long > 3 * unrolled_short  # what staging avoids


# ---- derivatives ---------------------------------------------------------------------------------------
def test_jacobian_is_an_adjoint_sweep_matching_central_differences() -> None:
    comp = mixed()
    jac = comp.jacobian()
    assert jac.name == "mixed_jacobian_x0" and jac.output_names == ("jacobian_y",)
    fd = _row_major(central_columns(comp, [X0, PARAMS], 0))
    assert jac(X0, PARAMS) == pytest.approx(fd, rel=1e-7, abs=1e-9)
    assert jac(X0, PARAMS) == pytest.approx(comp.to_function().jacobian(0)(X0, PARAMS), rel=1e-13)
    assert jac.to_function()(X0, PARAMS) == pytest.approx(jac(X0, PARAMS), rel=1e-14)
    # the table, one forward call per run, the seed, then one reversed loop per run
    steps = jac.kernel.steps
    assert [c.reverse for c in steps] == [False] * 7 + [False] + [True] * 6
    assert isinstance(jac, gg.ComposedJacobianFunction)


TRIG = {Op.SIN, Op.COS, Op.TANH}


@pytest.mark.parametrize("kind", ["jacobian", "vjp", "hvp"])
def test_adjoint_sweeps_read_a_stage_tape(kind: str) -> None:
    """With the tape (the default), the rollout records what each reversed step reads, so the
    reversed loops evaluate no sine, cosine or tanh; ``with_stage_tape(False)`` stores the
    states alone and evaluates every stage again. Both give the unrolled derivative."""
    comp = scalar_composition() if kind == "hvp" else mixed()
    args = {"jacobian": [X0, PARAMS], "vjp": [X0, PARAMS, [0.7, -1.3]], "hvp": [[0.7], WS, [1.3]]}[kind]
    unrolled = comp.to_function()
    reference = {
        "jacobian": lambda: unrolled.jacobian(0)(X0, PARAMS),
        "vjp": lambda: unrolled.vjp(wrt_index=0)(X0, PARAMS, [0.7, -1.3]),
        "hvp": lambda: unrolled.hvp(wrt_index=0)(0.7, WS, 1.3),
    }[kind]()
    plain = comp.with_stage_tape(False)
    assert comp.stage_tape and not plain.stage_tape and plain.with_stage_tape().stage_tape
    # set before the stages, the choice carries through then/repeat/finish
    early = gg.ComposedFunction("e", SXVector.sym("x0", 2)).with_stage_tape(False)
    assert not early.repeat(rotor(), params=blocks(2)).finish().stage_tape
    for variant in (comp, plain):
        derivative = getattr(variant, kind)()
        reversed_ops = set().union(*(set(c.callee.ops) for c in derivative.kernel.steps if c.reverse))
        assert bool(TRIG & reversed_ops) == (variant is plain), kind
        assert derivative(*args) == pytest.approx(reference, rel=1e-13, abs=1e-15)
    with pytest.raises(GradgenTypeError, match="with_stage_tape takes True or False, got 1"):
        comp.with_stage_tape(1)  # type: ignore[arg-type]


def test_stage_tape_workspace_per_stage() -> None:
    """Per extra stage of a repeated rotor, the workspace grows by its tape (``cos p0``, ``sin
    p0`` and the ``tanh``: 3) with the tape, by its state (2) without; a rotor whose block is
    shared by every stage hoists ``cos p0`` and ``sin p0`` out of both loops and tapes the tanh
    alone."""

    def work(k: int, taped: bool, shared: bool = False) -> int:
        q = SXVector.sym("q", 2)
        params = [q] * k if shared else blocks(k)
        comp = gg.ComposedFunction("r", SXVector.sym("x0", 2)).repeat(rotor(), params=params).finish()
        return comp.with_stage_tape(taped).jacobian().generate_rust().workspace_size

    assert work(30, True) - work(10, True) == 20 * 3
    assert work(30, False) - work(10, False) == 20 * 2
    assert work(30, True, shared=True) - work(10, True, shared=True) == 20 * 1


def test_gradient_is_the_derivative_with_respect_to_the_state() -> None:
    comp = mixed()
    grad = comp.gradient()
    assert isinstance(grad, gg.ComposedGradientFunction) and grad.name == "mixed_gradient_x0"
    assert grad(X0, PARAMS) == pytest.approx(comp.jacobian()(X0, PARAMS), rel=1e-15)
    # a scalar state: the gradient proper
    a, b = SX.sym("a"), SX.sym("b")
    g = Function("g", [a, b], [gg.sin(a) * b + a * a], ["a", "b"], ["a_next"])
    scalar = (
        gg.ComposedFunction("s", SX.sym("s0")).repeat(g, params=[SX.sym(f"w{k}") for k in range(6)]).finish()
    )
    ws = [0.3, -0.2, 0.5, 0.1, 0.4, -0.6]
    fd = central_columns(scalar, [[0.7], ws], 0)[0][0]
    assert scalar.gradient()(0.7, ws) == pytest.approx(fd, rel=1e-7)


def test_joint_shares_one_rollout() -> None:
    comp = mixed()
    joint = comp.joint(["f", "jf"])
    assert isinstance(joint, gg.ComposedJointFunction)
    assert joint.name == "mixed_joint_f_jf_x0" and joint.output_names == ("y", "jacobian_y")
    y, jac = joint(X0, PARAMS)
    assert y == pytest.approx(comp(X0, PARAMS), rel=1e-15)
    assert jac == pytest.approx(comp.jacobian()(X0, PARAMS), rel=1e-15)
    assert comp.joint(["jf"])(X0, PARAMS) == pytest.approx(jac, rel=1e-15)
    for bad in (["f", "hvp"], [], ["jf", "jf"]):
        with pytest.raises(DifferentiationError, match="distinct components among 'f' and 'jf'"):
            comp.joint(bad)
    with pytest.raises(DifferentiationError, match="wrt_index 0"):
        comp.jacobian(wrt_index=1)


def test_052_spellings_of_names_and_codegen_options(tmp_path: pathlib.Path) -> None:
    comp, pipe = mixed(), pipeline()
    assert comp.jacobian("jac").name == "jac" and comp.jacobian(0).name == "mixed_jacobian_x0"
    assert comp.gradient("g").name == "g" and pipe.gradient("pg").name == "pg"
    assert pipe.gradient(1).output_names == ("grad_acc0",) == pipe.gradient(wrt_index=1).output_names
    result = comp.generate_rust(function_name="rollout", scalar_type="f32", backend_mode="no_std")
    assert "pub fn rollout(" in result.source and "#![no_std]" in result.source and "f32" in result.source
    assert "pub fn piped(" in pipe.generate_rust(function_name="piped").source
    pipe.create_rust_project(tmp_path / "p", crate_name="p", scalar_type="f32")
    assert "f32" in (tmp_path / "p" / "src" / "lib.rs").read_text()
    assert "pub fn rollout(" in gg.generate_rust(comp, function_name="rollout").source


def test_stage_functions_are_simplified_at_the_requested_level() -> None:
    x, p = SXVector.sym("x", 2), SXVector.sym("p", 2)
    stage = Function("w", [x, p], [[x[0] + x[0] + x[0] + p[0], x[1] * p[1]]], ["x", "p"], ["y"])
    plain = gg.ComposedFunction("c", SXVector.sym("x0", 2)).repeat(stage, params=blocks(3)).finish()
    simple = gg.ComposedFunction("c", SXVector.sym("x0", 2), simplification="medium")
    simple = simple.repeat(stage, params=blocks(3)).finish()
    params = [0.5, 0.25, -0.5, 1.0, 2.0, -1.0]
    assert simple(X0, params) == pytest.approx(plain(X0, params), rel=1e-15)
    (call,) = simple.kernel.steps
    expected = stage.simplify("medium").kernel
    assert call.callee.ops == expected.ops and call.callee.ops != plain.kernel.steps[0].callee.ops


# ---- FunctionComposer ------------------------------------------------------------------------------
def _post() -> gg.Function:
    x = SXVector.sym("x", 2)
    return Function("post", [x], [[x[0] * x[0], gg.sin(x[0] * x[1])]], ["x"], ["z"])


def _summation() -> gg.Function:
    acc, z = SX.sym("acc"), SXVector.sym("z", 2)
    return Function("summation", [acc, z], [acc * 0.9 + z[0] + 2.0 * z[1]], ["acc", "z"], ["acc_next"])


def pipeline(n: int = 3) -> gg.FunctionComposition:
    mapped = gg.map_function(_post(), n, input_name="xs")
    folded = gg.reduce_function(
        _summation(), n, accumulator_input_name="acc0", input_name="z_seq", output_name="total"
    )
    return gg.FunctionComposer(mapped).feed_into(folded, arg="z_seq").compose("pipe")


def _pipeline_python(xs: list[float], acc: float) -> float:
    for k in range(len(xs) // 2):
        a, b = xs[2 * k : 2 * k + 2]
        acc = acc * 0.9 + a * a + 2.0 * math.sin(a * b)
    return acc


XS = [0.3, -0.4, 0.8, 0.2, -0.5, 0.6]


def test_pipeline_values_and_staged_stages() -> None:
    comp = pipeline()
    assert isinstance(comp, gg.FunctionComposition)
    assert comp.input_names == ("xs", "acc0") and comp.output_names == ("total",)
    assert comp(XS, 0.5) == pytest.approx(_pipeline_python(XS, 0.5), rel=1e-14)
    assert comp.to_function()(XS, 0.5) == pytest.approx(_pipeline_python(XS, 0.5), rel=1e-14)
    # each stage is called once, and the map and reduce stay loops
    assert [c.callee.name for c in comp.kernel.steps] == ["post_map", "summation_reduce"]
    assert all(c.callee.steps for c in comp.kernel.steps)
    # a composition and plain functions as stages; names default to the stage names joined
    x = SXVector.sym("x", 2)
    weigh = Function("weigh", [x, SX.sym("c")], [x[0] * SX.sym("c") + x[1]], ["y", "c"], ["out"])
    comp2 = gg.FunctionComposer(mixed()).feed_into(weigh, arg="y").compose()
    assert comp2.name == "mixed_weigh" and comp2.input_names == ("x0", "parameters", "c")
    y = _mixed_python(X0, PARAMS)
    assert comp2(X0, PARAMS, 1.5) == pytest.approx(y[0] * 1.5 + y[1], rel=1e-14)


def test_pipeline_derivatives_match_central_differences() -> None:
    comp = pipeline()
    fd = [col[0] for col in central_columns(comp, [XS, [0.5]], 0)]
    assert comp.gradient()(XS, 0.5) == pytest.approx(fd, rel=1e-7, abs=1e-9)
    fd_acc = central_columns(comp, [XS, [0.5]], 1)[0][0]
    assert comp.gradient(1)(XS, 0.5) == pytest.approx(fd_acc, rel=1e-7)
    v = [0.2, -0.1, 0.4, 0.3, -0.2, 0.1]
    grad = comp.gradient()
    hv_fd = [
        sum(c * vi for c, vi in zip(col, v, strict=True))
        for col in zip(*central_columns(grad, [XS, [0.5]], 0), strict=True)
    ]
    hvp = comp.hvp()
    assert hvp.input_names == ("xs", "acc0", "v_xs")
    assert hvp(XS, 0.5, v) == pytest.approx(hv_fd, rel=1e-6, abs=1e-8)
    hess = comp.hessian()(XS, 0.5)
    assert [sum(hess[6 * i + j] * v[j] for j in range(6)) for i in range(6)] == pytest.approx(
        hvp(XS, 0.5, v), rel=1e-12
    )


def test_pipeline_gradient_is_a_reverse_sweep_over_staged_stage_vjps() -> None:
    comp = pipeline()
    grad = comp.gradient()
    assert grad.name == "pipe_gradient_xs" and grad.output_names == ("grad_xs",)
    # the map forward, the seed, the fold's adjoint sweep, the map's loop over block VJPs
    names = [c.callee.name for c in grad.kernel.steps]
    assert names == ["post_map", "pipe_seed", "summation_reduce_vjp", "post_map_vjp"]
    fold_vjp, map_vjp = grad.kernel.steps[2].callee, grad.kernel.steps[3].callee
    assert [c.count for c in fold_vjp.steps] == [3, 3] and fold_vjp.steps[1].reverse
    assert [c.count for c in map_vjp.steps] == [3]
    for a, b in HORIZON_PAIRS:
        assert len(_lines(pipeline(a).gradient())) == len(_lines(pipeline(b).gradient()))
    # a composition as a stage: its staged VJP w.r.t. the state
    x = SXVector.sym("x", 2)
    weigh = Function("weigh", [x, SX.sym("c")], [x[0] * SX.sym("c") + x[1] * x[1]], ["y", "c"], ["out"])
    comp2 = gg.FunctionComposer(mixed()).feed_into(weigh, arg="y").compose()
    fd = [col[0] for col in central_columns(comp2, [X0, PARAMS, [1.5]], 0)]
    assert comp2.gradient(0)(X0, PARAMS, 1.5) == pytest.approx(fd, rel=1e-7, abs=1e-9)
    assert comp2.gradient(2)(X0, PARAMS, 1.5) == pytest.approx(
        central_columns(comp2, [X0, PARAMS, [1.5]], 2)[0][0]
    )
    with pytest.raises(DifferentiationError, match="offers no staged vector-Jacobian product"):
        comp2.gradient(1)  # the parameters of a composition
    # an input read by several stages: their contributions are added (a loop of additions)
    again = Function(
        "again", [SX.sym("o"), SX.sym("c")], [SX.sym("o") * gg.sin(SX.sym("c"))], ["o", "c"], ["r"]
    )
    shared = gg.FunctionComposer(weigh).feed_into(again, arg="o").compose()
    assert shared.input_names == ("y", "c")
    for wrt in (0, 1):
        staged = shared.gradient(wrt_index=wrt)
        assert staged([0.3, 0.7], 1.5) == pytest.approx(
            shared.to_function().gradient(wrt)([0.3, 0.7], 1.5), rel=1e-14
        )
    assert [c.callee.name for c in shared.gradient(1).kernel.steps][-1] == "add"
    hv = shared.hvp(1)([0.3, 0.7], 1.5, 0.4)
    assert hv == pytest.approx(shared.to_function().hvp(1)([0.3, 0.7], 1.5, 0.4), rel=1e-13)
    xs_twice = (
        gg.FunctionComposer(gg.map_function(_post(), 3, input_name="xs"))
        .feed_into(
            Function(
                "dot",
                [SXVector.sym("z", 6), SXVector.sym("w", 6)],
                [gg.dot(SXVector.sym("z", 6), SXVector.sym("w", 6))],
                ["z", "xs"],
                ["d"],
            ),
            arg="z",
        )
        .compose()
    )
    assert xs_twice.gradient()(XS) == pytest.approx(xs_twice.to_function().gradient(0)(XS), rel=1e-14)
    (add,) = [c for c in xs_twice.gradient().kernel.steps if c.callee.name == "add"]
    assert add.count == 6  # one loop over the elements
    with pytest.raises(DifferentiationError, match="needs one scalar output"):
        gg.FunctionComposer(mixed()).compose().gradient(0)
    v = mixed().vjp()
    assert v.input_names == ("x0", "parameters", "cotangent_y") and v.output_names == ("vjp_x0",)
    jac = mixed().jacobian()(X0, PARAMS)
    assert v(X0, PARAMS, [0.7, -1.3]) == pytest.approx(
        [0.7 * jac[j] - 1.3 * jac[2 + j] for j in range(2)], rel=1e-14
    )


def test_pipeline_hvp_is_forward_over_adjoint_with_loops_kept() -> None:
    comp = pipeline()
    hvp = comp.hvp()
    assert hvp.name == "pipe_hvp_xs" and hvp.input_names == ("xs", "acc0", "v_xs")
    assert hvp.output_names == ("hvp_xs",)
    # every call of the gradient calls its callee's tangent; the sweeps stay loops
    steps = hvp.kernel.steps
    assert [c.callee.name for c in steps] == [
        "post_map_tangent",
        "pipe_seed_tangent",
        "summation_reduce_vjp_tangent",
        "post_map_vjp_tangent",
    ]
    fold = steps[2].callee
    # the accumulator starts without a tangent (zeros), then the rollout and the reversed sweep
    # each carry a state and its tangent
    assert [(c.count, c.reverse, len(c.carries)) for c in fold.steps] == [
        (1, False, 0),
        (3, False, 2),
        (3, True, 2),
    ]
    for a, b in HORIZON_PAIRS:
        assert len(_lines(pipeline(a).hvp())) == len(_lines(pipeline(b).hvp()))
    v = [0.2, -0.1, 0.4, 0.3, -0.2, 0.1]
    assert hvp(XS, 0.5, v) == pytest.approx(comp.to_function().hvp(0)(XS, 0.5, v), rel=1e-13)
    assert comp.hvp(tangent_name="dir").input_names[-1] == "dir"
    # through a composition's sweep (runs, a numeric table, a shared slot) and a plain stage
    x = SXVector.sym("x", 2)
    weigh = Function("weigh", [x, SX.sym("c")], [x[0] * SX.sym("c") + x[1] * x[1]], ["y", "c"], ["out"])
    comp2 = gg.FunctionComposer(mixed()).feed_into(weigh, arg="y").compose()
    for wrt, args in ((0, [X0, PARAMS, 1.5, [0.3, 0.9]]), (2, [X0, PARAMS, 1.5, 0.8])):
        expected = comp2.to_function().hvp(wrt)(*args)
        assert comp2.hvp(wrt)(*args) == pytest.approx(expected, rel=1e-12, abs=1e-14)
    with pytest.raises(DifferentiationError, match="is an input name"):
        comp.hvp(tangent_name="acc0")


def scalar_composition() -> gg.ComposedFunction:
    a, b = SX.sym("a"), SX.sym("b")
    g = Function("g", [a, b], [gg.sin(a) * b + a * a], ["a", "b"], ["a_next"])
    return (
        gg.ComposedFunction("s", SX.sym("s0")).repeat(g, params=[SX.sym(f"w{k}") for k in range(6)]).finish()
    )


WS = [0.3, -0.2, 0.5, 0.1, 0.4, -0.6]


def test_hvp_of_a_scalar_composition_matches_central_differences() -> None:
    comp = scalar_composition()
    hvp = comp.hvp()
    assert hvp.input_names == ("s0", "parameters", "v_s0") and hvp.output_names == ("hvp_s0",)
    fd = central_columns(comp.gradient(), [[0.7], WS], 0)[0][0]
    assert hvp(0.7, WS, 1.3) == pytest.approx(1.3 * fd, rel=1e-7)
    with pytest.raises(DifferentiationError, match="needs a scalar state"):
        mixed().hvp()


def test_the_tangent_of_a_staged_kernel_is_staged() -> None:
    from gradgen.passes.staged_forward import tangent_kernel

    fold = gg.reduce_function(_summation(), 5)
    tangent = tangent_kernel(fold.kernel, [1])
    zeros, call = tangent.steps  # the accumulator's tangent starts at zero
    assert zeros.count == 1 and zeros.callee.name == "zeros"
    assert call.count == 5 and len(call.carries) == 2  # the accumulator and its tangent
    assert tangent.inputs[-1].name == "d_z_seq" and tangent.outputs[-1].name == "d_acc_next"
    zs, dz = [0.1 * k for k in range(10)], [1.0 - 0.1 * k for k in range(10)]
    value, derivative = gg.Function.from_kernel(tangent)(0.5, zs, dz)
    assert value == fold(0.5, zs)
    unrolled = fold.to_function().jvp(wrt_index=1)
    assert derivative == pytest.approx(unrolled(0.5, zs, dz), rel=1e-14)


# ---- compiled Rust -------------------------------------------------------------------------------------
def _cases() -> list[tuple[str, gg.Function, list[list[float]]]]:
    comp = mixed()
    repeat = gg.ComposedFunction("rep", SXVector.sym("x0", 2)).repeat(rotor(), params=blocks(9)).finish()
    rep_params = [0.05 * (k + 1) for k in range(18)]
    return [
        ("composed", comp.function, [X0, PARAMS]),
        ("composed_jacobian", comp.jacobian().function, [X0, PARAMS]),
        ("composed_jacobian_lean", comp.with_stage_tape(False).jacobian().function, [X0, PARAMS]),
        ("composed_joint", comp.joint(["f", "jf"]).function, [X0, PARAMS]),
        ("repeated", repeat.function, [X0, rep_params]),
        ("repeated_gradient", repeat.gradient().function, [X0, rep_params]),
        ("piped", pipeline(4).function, [[*XS, 0.1, 0.9], [0.5]]),
        ("piped_gradient", pipeline(4).gradient().function, [[*XS, 0.1, 0.9], [0.5]]),
        ("composed_vjp", comp.vjp().function, [X0, PARAMS, [0.7, -1.3]]),
        (
            "piped_hvp",
            pipeline(4).hvp().function,
            [[*XS, 0.1, 0.9], [0.5], [0.2, -0.1, 0.4, 0.3, -0.2, 0.1, 0.5, -0.3]],
        ),
        ("scalar_hvp", scalar_composition().hvp().function, [[0.7], WS, [1.3]]),
    ]


def _build_and_run(
    root: pathlib.Path, scalar: str, mode: str
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    config = RustBackendConfig().with_scalar_type(scalar).with_backend_mode(mode)

    def check(source: str, kernels: list[object]) -> None:
        assert "unsafe" not in source.replace("#![forbid(unsafe_code)]", "")
        assert "panic!" not in source and ".unwrap()" not in source

    return build_and_compare(root, f"composed_{scalar}_{mode}", _cases(), config, check=check)


@pytest.mark.parametrize(
    ("scalar", "mode"), [("f64", "std"), ("f32", "no_std"), ("f64", "no_std"), ("f32", "std")]
)
def test_compiled_rust_equals_python(
    tmp_path: pathlib.Path, cargo_available: None, scalar: str, mode: str
) -> None:
    rust, python = _build_and_run(tmp_path, scalar, mode)
    rel, abs_ = (1e-13, 1e-15) if scalar == "f64" else (1e-4, 1e-5)
    for label, ref in python.items():
        assert rust[label] == pytest.approx(ref, rel=rel, abs=abs_), label


def test_builder_accepts_compositions(tmp_path: pathlib.Path, cargo_available: None) -> None:
    comp, pipe = mixed(), pipeline()
    builder = (
        gg.CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_crate_name("comp"))
        .for_function(comp)
        .add_primal()
        .add_jacobian(wrt=0)
        .add_joint(gg.FunctionBundle().add_f().add_jf(wrt=0))
        .done()
        .for_function(pipe)
        .add_primal()
        .add_gradient(wrt=0)
        .add_hvp(wrt=0)
        .done()
    )
    crate = builder.generate()
    assert crate.function_names == (
        "comp_mixed_f",
        "comp_mixed_jf_x0",
        "comp_mixed_f_jf_x0",
        "comp_pipe_f",
        "comp_pipe_grad_xs",
        "comp_pipe_hvp_xs",
    )
    assert rustfmt_check(crate.source) is None
    lib = gg.compile(builder, build_dir=tmp_path / "cache", env=cargo_env())
    assert lib.comp_mixed_f(X0, PARAMS) == pytest.approx(comp(X0, PARAMS), rel=1e-13)
    assert lib.comp_mixed_jf_x0(X0, PARAMS) == pytest.approx(comp.jacobian()(X0, PARAMS), rel=1e-12)
    y, jac = lib.comp_mixed_f_jf_x0(X0, PARAMS)
    assert y == pytest.approx(comp(X0, PARAMS), rel=1e-13)
    assert jac == pytest.approx(comp.jacobian()(X0, PARAMS), rel=1e-12)
    with pytest.raises(DifferentiationError, match=r"takes f and jf w\.r\.t\. its state"):
        bundle = gg.FunctionBundle().add_f().add_jf(wrt=1)
        gg.CodeGenerationBuilder().for_function(comp).add_joint(bundle).done().generate("comp")
    assert lib.comp_pipe_f(XS, 0.5) == pytest.approx(pipe(XS, 0.5), rel=1e-13)
    assert lib.comp_pipe_grad_xs(XS, 0.5) == pytest.approx(pipe.gradient()(XS, 0.5), rel=1e-12)
    v = [0.2, -0.1, 0.4, 0.3, -0.2, 0.1]
    assert lib.comp_pipe_hvp_xs(XS, 0.5, v) == pytest.approx(pipe.hvp()(XS, 0.5, v), rel=1e-12)
    with pytest.raises(DifferentiationError, match=r"not the jacobian w\.r\.t\. input 1"):
        gg.CodeGenerationBuilder().for_function(comp).add_jacobian(wrt=1).done().generate("comp")
    with pytest.raises(DifferentiationError, match="offers no staged jacobian"):
        gg.CodeGenerationBuilder().for_function(pipe).add_jacobian(wrt=0).done().generate("comp")


def test_create_rust_project_writes_the_staged_crate(tmp_path: pathlib.Path) -> None:
    comp = mixed()
    result = comp.create_rust_project(tmp_path / "crate", crate_name="mixed_crate")
    lib = (tmp_path / "crate" / "src" / "lib.rs").read_text()
    assert (
        "pub fn mixed(" in lib
        and "for " in lib
        and result.generation.workspace_size == comp.generate_rust().workspace_size
    )
    pipe = pipeline()
    pipe.create_rust_project(tmp_path / "pipe", crate_name="pipe_crate")
    assert "pub fn pipe(" in (tmp_path / "pipe" / "src" / "lib.rs").read_text()


def test_dump_tool_prints_a_composition(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gradgen.dump import main as dump_main

    target = tmp_path / "target.py"
    target.write_text(
        "import gradgen as gg\n"
        "x, p = gg.SXVector.sym('x', 2), gg.SXVector.sym('p', 2)\n"
        "g = gg.Function('g', [x, p], [[x[0] * p[0], x[1] + p[1]]], ['x', 'p'], ['y'])\n"
        "blocks = [gg.SXVector.sym(f'q{k}', 2) for k in range(6)]\n"
        "comp = gg.ComposedFunction('comp', gg.SXVector.sym('x0', 2)).repeat(g, params=blocks).finish()\n"
    )
    assert dump_main([f"{target}:comp"]) == 0
    out = capsys.readouterr().out
    assert "kernel comp(x0[2], parameters[12]) -> (y[2])" in out
    assert "s0 = loop k in 6: call g(carry, in1[0+2k;2]) -> (carry)" in out


# ---- errors ------------------------------------------------------------------------------------------------
def test_wrong_sizes_fail_with_the_librarys_errors_before_anything_is_written(tmp_path: pathlib.Path) -> None:
    g, start = rotor(), gg.ComposedFunction("c", SXVector.sym("x0", 2))
    x3 = SXVector.sym("x", 3)
    wide = Function("wide", [x3, SXVector.sym("p", 2)], [x3], ["x", "p"], ["y"])
    with pytest.raises(FunctionDefinitionError, match="takes a state of 3 element"):
        start.then(wide, p=[1.0, 2.0])
    x2 = SXVector.sym("x", 2)
    grow = Function("grow", [x2, SXVector.sym("p", 2)], [[x2[0], x2[1], 1.0]], ["x", "p"], ["y"])
    with pytest.raises(FunctionDefinitionError, match=r"must return one state of 2 element\(s\)"):
        start.then(grow, p=[1.0, 2.0])
    with pytest.raises(FunctionDefinitionError, match=r"at least one parameter block \(K >= 1\)"):
        start.repeat(g, params=[])
    with pytest.raises(FunctionDefinitionError, match="takes 2 parameter"):
        start.then(g, p=[1.0])
    with pytest.raises(FunctionDefinitionError, match="give them"):
        start.then(g)
    with pytest.raises(FunctionDefinitionError, match="takes no parameters"):
        start.then(squash(), p=[1.0])
    with pytest.raises(FunctionDefinitionError, match="at least one stage"):
        start.finish()
    with pytest.raises(FunctionDefinitionError, match="not finished"):
        start.then(g, p=[1.0, 2.0]).to_function()
    with pytest.raises(FunctionDefinitionError, match="already finished"):
        start.then(g, p=[1.0, 2.0]).finish().then(g, p=[1.0, 2.0])
    with pytest.raises(FunctionDefinitionError, match="must be a symbol or a number, got the expression"):
        start.then(g, p=[SX.sym("a") * 2.0, 1.0])
    with pytest.raises(FunctionDefinitionError, match="also a state symbol"):
        start.then(g, p=[SX.sym("x0_0"), 1.0])
    with pytest.raises(GradgenTypeError, match="must be a gradgen Function"):
        start.then("rotor", p=[1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(GradgenTypeError, match="must be a list"):
        start.repeat(g, params={1.0, 2.0})
    # mismatched packed lengths at call time
    comp = mixed()
    with pytest.raises(
        EvaluationArgumentError, match=r"argument 'parameters' of 'mixed' has length 9, expected 10"
    ):
        comp(X0, PARAMS[:9])
    with pytest.raises(EvaluationArgumentError, match="has length 3, expected 2"):
        comp.jacobian()([1.0, 2.0, 3.0], PARAMS)
    # FunctionComposer: the output of a stage must match the input it feeds
    mapped = gg.map_function(_post(), 3)
    folded = gg.reduce_function(_summation(), 4)
    with pytest.raises(FunctionDefinitionError, match=r"returns 6 element\(s\) but input 'z_seq'"):
        gg.FunctionComposer(mapped).feed_into(folded, arg="z_seq")
    with pytest.raises(FunctionDefinitionError, match="has no input 'nope'"):
        gg.FunctionComposer(mapped).feed_into(folded, arg="nope")
    with pytest.raises(GradgenTypeError, match="a stage must be a Function"):
        gg.FunctionComposer(42)
    two = Function("two", [x2], [x2[0], x2[1]], ["x"], ["a", "b"])
    with pytest.raises(FunctionDefinitionError, match="must have exactly one"):
        gg.FunctionComposer(two).feed_into(_post(), arg="x")
    other = Function(
        "other", [SXVector.sym("z", 6), SXVector.sym("xs", 3)], [SX.sym("xs_0")], ["z", "x_seq"], ["o"]
    )
    with pytest.raises(FunctionDefinitionError, match="input 'x_seq' of 'other' has 3 element"):
        gg.FunctionComposer(mapped).feed_into(other, arg="z").compose()
    with pytest.raises(gg.StagedKernelError):
        comp.function.gradient(0)
    assert not any(tmp_path.iterdir())  # nothing written
