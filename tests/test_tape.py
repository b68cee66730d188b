"""``ir.tape.split_tape``: a joint forward + reverse kernel split into a forward half that
records a tape and a reverse half that reads it; the single-shooting adjoint sweeps use it so
that their reversed loop does not recompute the forward stage."""

from __future__ import annotations

import math
import pathlib
import random

import pytest

import gradgen as gg
from gradgen.config import RustBackendConfig
from gradgen.ir.errors import VerificationError
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.ops import Op
from gradgen.ir.tape import split_tape
from tests.cargo import cargo_env
from tests.test_shooting import X0, P, _controls, _direction, pendulum


def _joint() -> Kernel:
    """``(x[2], lam[1]) -> (g[2], y[1])``: ``g = lam * grad(sin(x0) * exp(x1))`` and
    ``y = x0 * x1 + 3`` (no adjoint in it)."""
    b = KernelBuilder()
    x0, x1, lam = b.input(0, 0), b.input(0, 1), b.input(1, 0)
    s, c, e = b.emit(Op.SIN, [x0]), b.emit(Op.COS, [x0]), b.emit(Op.EXP, [x1])
    g0 = b.mul(lam, b.mul(c, e))
    g1 = b.mul(lam, b.mul(s, e))
    y = b.add(b.mul(x0, x1), b.const(3.0))
    ports = (Port("x", 2), Port("lam", 1))
    return b.finish("joint", ports, (Port("g", 2), Port("y", 1)), [[g0, g1], [y]])


def test_the_halves_compute_what_the_joint_kernel_computes() -> None:
    joint = _joint()
    split = split_tape(joint, [1])
    assert split.forward.name == "joint_tape" and split.reverse.name == "joint"
    assert [p.name for p in split.forward.inputs] == ["x"]
    # the reverse half reads the tape and the adjoint only: x is not needed once taped
    assert split.kept == () and [p.name for p in split.reverse.inputs] == ["tape", "lam"]
    # taped: c*e, s*e (read by the adjoint products) and y (an output of no adjoint)
    assert split.tape_size == 3
    assert not {Op.SIN, Op.COS, Op.EXP} & set(split.reverse.ops)
    rng = random.Random(7)
    for _ in range(20):
        x, lam = [rng.uniform(-2, 2), rng.uniform(-2, 2)], [rng.uniform(-2, 2)]
        tape = run(split.forward, [x])[0]
        got = run(split.reverse, [tape, lam])
        assert got == run(joint, [x, lam])
        want = [lam[0] * math.cos(x[0]) * math.exp(x[1]), lam[0] * math.sin(x[0]) * math.exp(x[1])]
        assert got[0] == pytest.approx(want, rel=1e-15) and got[1] == [x[0] * x[1] + 3.0]


def test_inputs_read_directly_are_kept_not_taped() -> None:
    b = KernelBuilder()
    x, lam = b.input(0, 0), b.input(1, 0)
    k = b.finish("k", (Port("x", 1), Port("lam", 1)), (Port("g", 1),), [[b.mul(b.add(x, lam), x)]])
    split = split_tape(k, [1])
    assert split.kept == (0,) and split.tape_size == 0
    assert [p.name for p in split.reverse.inputs] == ["x", "lam"]
    assert run(split.reverse, [[1.5], [0.25]]) == run(k, [[1.5], [0.25]]) == [[(1.5 + 0.25) * 1.5]]


def test_bad_splits_are_refused() -> None:
    with pytest.raises(VerificationError, match="has no input"):
        split_tape(_joint(), [2])
    staged = gg.map_function(gg.Function("sq", [gg.SX.sym("a")], [gg.SX.sym("a") ** 2]), 3).kernel
    with pytest.raises(VerificationError, match="is staged"):
        split_tape(staged, [0])


@pytest.mark.parametrize("kind", ["gradient", "hvp"])
def test_the_reversed_loop_of_single_shooting_recomputes_no_forward_stage(kind: str) -> None:
    n = 12
    problem = pendulum(n)
    fn = problem.gradient() if kind == "gradient" else problem.hvp()
    back = fn.kernel.steps[-1]
    assert back.reverse and back.count == n
    # the stage's sines and cosines run once, in the rollout; the reversed loop reads the tape
    assert not {Op.SIN, Op.COS} & set(back.callee.ops)
    assert "tape" in [p.name for p in back.callee.inputs]
    loops = [s.callee for s in fn.kernel.steps if s.count == n]
    assert len(loops) == 2
    # per stage, what the unrolled kernel does: the rollout's 4 sines and the 4 cosines of its tape
    assert sum(k.ops.count(Op.SIN) + k.ops.count(Op.COS) for k in loops) == 4 + 4
    us = _controls(n)
    args = (X0, us, P) if kind == "gradient" else (X0, us, P, _direction(n))
    reference = problem.to_function()
    want = reference.gradient(1) if kind == "gradient" else reference.hvp(1)
    assert fn(*args) == pytest.approx(want(*args), rel=1e-12, abs=1e-15)


def test_without_the_tape_the_reversed_loop_recomputes_from_the_stored_states(
    tmp_path: pathlib.Path, cargo_available: None
) -> None:
    """``with_stage_tape(False)``: the workspace holds the ``N`` states (and, for the HVP, their
    tangents) instead of ``N`` tapes, the reversed loop evaluates the stage again, the values are
    the same, and the compiled kernels agree with Python."""
    n = 12
    taped, plain = pendulum(n), pendulum(n).with_stage_tape(False)
    assert plain.with_stage_tape().stage_tape and not plain.stage_tape
    us, v = _controls(n), _direction(n)
    for kind, per_stage in (("gradient", 2), ("hvp", 4)):
        fast = taped.gradient() if kind == "gradient" else taped.hvp()
        slow = plain.gradient() if kind == "gradient" else plain.hvp()
        back = slow.kernel.steps[-1]
        assert back.reverse and {Op.SIN, Op.COS} <= set(back.callee.ops)
        assert "tape" not in [p.name for p in back.callee.inputs]
        # the states (nx = 2), with their tangents for the HVP, plus scratch independent of n
        small, large = (plain.with_horizon(m) for m in (n, 5 * n))
        work = [
            (s.gradient() if kind == "gradient" else s.hvp()).generate_rust().workspace_size
            for s in (small, large)
        ]
        assert work[1] - work[0] == 4 * n * per_stage
        assert slow.generate_rust().workspace_size < fast.generate_rust().workspace_size
        args = (X0, us, P) if kind == "gradient" else (X0, us, P, v)
        assert slow(*args) == pytest.approx(fast(*args), rel=1e-13, abs=1e-16)
    builder = (
        gg.CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_crate_name("untaped"))
        .for_function(plain)
        .add_gradient(wrt=1)
        .add_hvp(wrt=1)
        .done()
    )
    lib = gg.compile(builder, build_dir=tmp_path / "cache", env=cargo_env())
    assert lib.untaped_pendulum_grad_u_seq(X0, us, P) == pytest.approx(plain.gradient()(X0, us, P), rel=1e-12)
    assert lib.untaped_pendulum_hvp_u_seq(X0, us, P, v) == pytest.approx(plain.hvp()(X0, us, P, v), rel=1e-12)
    with pytest.raises(gg.GradgenTypeError, match=r"with_stage_tape takes True or False, got 'no'"):
        plain.with_stage_tape("no")  # type: ignore[arg-type]
