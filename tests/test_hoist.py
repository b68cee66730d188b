"""``ir.hoist``: values of the loop-invariant inputs (the parameters of a horizon, a shared
parameter block) computed once, in a prologue before the loop, instead of once per stage; and
never on the tape of an adjoint sweep."""

from __future__ import annotations

import itertools
import math
import pathlib
import random

import pytest

import gradgen as gg
from gradgen.config import RustBackendConfig
from gradgen.dump import main as dump_main
from gradgen.ir.hoist import (
    HOISTED,
    INVARIANT,
    hoist_loops,
    hoisted_values,
    invariant_ports,
    invariant_values,
    split_invariant,
)
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.ops import EXPENSIVE, Op
from gradgen.ir.printer import format_module
from gradgen.ir.staged import Call, Ref, module_of, unrolled
from gradgen.ir.tape import split_tape
from gradgen.ir.verify import verify
from gradgen.staged import StagedFunction
from tests.random_programs import RandomDraw, general_program, input_point
from tests.staged_crates import HORIZON_PAIRS, build_and_compare, central_columns
from tests.test_tape import STAGE_OPS, _same, _scalar_ports

SX, SXVector, Function = gg.SX, gg.SXVector, gg.Function


# ---- the rule ---------------------------------------------------------------------------------
def _stage() -> tuple[Kernel, dict[str, int]]:
    """``(x[1], p[3]) -> (y[1], z[1])`` with parameter-only values of every kind: ``-p0`` and
    ``p0 p1`` (one cheap op each), ``sin(p2)`` (expensive), ``(p0 + p1) p2`` (a chain of two
    cheap ops), ``exp(p1)`` (an output of its own) and ``p0 + 1`` read only by the chain's
    neighbour ``sqrt(p0 + 1)``."""
    b = KernelBuilder()
    x = b.input(0, 0)
    p0, p1, p2 = (b.input(1, j) for j in range(3))
    v = {
        "neg": b.neg(p0),
        "prod": b.mul(p0, p1),
        "sin": b.emit(Op.SIN, [p2]),
        "chain": b.mul(b.add(p0, p1), p2),
        "exp": b.emit(Op.EXP, [p1]),
        "root": b.emit(Op.SQRT, [b.add(p0, b.const(1.0))]),
    }
    y = b.sum([b.mul(x, v[k]) for k in ("neg", "prod", "sin", "chain", "root")])
    k = b.finish("stage", (Port("x", 1), Port("p", 3)), (Port("y", 1), Port("z", 1)), [[y], [v["exp"]]])
    # every instruction is live, so the builder's ids are the kernel's
    assert len(k.ops) == len(b.ops) and k.ops[v["sin"]] is Op.SIN and k.ops[v["chain"]] is Op.MUL
    return k, v


def test_only_values_worth_a_slot_are_hoisted() -> None:
    """Hoisted: an expensive op or a chain of two ops or more; recomputed per stage: a single
    cheap op of inputs (``-p0``, ``p0 p1``: a workspace slot costs a load, about what they cost)."""
    k, ids = _stage()
    got = hoisted_values(k, [1])
    assert got == sorted(ids[n] for n in ("sin", "chain", "exp", "root"))
    assert not {ids["neg"], ids["prod"]} & set(got)
    # nothing is invariant when the parameters change per stage
    assert hoisted_values(k, []) == [] and hoisted_values(k, [0]) == []


def test_the_prologue_and_the_body_compute_the_stage() -> None:
    k, _ = _stage()
    split = split_invariant(k, [1])
    assert split is not None and split.ports == (1,)
    pro, body = split.prologue, split.body
    assert pro.name == "stage_prologue" and [p.name for p in pro.inputs] == ["p"]
    assert [(p.name, p.size) for p in pro.outputs] == [(HOISTED, 4)]
    assert [p.name for p in body.inputs] == ["x", "p", HOISTED] and body.outputs == k.outputs
    # the body computes no expensive op and keeps the two single cheap ones
    assert not EXPENSIVE & set(body.ops) and {Op.NEG, Op.MUL} <= set(body.ops)
    rng = random.Random(5)
    for _ in range(20):
        x, p = [rng.uniform(-2, 2)], [rng.uniform(0, 2) for _ in range(3)]
        hoisted = run(pro, [p])[0]
        got = run(body, [x, p, hoisted])
        assert got == run(k, [x, p])
        y = x[0] * (-p[0] + p[0] * p[1] + math.sin(p[2]) + (p[0] + p[1]) * p[2] + math.sqrt(p[0] + 1))
        assert got[0][0] == pytest.approx(y, rel=1e-14) and got[1] == [math.exp(p[1])]


def test_a_taken_port_name_is_not_reused() -> None:
    b = KernelBuilder()
    x, p = b.input(0, 0), b.input(1, 0)
    k = b.finish("s", (Port("x", 1), Port(HOISTED, 1)), (Port("y", 1),), [[b.mul(x, b.emit(Op.EXP, [p]))]])
    split = split_invariant(k, [1])
    assert split is not None and split.body.inputs[-1].name == f"_{HOISTED}"


def _loop(count: int, stride: int) -> Kernel:
    k, _ = _stage()
    call = Call(
        k, count, (Ref("in", 0, 0, 1), Ref("in", 1, 0, stride)), (Ref("out", 0, 0, 1), Ref("out", 1, 0, 1))
    )
    ports = (Port("x_seq", count), Port("p", 3 if not stride else 3 * count))
    outs = (Port("y_seq", count), Port("z_seq", count))
    return Kernel("loop", ports, outs, [], [], [], [[], []], steps=(call,))


def test_a_loop_gets_a_prologue_call_and_keeps_its_values() -> None:
    staged = _loop(5, 0)
    hoisted = hoist_loops(staged)
    verify(hoisted, "test")
    pro, body = hoisted.steps
    assert pro.count == 1 and pro.inputs == (Ref("in", 1),) and pro.outputs == (Ref("tmp", 0),)
    assert hoisted.temps == (4,) and body.count == 5 and body.inputs[-1] == Ref("tmp", 0)
    assert invariant_ports(body) == [1, 2]
    # hoisting again changes nothing: the body's invariant values are single cheap ops
    assert hoist_loops(hoisted) is hoisted
    rng = random.Random(2)
    xs, p = [rng.uniform(-1, 1) for _ in range(5)], [0.3, 0.7, 1.1]
    assert run(hoisted, [xs, p]) == run(staged, [xs, p]) == run(unrolled(hoisted), [xs, p])
    # per stage the loop body evaluates no expensive op; the prologue does, once
    assert not EXPENSIVE & set(body.callee.ops)
    assert [op for op in pro.callee.ops if op in EXPENSIVE] == [Op.SIN, Op.EXP, Op.SQRT]


@pytest.mark.parametrize(("count", "stride"), [(1, 0), (5, 3)])
def test_no_prologue_without_a_loop_or_without_an_invariant_input(count: int, stride: int) -> None:
    """One call (``count == 1``) runs its values once anyway; per-stage parameter blocks
    (stride 3) are not invariant; a map or a fold has no invariant input."""
    staged = _loop(count, stride)
    assert hoist_loops(staged) is staged
    a, v = SX.sym("a"), SXVector.sym("v", 2)
    fold = gg.reduce_function(Function("f", [a, v], [a * gg.cos(v[0]) + gg.exp(v[1])], ["a", "v"], ["o"]), 4)
    assert len(fold.kernel.steps) == 1 and len(fold.gradient(1).kernel.steps) == 3
    assert all(not s.callee.name.endswith("_prologue") for s in fold.gradient(1).kernel.steps)


# ---- single shooting: a model with expensive parameter-only values --------------------------------
def _rocket(p_direct: bool = False) -> gg.SingleShootingProblem:
    """A damped oscillator ``x = (position, speed)`` whose coefficients are expensive functions of
    the parameters ``p = (k, c, m, b)``: stiffness ``exp(k)``, damping ``sqrt(c)``, input gain
    ``cos(b) / m``. With ``p_direct``, the same model with those coefficients given directly as
    the parameters (what a perfect hoisting reduces the stage to)."""
    x, u, p = SXVector.sym("x", 2), SXVector.sym("u", 1), SXVector.sym("p", 4)
    if p_direct:
        stiff, damp, gain = p[0], p[1], p[2]
    else:
        stiff, damp, gain = gg.exp(p[0]), gg.sqrt(p[1]), gg.cos(p[3]) / p[2]
    dt = 0.05
    acc = -stiff * gg.sin(x[0]) - damp * x[1] + gain * gg.tanh(u[0])
    f = Function("osc", [x, u, p], [[x[0] + dt * x[1], x[1] + dt * acc]], ["x", "u", "p"], ["x_next"])
    ell = Function("ell", [x, u, p], [x[0] ** 2 + 0.1 * x[1] ** 2 + 0.01 * u[0] ** 2], ["x", "u", "p"], ["l"])
    vf = Function("vf", [x, p], [10.0 * (x[0] ** 2 + x[1] ** 2)], ["x", "p"], ["v"])
    return gg.SingleShootingProblem("osc").with_horizon(8).with_dynamics(f).with_costs(ell, vf)


def _tape(fn: StagedFunction) -> int:
    """The tape per stage: the rollout's ``tape`` (in the workspace) and ``tape_<output>`` (in
    the stage's element of the output) together."""
    sizes = [p.size for s in fn.kernel.steps for p in s.callee.outputs if p.name.startswith("tape")]
    assert len(sizes) == 2
    return sum(sizes)


def _work(problem: gg.SingleShootingProblem, kind: str, n: int) -> int:
    p = problem.with_horizon(n)
    fn = p.gradient() if kind == "gradient" else p.hvp()
    return fn.generate_rust().workspace_size


@pytest.mark.parametrize("kind", ["gradient", "hvp"])
def test_the_tape_has_no_per_stage_term_for_parameter_only_values(kind: str) -> None:
    """The tape of the model with ``exp(k)``, ``sqrt(c)``, ``cos(b) / m`` is the tape of the
    same model given those three coefficients as parameters: the expensive parameter-only values
    cost nothing per stage (each was a tape slot per stage, 3 in all, before hoisting)."""
    model, direct = _rocket(), _rocket(p_direct=True)
    fn = model.gradient() if kind == "gradient" else model.hvp()
    ref = direct.gradient() if kind == "gradient" else direct.hvp()
    # the gradient: sin(x0), tanh(u) and two products; the HVP: 7 values
    per_stage = {"gradient": 4, "hvp": 7}[kind]
    assert _tape(fn) == _tape(ref) == per_stage
    # the workspace grows by the tape per stage (but the value kept in the output's element,
    # the control being a scalar), as for the model without those values
    for problem in (model, direct):
        assert _work(problem, kind, 21) - _work(problem, kind, 20) == per_stage - 1
    back = fn.kernel.steps[-1]
    assert back.reverse and back.callee.inputs[-1].name == HOISTED
    # the cut without the invariant inputs (before hoisting) tapes the three values per stage
    if kind == "gradient":
        joint = model._adjoint(model.dynamics, model.stage_cost)  # type: ignore[arg-type]
        assert [p.name for p in joint.kernel.inputs] == ["x", "u", "p", "lam"]
        assert split_tape(joint.kernel, [3], [1, 2]).tape_size == per_stage + 3
        assert split_tape(joint.kernel, [3], [1, 2], [2]).tape_size == per_stage
    # every expensive op of a parameter alone runs in a prologue, never in a loop
    loops = [s for s in fn.kernel.steps if s.count > 1]
    prologues = [s for s in fn.kernel.steps if s.callee.name.endswith("_prologue")]
    assert len(prologues) == len(loops) == 2 and all(s.count == 1 for s in prologues)
    for call in loops:
        k = call.callee
        inv = invariant_values(k, invariant_ports(call))
        assert not [op for op, i in zip(k.ops, inv, strict=True) if op in EXPENSIVE and i == INVARIANT]
        assert Op.EXP not in k.ops and Op.SQRT not in k.ops


@pytest.mark.parametrize("kind", ["primal", "gradient", "hvp"])
def test_values_equal_the_unrolled_function_and_central_differences(kind: str) -> None:
    problem = _rocket()
    n = problem.horizon
    assert n is not None
    rng = random.Random(11)
    x0, p = [0.4, -0.2], [0.3, 0.5, 1.5, 0.2]
    us = [rng.uniform(-1, 1) for _ in range(n)]
    v = [rng.uniform(-1, 1) for _ in range(n)]
    ref = problem.to_function()
    if kind == "primal":
        got = problem.primal()(x0, us, p)
        assert got == pytest.approx(ref(x0, us, p), rel=1e-14)
        return
    if kind == "gradient":
        fn = problem.gradient()
        got = fn(x0, us, p)
        assert got == pytest.approx(ref.gradient(1)(x0, us, p), rel=1e-12, abs=1e-15)
        cols = central_columns(lambda *a: problem.primal()(*a), [x0, us, p], 1)
        assert got == pytest.approx([c[0] for c in cols], rel=1e-6, abs=1e-8)
        return
    fn = problem.hvp()
    got = fn(x0, us, p, v)
    assert got == pytest.approx(ref.hvp(1)(x0, us, p, v), rel=1e-12, abs=1e-15)
    grad = problem.gradient()
    h = 1e-5
    plus = grad(x0, [a + h * b for a, b in zip(us, v, strict=True)], p)
    minus = grad(x0, [a - h * b for a, b in zip(us, v, strict=True)], p)
    assert got == pytest.approx(
        [(a - b) / (2 * h) for a, b in zip(plus, minus, strict=True)], rel=1e-6, abs=1e-8
    )


def test_the_generated_code_does_not_grow_with_the_horizon() -> None:
    for kind, pair in itertools.product(("gradient", "hvp"), HORIZON_PAIRS):
        lines = []
        for n in pair:  # of one parity: an odd horizon runs its last stage apart
            p = _rocket().with_horizon(n)
            fn = p.gradient() if kind == "gradient" else p.hvp()
            src = fn.generate_rust().source
            assert "_prologue(" in src
            lines.append(len(src.splitlines()))
        assert abs(lines[1] - lines[0]) <= 2, (kind, lines)


# ---- compositions: one parameter block shared by every stage ------------------------------------
def _rotor() -> Function:
    x, q = SXVector.sym("x", 2), SXVector.sym("q", 2)
    return Function(
        "rotor",
        [x, q],
        [
            [
                x[0] * gg.cos(q[0]) - x[1] * gg.sin(q[0]) + q[1],
                gg.tanh(x[0] * gg.sin(q[0]) + x[1] * gg.cos(q[0])),
            ]
        ],
        ["x", "q"],
        ["x_next"],
    )


def _shared(k: int = 6) -> gg.ComposedFunction:
    q = SXVector.sym("q", 2)
    return gg.ComposedFunction("spin", SXVector.sym("x0", 2)).repeat(_rotor(), params=[q] * k).finish()


def test_a_shared_parameter_block_is_hoisted_in_the_composition_and_its_derivatives() -> None:
    comp = _shared()
    x0, q = [0.3, -0.4], [0.7, 0.1]
    for fn, args in (
        (comp.primal, [x0, q]),
        (comp.jacobian(), [x0, q]),
        (comp.vjp(), [x0, q, [1.0, -2.0]]),
    ):
        loops = [s for s in fn.kernel.steps if s.count > 1]
        assert loops and all(not {Op.SIN, Op.COS} & set(s.callee.ops) for s in loops)
        assert fn(*args) == pytest.approx(fn.to_function()(*args), rel=1e-14, abs=1e-15)
    jac = comp.jacobian()(x0, q)
    cols = central_columns(lambda *a: comp(*a), [x0, q], 0)
    assert jac == pytest.approx([cols[j][i] for i in range(2) for j in range(2)], rel=1e-6, abs=1e-8)


# ---- the crate -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scalar", "mode"), [("f64", "std"), ("f64", "no_std"), ("f32", "std"), ("f32", "no_std")]
)
def test_compiled_kernels_with_prologues_equal_python(
    scalar: str, mode: str, tmp_path: pathlib.Path, cargo_available: None
) -> None:
    problem, comp = _rocket(), _shared()
    n = problem.horizon
    assert n is not None
    rng = random.Random(4)
    us = [rng.uniform(-1, 1) for _ in range(n)]
    v = [rng.uniform(-1, 1) for _ in range(n)]
    shooting = [[0.4, -0.2], us, [0.3, 0.5, 1.5, 0.2]]
    cases = [
        ("osc_f", problem.primal(), shooting),
        ("osc_grad", problem.gradient(), shooting),
        ("osc_hvp", problem.hvp(), [*shooting, v]),
        ("spin_f", comp.primal, [[0.3, -0.4], [0.7, 0.1]]),
        ("spin_jf", comp.jacobian(), [[0.3, -0.4], [0.7, 0.1]]),
    ]

    def check(source: str, kernels: list[Kernel]) -> None:
        # the stage helpers of the loops and their prologues, each once in the module
        assert source.count("fn osc_grad_osc_adjoint_prologue(") == 1
        assert source.count("osc_grad_osc_adjoint_prologue(") == 2  # defined, called once
        names = {k.name for root in kernels for k in module_of([root])}
        assert {n for n in names if n.endswith("_prologue")} >= {"osc_adjoint_prologue", "rotor_prologue"}

    config = RustBackendConfig().with_scalar_type(scalar).with_backend_mode(mode).with_crate_name("hoisted")
    rust, python = build_and_compare(tmp_path, "hoisted", cases, config, check=check)
    tol = 1e-12 if scalar == "f64" else 2e-4
    for label, want in python.items():
        assert rust[label] == pytest.approx(want, rel=tol, abs=tol), label


# ---- the IR, the interpreter and the dump tool ----------------------------------------------------
def test_ir_snapshot_of_a_gradient_with_prologues(ir_snapshot) -> None:
    fn = _rocket().with_horizon(3).gradient()
    text = format_module([fn.kernel])
    assert "call osc_adjoint_prologue(in2[0;4]) -> (t" in text
    assert f"{HOISTED}[" in text
    assert text == ir_snapshot


def test_the_dump_tool_prints_the_prologue(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "target.py"
    target.write_text(
        "import gradgen as gg\n"
        "q, x = gg.SXVector.sym('q', 2), gg.SXVector.sym('x', 2)\n"
        "y = [x[0] * gg.cos(q[0]) + q[1], x[1] * gg.exp(q[1])]\n"
        "g = gg.Function('g', [x, q], [y], ['x', 'q'], ['y'])\n"
        "comp = gg.ComposedFunction('c', gg.SXVector.sym('x0', 2)).repeat(g, params=[q] * 4).finish()\n"
    )
    assert dump_main([f"{target}:comp"]) == 0
    out = capsys.readouterr().out
    assert out.index("kernel g_prologue(q[2]) -> (hoisted[2])") < out.index("kernel c(")
    assert "  s0 = call g_prologue(in1[0;2]) -> (t3[0;2])\n" in out
    assert "  s1 = loop k in 4: call g(carry, in1[0;2], t3[0;2]) -> (carry)\n" in out


def test_staged_function_lowers_through_hoisting_once() -> None:
    """``StagedFunction`` applies ``hoist_loops`` to the kernel it is given, so a kernel built
    by hand gets its prologue too, and an already hoisted one is taken as it is."""
    staged = StagedFunction(_loop(4, 0), Function("id", [SX.sym("a")], [SX.sym("a")]), 4)
    assert [s.callee.name for s in staged.kernel.steps] == ["stage_prologue", "stage"]
    again = StagedFunction(staged.kernel, staged.stage, 4)
    assert again.kernel is staged.kernel


# ---- the tape cut with invariant inputs, on random stage kernels --------------------------------
@pytest.mark.parametrize("seed", range(24))
def test_random_stage_kernels_with_invariant_inputs_never_tape_their_values(seed: int) -> None:
    """Random VJPs (or JVPs) split with random free inputs, some of them invariant: the halves
    still compute the kernel, the reverse half reads no tape value computed from the invariant
    inputs alone, and the tape is never longer than without the invariant inputs."""
    d = RandomDraw(9_300_000 + seed)
    program = general_program(d, smooth=True, max_nodes=40, ops=STAGE_OPS, every_output=seed % 2 == 0)
    fn = program.function(f"r{seed}")
    base = fn.vjp(wrt_index=0) if seed % 3 else fn.jvp(wrt_index=0)
    k = _scalar_ports(base.kernel)
    rng = random.Random(seed)
    late = list(range(program.n_inputs, len(k.inputs)))
    free = [p for p in range(program.n_inputs) if rng.random() < 0.6]
    fixed = [p for p in free if rng.random() < 0.5]
    cut, plain = split_tape(k, late, free, fixed), split_tape(k, late, free)
    assert cut.tape_size <= plain.tape_size
    # no tape entry is a value of the invariant inputs alone
    early = [p for p in range(len(k.inputs)) if p not in late]
    inv = invariant_values(cut.forward, [early.index(p) for p in fixed])
    assert not any(inv[v] == INVARIANT for v in cut.forward.results[0][: cut.tape_size])
    for _ in range(3):
        point = input_point(d, program, special=False)
        values = [[v] for v in point] + [[rng.uniform(-2, 2)] for _ in late]
        tape = run(cut.forward, [values[p] for p in early])[0]
        args = [values[p] for p in cut.kept] + ([tape] if cut.tape_size else []) + [values[p] for p in late]
        assert _same(run(cut.reverse, args), run(k, values))


def test_a_runtime_penalty_weight_and_the_parameters_are_hoisted_together() -> None:
    """With ``c`` a runtime input, the loops read the parameters and ``c`` packed in one
    temporary (stride 0): still invariant, still hoisted, values unchanged."""
    x, u, p = SXVector.sym("x", 2), SXVector.sym("u", 1), SXVector.sym("p", 4)
    q = Function("q", [x, u, p], [[gg.exp(p[0]) * u[0] - 0.5]], ["x", "u", "p"], ["r"])
    qn = Function("qn", [x, p], [[x[0] * gg.sqrt(p[1])]], ["x", "p"], ["r_N"])
    problem = _rocket().with_penalties(q, qn, SX.sym("rho"))
    n = problem.horizon
    assert n is not None
    rng = random.Random(8)
    us, v = [rng.uniform(-1, 1) for _ in range(n)], [rng.uniform(-1, 1) for _ in range(n)]
    args = ([0.4, -0.2], us, [0.3, 0.5, 1.5, 0.2], 3.0)
    ref = problem.to_function()
    for fn, want in ((problem.gradient(), ref.gradient(1)), (problem.hvp(), ref.hvp(1))):
        assert any(s.callee.name.endswith("_prologue") for s in fn.kernel.steps)
        extra = (v,) if len(fn.input_sizes) == 5 else ()
        assert fn(*args, *extra) == pytest.approx(want(*args, *extra), rel=1e-12, abs=1e-14)


def test_the_hvp_of_a_composition_hoists_its_forward_and_reversed_loops() -> None:
    """The tangent of the staged gradient (forward over adjoint) of a scalar composition over
    one shared block: both loops get a prologue, and the values are the unrolled HVP's."""
    s, q = SX.sym("s"), SXVector.sym("q", 2)
    g = Function("g", [s, q], [s * gg.cos(q[0]) + gg.sin(s) * gg.exp(q[1])], ["s", "q"], ["s_next"])
    comp = gg.ComposedFunction("c", SX.sym("s0")).repeat(g, params=[q] * 5).finish()
    hvp = comp.hvp()
    names = [(st.count, st.callee.name) for st in hvp.kernel.steps]
    assert names == [
        (1, "g_rollout_tangent_prologue"),
        (5, "g_rollout_tangent"),
        (1, "c_seed_tangent"),
        (1, "g_adjoint_tangent_prologue"),
        (5, "g_adjoint_tangent"),
    ]
    for st in hvp.kernel.steps:
        if st.count > 1:  # cos(q0), exp(q1) run in the prologues; cos(s) of the state stays
            k = st.callee
            inv = invariant_values(k, invariant_ports(st))
            assert Op.EXP not in k.ops
            assert not [op for op, i in zip(k.ops, inv, strict=True) if op in EXPENSIVE and i == INVARIANT]
    for point in ((0.3, [0.7, 0.1], 0.9), (-1.2, [2.0, -0.5], -0.4)):
        x0, qv, v = point
        want = comp.to_function().hvp(0)(x0, qv, v)
        assert hvp(x0, qv, v) == pytest.approx(want, rel=1e-13, abs=1e-15)
        h = 1e-5
        grad = comp.gradient()
        fd = (grad(x0 + h * v, qv) - grad(x0 - h * v, qv)) / (2 * h)
        assert hvp(x0, qv, v) == pytest.approx(fd, rel=1e-6, abs=1e-8)
