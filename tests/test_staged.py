"""map_function, zip_function and reduce_function: values against plain Python loops and the
unrolled functions, generated Rust (a loop calling a private helper) compiled with cargo in
f64/std and f32/no_std, code size independent of N, and the errors of wrong sizes."""

from __future__ import annotations

import itertools
import math
import pathlib
import re

import pytest

import gradgen as gg
from gradgen.config import RustBackendConfig
from gradgen.errors import EvaluationArgumentError, FunctionDefinitionError, GradgenTypeError
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.ops import Op
from gradgen.ir.staged import Call, Carry, Ref
from tests.staged_crates import HORIZON_PAIRS, build_and_compare, central_columns

DT = 0.1


def bicycle_step() -> gg.Function:
    """One explicit Euler step of a kinematic bicycle: state (x, y, psi, v), control (a, delta)."""
    s = gg.SXVector.sym("s", 4)
    u = gg.SXVector.sym("u", 2)
    x, y, psi, v = s
    a, delta = u
    beta = gg.atan(0.5 * gg.tan(delta))
    nxt = [
        x + DT * v * gg.cos(psi + beta),
        y + DT * v * gg.sin(psi + beta),
        psi + DT * v / 1.5 * gg.sin(beta),
        v + DT * a,
    ]
    return gg.Function("bicycle", [s, u], [nxt], ["state", "control"], ["next_state"])


def stage_cost() -> gg.Function:
    s = gg.SXVector.sym("s", 4)
    return gg.Function("cost", [s], [[s[0] ** 2 + 0.5 * s[1] ** 2, gg.exp(-s[3])]], ["s"], ["c"])


def _bicycle_python(s: list[float], u: list[float]) -> list[float]:
    x, y, psi, v = s
    a, delta = u
    beta = math.atan(0.5 * math.tan(delta))
    return [
        x + DT * v * math.cos(psi + beta),
        y + DT * v * math.sin(psi + beta),
        psi + DT * v / 1.5 * math.sin(beta),
        v + DT * a,
    ]


def _controls(n: int) -> list[float]:
    return [v for k in range(n) for v in (0.3 * math.sin(k), 0.1 * math.cos(0.7 * k))]


def _states(n: int) -> list[float]:
    return [0.1 * k + 0.05 * j for k in range(n) for j in range(4)]


def test_map_equals_a_python_loop_and_the_unrolled_function() -> None:
    n = 6
    mapped = gg.map_function(stage_cost(), n)
    assert (mapped.name, mapped.input_names, mapped.output_names) == ("cost_map", ("s_seq",), ("c",))
    xs = _states(n)
    got = mapped(xs)
    expected = []
    for k in range(n):
        s = xs[4 * k : 4 * k + 4]
        expected += [s[0] ** 2 + 0.5 * s[1] ** 2, math.exp(-s[3])]
    assert got == pytest.approx(expected, rel=1e-15)
    assert mapped.to_function()(xs) == got


def test_zip_equals_a_python_loop_and_the_unrolled_function() -> None:
    n = 5
    zipped = gg.zip_function(bicycle_step(), n)
    assert zipped.name == "bicycle_zip"
    assert zipped.input_names == ("state_seq", "control_seq")
    assert zipped.output_names == ("next_state",)
    xs, us = _states(n), _controls(n)
    got = zipped(xs, us)
    expected = [v for k in range(n) for v in _bicycle_python(xs[4 * k : 4 * k + 4], us[2 * k : 2 * k + 2])]
    assert got == pytest.approx(expected, rel=1e-14)
    assert zipped.to_function()(xs, us) == got


def test_reduce_is_a_left_fold() -> None:
    n = 8
    rolled = gg.reduce_function(bicycle_step(), n)
    assert (rolled.name, rolled.input_names, rolled.output_names) == (
        "bicycle_reduce",
        ("state0", "control_seq"),
        ("next_state",),
    )
    assert (rolled.accumulator_input_name, rolled.input_name, rolled.output_name) == (
        "state0",
        "control_seq",
        "next_state",
    )
    x0, us = [0.0, 0.0, 0.2, 1.0], _controls(n)
    s = x0
    for k in range(n):
        s = _bicycle_python(s, us[2 * k : 2 * k + 2])
    got = rolled(x0, us)
    assert got == pytest.approx(s, rel=1e-13)
    assert rolled.to_function()(x0, us) == got
    named = gg.reduce_function(
        bicycle_step(), 3, accumulator_input_name="x0", input_name="u", output_name="xN", name="roll"
    )
    assert (named.name, named.input_names, named.output_names) == ("roll", ("x0", "u"), ("xN",))


def _pipeline() -> gg.Function:
    """Hand-built staged kernel: a map into a temporary, then a reduce over it (the workspace
    carving of temporaries, carries and callee workspaces)."""
    n = 4
    cost = stage_cost()
    acc, c = gg.SX.sym("acc"), gg.SXVector.sym("c", 2)
    add = gg.Function("add", [acc, c], [acc + c[0] * c[1]], ["acc", "c"], ["acc_next"])
    steps = (
        Call(cost.kernel, n, (Ref("in", 1, 0, 4),), (Ref("tmp", 0, 0, 2),)),
        Call(
            add.kernel, n, (None, Ref("tmp", 0, 0, 2)), (None,), (Carry(0, 0, Ref("in", 0), Ref("out", 0)),)
        ),
    )
    kernel = Kernel(
        "pipeline",
        (Port("acc0", 1, True), Port("xs", 4 * n)),
        (Port("total", 1, True),),
        [],
        [],
        [],
        [[]],
        steps=steps,
        temps=(2 * n,),
    )
    return gg.Function.from_kernel(kernel)


def scalar_fold() -> gg.Function:
    """A scalar accumulator driven by 2-blocks: (acc, x) -> acc cos(x0) + x1^2 sin(acc)."""
    acc, x = gg.SX.sym("acc"), gg.SXVector.sym("x", 2)
    return gg.Function(
        "fold", [acc, x], [acc * gg.cos(x[0]) + x[1] ** 2 * gg.sin(acc)], ["acc", "x"], ["out"]
    )


def _blocks(n: int) -> list[float]:
    return [0.3 * math.sin(1.3 * k + 0.2) for k in range(2 * n)]


def _twice() -> gg.Function:
    """Two loops calling the same stage kernel: its helper is printed once."""
    cost = stage_cost().kernel
    steps = (
        Call(cost, 3, (Ref("in", 0, 0, 4),), (Ref("out", 0, 0, 2),)),
        Call(cost, 2, (Ref("in", 1, 0, 4),), (Ref("out", 1, 0, 2),)),
    )
    ports = (Port("a", 12), Port("b", 8))
    kernel = Kernel("twice", ports, (Port("ca", 6), Port("cb", 4)), [], [], [], [[], []], steps=steps)
    return gg.Function.from_kernel(kernel)


def test_a_helper_called_by_several_loops_is_printed_once() -> None:
    source = _twice().generate_rust().source
    assert source.count("fn twice_cost(") == 1
    assert source.count("twice_cost(") == 3  # the definition and two calls


def wide_zip(n: int) -> gg.StagedFunction:
    """Eight packed slices per stage: the loop header is too wide for one line."""
    a, b, c = (gg.SXVector.sym(s, 2) for s in ("alpha_input", "beta_input", "gamma_input"))
    outs = [a + b, b * c, [a[0] * gg.cos(c[1])], [a[1]], [b[0] - c[0]]]
    f = gg.Function(
        "three", [a, b, c], outs, ["alpha_input", "beta_input", "gamma_input"], ["o1", "o2", "o3", "o4", "o5"]
    )
    return gg.zip_function(f, n)


def _iterate(count: int = 6) -> gg.Function:
    """``x <- bicycle(x, u)`` ``count`` times with one fixed control: a loop with no per-stage
    slice."""
    step = bicycle_step().kernel
    carry = Carry(0, 0, Ref("in", 0), Ref("out", 0))
    call = Call(step, count, (None, Ref("in", 1)), (None,), (carry,))
    ports = (Port("x0", 4), Port("u", 2))
    kernel = Kernel("iterate", ports, (Port("x6", 4),), [], [], [], [[]], steps=(call,))
    return gg.Function.from_kernel(kernel)


@pytest.mark.parametrize("count", [6, 7])
def test_a_loop_without_per_stage_slices_counts_stages(count: int) -> None:
    x0, u = [0.0, 0.0, 0.2, 1.0], [0.3, 0.05]
    expected = x0
    for _ in range(count):
        expected = _bicycle_python(expected, u)
    assert _iterate(count)(x0, u) == pytest.approx(expected, rel=1e-14)
    source = _iterate(count).generate_rust().source
    entry = source[source.index("pub fn iterate") :]
    # two stages per iteration, the state between them in a local array; an odd count's last
    # stage after the loop
    assert "for _ in 0..3 {" in entry
    assert entry.count("iterate_bicycle(") == 2 + count % 2
    assert entry.count("let mut w7 = [0.0; 4];") == 1


def _cases() -> list[tuple[str, gg.Function, list[list[float]]]]:
    return [
        (
            "zipped_jacobian",
            gg.zip_function(bicycle_step(), 4).jacobian(1).function,
            [_states(4), _controls(4)],
        ),
        ("fold_gradient_acc", gg.reduce_function(scalar_fold(), 6).gradient(0).function, [[0.7], _blocks(6)]),
        ("fold_gradient_x", gg.reduce_function(scalar_fold(), 6).gradient(1).function, [[0.7], _blocks(6)]),
        (
            "fold_gradient_x_lean",
            gg.reduce_function(scalar_fold(), 6).with_stage_tape(False).gradient(1).function,
            [[0.7], _blocks(6)],
        ),
        ("mapped", gg.map_function(stage_cost(), 5).function, [_states(5)]),
        ("zipped", gg.zip_function(bicycle_step(), 5).function, [_states(5), _controls(5)]),
        ("rolled", gg.reduce_function(bicycle_step(), 7).function, [[0.0, 0.0, 0.2, 1.0], _controls(7)]),
        ("pipeline", _pipeline(), [[0.25], _states(4)]),
        ("twice", _twice(), [_states(3), _states(2)]),
        # one stage (no loop), and a stage function split into chunks (a callee workspace)
        ("map_one", gg.map_function(stage_cost(), 1).function, [_states(1)]),
        ("fold_one_gradient", gg.reduce_function(scalar_fold(), 1).gradient(1).function, [[0.7], _blocks(1)]),
        ("iterate", _iterate(), [[0.0, 0.0, 0.2, 1.0], [0.3, 0.05]]),
        ("wide", wide_zip(3).function, [_blocks(3), _controls(3), _states(3)[:6]]),
        ("chunky", gg.reduce_function(bicycle_step(), 5).function, [[0.0, 0.0, 0.2, 1.0], _controls(5)]),
    ]


def _build_and_run(
    root: pathlib.Path, scalar: str, mode: str
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    config = RustBackendConfig().with_scalar_type(scalar).with_backend_mode(mode)

    def check(source: str, kernels: list[Kernel]) -> None:
        assert kernels[-1].steps[0].callee.allocation.workspace_size > 0  # chunky
        # the private functions, one per called kernel: the bicycle Jacobian; rollout, seed and
        # VJP for each of the three gradients; cost (map), bicycle (zip), bicycle (reduce); cost,
        # add; cost (twice); cost (map_one); rollout, seed, VJP (fold_one_gradient); bicycle
        # (iterate); three (wide); bicycle (chunky) and its chunk functions
        chunks = len(kernels[-1].steps[0].callee.allocation.chunks)
        assert chunks > 1
        assert source.count("\nfn ") == 16 + 1 + 3 + 1 + 1 + 1 + chunks
        assert "\n        .zip(" in source  # the wide loop header, laid out as rustfmt does

    options = {"chunky": {"max_chunk": 3}}
    return build_and_compare(root, f"staged_{scalar}", _cases(), config, options, check)


def test_f64_std_rust_equals_python(tmp_path: pathlib.Path, cargo_available: None) -> None:
    rust, python = _build_and_run(tmp_path, "f64", "std")
    for label, ref in python.items():
        assert rust[label] == pytest.approx(ref, rel=1e-13, abs=1e-15), label


def test_f32_no_std_rust_equals_python(tmp_path: pathlib.Path, cargo_available: None) -> None:
    rust, python = _build_and_run(tmp_path, "f32", "no_std")
    for label, ref in python.items():
        assert rust[label] == pytest.approx(ref, rel=1e-4, abs=1e-5), label


def _lines(obj: gg.StagedFunction, scalar: str = "f64") -> list[str]:
    return obj.generate_rust(RustBackendConfig().with_scalar_type(scalar)).source.splitlines()


@pytest.mark.parametrize("kind", ["map", "zip", "reduce", "jacobian", "gradient"])
def test_generated_code_size_does_not_depend_on_the_horizon(kind: str) -> None:
    make = {
        "map": lambda n: gg.map_function(stage_cost(), n),
        "zip": lambda n: gg.zip_function(bicycle_step(), n),
        "reduce": lambda n: gg.reduce_function(bicycle_step(), n),
        "jacobian": lambda n: gg.zip_function(bicycle_step(), n).jacobian(0),
        "gradient": lambda n: gg.reduce_function(scalar_fold(), n).gradient(1),
    }[kind]
    # horizons of one parity: an odd one runs its last stage after the two-stage loop
    for n_short, n_long in HORIZON_PAIRS:
        short, long = _lines(make(n_short)), _lines(make(n_long))
        assert len(short) == len(long)
        differing = [(a, b) for a, b in zip(short, long, strict=True) if a != b]
        # only constants differ (lengths in the doc comment and the entry checks, workspace offsets,
        # where an odd horizon's last stage is split off)
        assert 0 < len(differing) <= 20
        assert all(re.sub(r"[0-9]+", "N", a) == re.sub(r"[0-9]+", "N", b) for a, b in differing)
    unrolled_short = make(5).to_function().generate_rust().source.count("\n")
    unrolled_long = make(50).to_function().generate_rust().source.count("\n")
    assert unrolled_long > 3 * unrolled_short  # what staging avoids


def test_generated_loop_indexes_nothing_per_stage() -> None:
    text = "\n".join(_lines(gg.reduce_function(bicycle_step(), 50)))
    entry = text[text.index("pub fn bicycle_reduce") :]
    # two stages of two controls per iteration, split apart once
    assert "for " in entry and ".chunks_exact(4)" in entry and ".split_at(2)" in entry
    assert "core::mem::swap(" in entry
    assert "[k" not in entry and "* 2" not in entry  # no index arithmetic on the stage


def test_staged_crate_snapshot(rust_snapshot) -> None:
    source = gg.reduce_function(bicycle_step(), 20).generate_rust().source
    assert source == rust_snapshot


# ---- staged derivatives -------------------------------------------------------------------------
def test_jacobian_of_a_zip_is_a_loop_over_block_jacobians() -> None:
    n = 4
    zipped = gg.zip_function(bicycle_step(), n)
    jac = zipped.jacobian(1)
    assert jac.name == "bicycle_zip_jacobian_control_seq"
    assert jac.kernel.steps and jac.output_sizes == (n * 4 * 2,)
    xs, us = _states(n), _controls(n)
    blocks = jac(xs, us)
    fd = central_columns(zipped, [xs, us], 1)  # fd[col][row]
    dense = zipped.to_function().jacobian(1)(xs, us)
    for row in range(4 * n):
        for col in range(2 * n):
            k, r, c = row // 4, row % 4, col % 2
            value = blocks[k * 8 + r * 2 + c] if col // 2 == k else 0.0
            assert value == pytest.approx(fd[col][row], abs=1e-7), (row, col)
            assert dense[row * 2 * n + col] == pytest.approx(value, rel=1e-14, abs=1e-300)


def test_gradient_of_a_fold_is_an_adjoint_sweep() -> None:
    n = 6
    rolled = gg.reduce_function(scalar_fold(), n)
    args = [[0.7], _blocks(n)]
    for fold, wrt in itertools.product((rolled, rolled.with_stage_tape(False)), (0, 1)):
        grad = fold.gradient(wrt)
        names = [step.callee.name for step in grad.kernel.steps]
        assert names == ["fold_rollout", "seed", "fold_vjp_acc_x" if wrt else "fold_vjp_acc"]
        assert grad.kernel.steps[-1].reverse
        # with the tape, each stage's sines and cosines run once, in the forward loop
        trig = {Op.SIN, Op.COS} & set(grad.kernel.steps[-1].callee.ops)
        assert bool(trig) == (fold is not rolled)
        got = grad(*args)
        got = [got] if isinstance(got, float) else got
        fd = [col[0] for col in central_columns(rolled, args, wrt)]
        assert got == pytest.approx(fd, rel=1e-7, abs=1e-8)
        unrolled = rolled.to_function().gradient(wrt)(*args)
        assert got == pytest.approx([unrolled] if isinstance(unrolled, float) else unrolled, rel=1e-14)
    # the workspace: O(N), the states (one per stage) without the tape; with it, w.r.t. the
    # blocks, per stage the state and the tape (cos x0, sin x0, sin acc, cos acc), 2 of them
    # in the stage's block of the gradient; w.r.t. acc0 (a single output), cos x0 and cos acc
    # alone (the state is not read again)
    for taped, wrt, per_stage in ((True, 1, 1 + 4 - 2), (True, 0, 2), (False, 1, 1), (False, 0, 1)):
        folds = [gg.reduce_function(scalar_fold(), m).with_stage_tape(taped) for m in (10, 20)]
        sizes = [fold.gradient(wrt).generate_rust().workspace_size for fold in folds]
        assert sizes[1] - sizes[0] == 10 * per_stage, (taped, wrt)
    with pytest.raises(gg.GradgenTypeError, match="with_stage_tape takes True or False, got 'no'"):
        rolled.with_stage_tape("no")  # type: ignore[arg-type]


def test_staged_derivative_requests_are_checked() -> None:
    with pytest.raises(gg.DifferentiationError, match="scalar accumulator"):
        gg.reduce_function(bicycle_step(), 3).gradient(0)
    with pytest.raises(gg.DifferentiationError, match="wrt_index must be 0 or 1"):
        gg.reduce_function(scalar_fold(), 3).gradient(2)
    with pytest.raises(gg.DifferentiationError, match=r"input index 0\.\.1"):
        gg.zip_function(bicycle_step(), 3).jacobian(2)


# ---- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [0, -3])
def test_fewer_than_one_stage_is_refused(count: int) -> None:
    with pytest.raises(FunctionDefinitionError, match="at least 1"):
        gg.map_function(stage_cost(), count)
    with pytest.raises(FunctionDefinitionError, match="at least 1"):
        gg.reduce_function(bicycle_step(), count)


@pytest.mark.parametrize("count", [2.0, True, "3", None])
def test_a_stage_count_that_is_not_an_int_is_refused(count: object) -> None:
    with pytest.raises(GradgenTypeError, match="must be an int"):
        gg.zip_function(bicycle_step(), count)  # type: ignore[arg-type]


def test_reduce_output_must_match_the_accumulator(tmp_path: pathlib.Path) -> None:
    s = gg.SXVector.sym("s", 3)
    u = gg.SXVector.sym("u", 2)
    bad = gg.Function("bad", [s, u], [[s[0] + u[0], s[1]]], ["s", "u"], ["out"])
    with pytest.raises(FunctionDefinitionError, match=r"'out' of 'bad' has 2 element.*has 3"):
        gg.reduce_function(bad, 4)
    with pytest.raises(FunctionDefinitionError, match=r"'cost' has 1 input\(s\)"):
        gg.reduce_function(stage_cost(), 4)
    assert not any(tmp_path.iterdir())


def test_map_needs_one_input_and_zip_one_name_per_input() -> None:
    with pytest.raises(FunctionDefinitionError, match="use zip_function"):
        gg.map_function(bicycle_step(), 3)
    with pytest.raises(FunctionDefinitionError, match="2 inputs but 1 input names"):
        gg.zip_function(bicycle_step(), 3, input_names=["a"])
    with pytest.raises(FunctionDefinitionError, match="used more than once"):
        gg.zip_function(bicycle_step(), 3, input_names=["next_state", "u"])
    with pytest.raises(GradgenTypeError, match="must be a gradgen Function"):
        gg.map_function(lambda x: x, 3)  # type: ignore[arg-type]


def test_packed_lengths_are_checked_at_call_time() -> None:
    zipped = gg.zip_function(bicycle_step(), 4)
    with pytest.raises(
        EvaluationArgumentError, match="'control_seq' of 'bicycle_zip' has length 7, expected 8"
    ):
        zipped(_states(4), [0.0] * 7)
    with pytest.raises(EvaluationArgumentError, match="takes 2 argument"):
        zipped(_states(4))


def test_straight_line_passes_refuse_a_staged_kernel() -> None:
    staged = gg.zip_function(bicycle_step(), 3)
    for request in (
        lambda: staged.function.gradient(0),
        lambda: staged.function.jacobian(1),
        lambda: staged.function.simplify("high"),
    ):
        with pytest.raises(gg.StagedKernelError, match="'bicycle_zip' is staged"):
            request()
    # expressions of a staged Function are those of its unrolled equivalent
    exprs = staged.function.outputs[0]
    assert len(exprs) == 12
    assert gg.Function("again", staged.to_function().inputs, [exprs])(_states(3), _controls(3)) == staged(
        _states(3), _controls(3)
    )


def test_staged_objects_take_the_052_code_generation_keywords(tmp_path: pathlib.Path) -> None:
    """Every staged object's ``generate_rust``/``create_rust_project`` takes the keyword options
    of ``Function.generate_rust`` (gradgen 0.5.2's spellings), like a Function."""
    s = gg.SXVector.sym("s", 2)
    step = gg.Function("step", [s], [[s[1], -0.5 * s[0]]], ["s"], ["s_next"])
    mapped = gg.map_function(step, 4)
    result = mapped.generate_rust(function_name="pairs", scalar_type="f32", backend_mode="no_std")
    assert "pub fn pairs(" in result.source and "f32" in result.source and "#![no_std]" in result.source
    project = mapped.create_rust_project(tmp_path / "pairs", crate_name="pairs", scalar_type="f32")
    assert "f32" in (tmp_path / "pairs" / "src" / "lib.rs").read_text()
    assert project.function_name == mapped.name
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        mapped.generate_rust(colour="red")


def test_a_staged_function_is_collected_with_its_derivative_hooks() -> None:
    """The staged derivative and joint hooks live on the Function, so dropping the staged object
    frees it (a long-running generator making many problems does not keep them all)."""
    import gc
    import weakref

    from gradgen.staged import has_staged_joint, staged_derivative

    mapped = gg.map_function(stage_cost(), 3)
    assert staged_derivative(mapped.function, "jacobian", 0).steps
    x, u, p = gg.SX.sym("x"), gg.SX.sym("u"), gg.SX.sym("p")
    dyn = gg.Function("dyn", [x, u, p], [x + 0.1 * gg.sin(u * p)], ["x", "u", "p"], ["x1"])
    ell = gg.Function("ell", [x, u, p], [x**2 + u**2], ["x", "u", "p"], ["l"])
    vf = gg.Function("vf", [x, p], [p * x**2], ["x", "p"], ["v"])
    problem = gg.SingleShootingProblem("p").with_horizon(3).with_dynamics(dyn)
    shooting = problem.with_costs(ell, vf).primal()
    assert has_staged_joint(shooting.function)
    refs = [weakref.ref(mapped.function), weakref.ref(shooting.function)]
    del mapped, shooting, problem
    gc.collect()
    assert [r() for r in refs] == [None, None]
