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
from gradgen.ir.ops import EXPENSIVE, Op
from gradgen.ir.staged import Ref, unroll
from gradgen.ir.tape import CUT_SIZE_LIMIT, split_tape
from tests.cargo import cargo_env
from tests.random_programs import RandomDraw, general_program, input_point
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
    with pytest.raises(VerificationError, match=r"has no input \[5\]"):
        split_tape(_joint(), [1], [5])
    with pytest.raises(VerificationError, match=r"the inputs \[1\] are both free and reverse inputs"):
        split_tape(_joint(), [1], [1])
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
    # the smallest tape: 4 cosines and 2 products per stage for the gradient, 12 values for the
    # HVP; the reversed loop re-reads the control (the HVP: its direction), not the states. The
    # last of them waits in the stage's element of the output (``tape_grad`` or ``tape_hvp``,
    # read and then overwritten by the reversed stage), the others in the workspace (``tape``)
    sizes = {p.name: p.size for p in back.callee.inputs}
    lent = "tape_grad" if kind == "gradient" else "tape_hvp"
    assert sizes["tape"] + sizes[lent] == (6 if kind == "gradient" else 12) and sizes[lent] == 1
    out = Ref("out", 0, 0, 1)
    assert back.inputs[[p.name for p in back.callee.inputs].index(lent)] == out
    rollout = next(s for s in fn.kernel.steps if s.count == n and not s.reverse)
    assert out in back.outputs and out in rollout.outputs
    assert ("u" if kind == "gradient" else "du") in sizes and not {"x", "dx"} & set(sizes)
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


def _cut_kernel() -> Kernel:
    """``(x[1], u[1], lam[1]) -> (g[1], y[1])`` whose smallest tape is known: the reverse part
    reads ``a = sin(x) u``, ``b = a + u``, ``c = b b`` (``b`` and ``c`` are cheap from ``a`` and
    the free ``u``; taping ``sin(x)`` instead of ``a`` is a tie, the one nearer the reverse part
    wins), ``t = 2 exp(x)`` (taping ``exp(x)`` instead is a tie too),
    ``sin(u)`` (expensive: taped although ``u`` is free) and ``x`` itself (stored: it costs its
    one slot whatever the tape); ``y = u u + 1`` needs no tape at all."""
    b = KernelBuilder()
    x, u, lam = b.input(0, 0), b.input(1, 0), b.input(2, 0)
    s = b.emit(Op.SIN, [x])
    a = b.mul(s, u)
    bb = b.add(a, u)
    c = b.mul(bb, bb)
    t = b.mul(b.const(2.0), b.emit(Op.EXP, [x]))
    su = b.emit(Op.SIN, [u])
    g = b.sum([b.mul(lam, v) for v in (a, bb, c, t, su, x)])
    y = b.add(b.mul(u, u), b.const(1.0))
    ports = (Port("x", 1), Port("u", 1), Port("lam", 1))
    return b.finish("cut", ports, (Port("g", 1), Port("y", 1)), [[g], [y]])


def test_the_cut_tapes_the_fewest_values_and_recomputes_only_cheap_ones() -> None:
    k = _cut_kernel()
    full = split_tape(k, [2])
    # the full tape: a, b, c, t, sin(u) and y; x read directly is kept
    assert full.tape_size == 6 and full.kept == (0,)
    cut = split_tape(k, [2], free_inputs=[1])
    # the smallest: a, t and sin(u) (x stored: 1 slot either way)
    assert cut.tape_size == 3 and cut.kept == (0, 1)
    assert [p.name for p in cut.reverse.inputs] == ["x", "u", "tape", "lam"]
    assert not EXPENSIVE & set(cut.reverse.ops)
    rng = random.Random(3)
    for _ in range(20):
        x, u, lam = rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(-2, 2)
        tape = run(cut.forward, [[x], [u]])[0]
        assert sorted(tape) == sorted([math.sin(x) * u, 2.0 * math.exp(x), math.sin(u)])
        assert run(cut.reverse, [[x], [u], tape, [lam]]) == run(k, [[x], [u], [lam]])
    # x free too (the caller has it anyway): nothing changes but x costs nothing
    both = split_tape(k, [2], free_inputs=[0, 1])
    assert both.tape_size == 3 and both.kept == (0, 1)


def test_a_stored_input_beats_a_longer_tape() -> None:
    """Three cheap values of ``x[2]``: storing ``x`` (2 slots) beats taping them (3)."""
    b = KernelBuilder()
    x0, x1, lam = b.input(0, 0), b.input(0, 1), b.input(1, 0)
    vals = [b.mul(x0, x1), b.add(x0, x1), b.sub(x0, x1)]
    k = b.finish("st", (Port("x", 2), Port("lam", 1)), (Port("g", 3),), [[b.mul(lam, v) for v in vals]])
    assert split_tape(k, [1]).tape_size == 3
    cut = split_tape(k, [1], free_inputs=[])
    assert cut.tape_size == 0 and cut.kept == (0,)
    assert run(cut.reverse, [[1.5, -0.5], [2.0]]) == run(k, [[1.5, -0.5], [2.0]])


def _scalar_ports(k: Kernel) -> Kernel:
    """``k`` with every input element its own port (so that a test can choose per element
    which ones are reverse or free)."""
    b = KernelBuilder()
    ports: list[Port] = []
    ins: list[list[int]] = []
    for port in k.inputs:
        vals = []
        for j in range(port.size):
            ports.append(Port(f"{port.name}{j}", 1))
            vals.append(b.input(len(ports) - 1, 0))
        ins.append(vals)
    return b.finish(k.name, tuple(ports), k.outputs, unroll(b, k, ins))


def _same(got: list[list[float]], want: list[list[float]]) -> bool:
    flat_got = [v for r in got for v in r]
    flat_want = [v for r in want for v in r]
    return len(flat_got) == len(flat_want) and all(
        a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(flat_got, flat_want, strict=True)
    )


#: the ops of the random stage kernels: mostly cheap, a few expensive (see ``ir.ops.EXPENSIVE``)
STAGE_OPS = (Op.ADD, Op.SUB, Op.MUL, Op.MUL, Op.NEG, Op.ADD, Op.SIN, Op.EXP, Op.COS, Op.DIV, Op.SQRT)
STAGE_OPS += (Op.TANH, Op.MAX, Op.SELECT, Op.LT, Op.POWI)


@pytest.mark.parametrize("seed", range(40))
def test_random_stage_kernels_split_by_the_cut_compute_the_kernel(seed: int) -> None:
    """Random programs' VJPs (the cotangents are the reverse inputs, as in an adjoint stage) or
    JVPs (the tangents, as in an HVP stage), split with random free inputs: the halves
    reproduce the kernel's outputs through the interpreter, the tape plus the stored inputs are
    never more than the full tape's, and every expensive op of the reverse half depends on a
    reverse input."""
    d = RandomDraw(9_100_000 + seed)
    program = general_program(d, smooth=True, max_nodes=40, ops=STAGE_OPS, every_output=seed % 2 == 0)
    fn = program.function(f"r{seed}")
    base = fn.vjp(wrt_index=0) if seed % 3 else fn.jvp(wrt_index=0)
    k = _scalar_ports(base.kernel)
    n_in = len(k.inputs)
    rng = random.Random(seed)
    late = list(range(program.n_inputs, n_in))
    free = [p for p in range(program.n_inputs) if rng.random() < 0.5]
    full, cut = split_tape(k, late), split_tape(k, late, free)
    stored = sum(k.inputs[p].size for p in cut.kept if p not in free)
    assert cut.tape_size + stored <= full.tape_size + sum(k.inputs[p].size for p in full.kept)
    # the reverse half: every expensive op depends on a reverse input
    rev = cut.reverse
    n_rev_early = len(cut.kept) + (1 if cut.tape_size else 0)
    depends = bytearray(len(rev.ops))
    for i, op in enumerate(rev.ops):
        if op is Op.INPUT:
            depends[i] = rev.attrs[i][0] >= n_rev_early
        elif op is not Op.CONST:
            depends[i] = any(depends[a] for a in rev.args[i])
            assert op not in EXPENSIVE or depends[i], f"{op.name} recomputed without a reverse input"
    early = [p for p in range(n_in) if p not in late]
    for _ in range(3):
        point = input_point(d, program, special=False)
        values = [[v] for v in point] + [[rng.uniform(-2, 2)] for _ in late]
        want = run(k, values)
        tape = run(cut.forward, [values[p] for p in early])[0]
        args = [values[p] for p in cut.kept] + ([tape] if cut.tape_size else []) + [values[p] for p in late]
        assert _same(run(cut.reverse, args), want)


def test_a_stage_larger_than_the_limit_keeps_the_full_tape(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradgen.ir.tape as tape_module

    k = _cut_kernel()
    assert len(k.ops) <= CUT_SIZE_LIMIT
    monkeypatch.setattr(tape_module, "CUT_SIZE_LIMIT", len(k.ops) - 1)
    cut = split_tape(k, [2], free_inputs=[1])
    assert cut.tape_size == 6 and cut.kept == (0,)
