"""The interleaved schedule and the out-of-order core model that chooses it
(:mod:`passes.schedule`, :mod:`passes.schedule_model`): the model's cycles on chains whose
timing is known by hand, the choice on two independent chains and on the bench's pendulum
kernels, the order's invariants (topological, ``sin``/``cos`` pairs adjacent), and values bit
for bit those of the kernel."""

from __future__ import annotations

from gradgen import SX, Function, cos, sin
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, ready_times
from gradgen.ir.ops import BASE_LATENCY, CALL_LATENCY, LEAVES, Op
from gradgen.ir.printer import format_kernel
from gradgen.ir.verify import verify
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import simplification_passes
from gradgen.passes.schedule import (
    INTERLEAVE_GAIN,
    INTERLEAVE_LIVE,
    INTERLEAVE_STEP,
    SchedulePass,
    choose_order,
    depth_first_order,
    interleaved_order,
    reorder,
)
from gradgen.passes.schedule_model import CALL_SLOTS, WIDTH, WINDOW, modelled_cycles
from gradgen.passes.schedule_pressure import hoist_last_uses, peak_live
from tests.bench_kernels import Ours
from tests.benchmarks import problems
from tests.test_passes import bits


def _kernel(f: Function) -> Kernel:
    return PassManager(simplification_passes("none")).run(f.kernel)


def _adds(n: int) -> Kernel:
    x = SX.sym("x")
    y = x
    for k in range(n):
        y = y + (k + 1.5)
    return _kernel(Function("adds", [x], [y]))


def test_a_chain_takes_its_latency() -> None:
    """``n`` dependent adds: ``n * BASE_LATENCY`` cycles; ``n`` independent adds of inputs take
    one latency plus their issue time."""
    k = _adds(50)
    assert max(ready_times(k)) == 50 * BASE_LATENCY
    assert modelled_cycles(k, depth_first_order(k)) == 50 * BASE_LATENCY
    xs = [SX.sym(f"x{i}") for i in range(40)]
    wide = _kernel(Function("wide", xs, [[x + 1.5 for x in xs]]))
    assert modelled_cycles(wide, depth_first_order(wide)) == 39 / WIDTH + BASE_LATENCY


def test_a_call_fills_the_window() -> None:
    """A chain of calls, then a chain of adds independent of it: the adds issue only once all
    but the last ``WINDOW // CALL_SLOTS`` calls have left the window, so the kernel takes about
    both chains' latencies. Written first, the adds fill the window and the calls wait for them;
    interleaved, 15 adds after each call, the two overlap."""
    x, y = SX.sym("x"), SX.sym("y")
    s = x
    for _ in range(20):
        s = sin(s)
    t = y
    for k in range(150):
        t = t * 0.5 + k
    calls_first = _kernel(Function("f", [x, y], [s + t]))
    order = depth_first_order(calls_first)
    assert [calls_first.ops[v] for v in order if calls_first.args[v]][:20] == [Op.SIN] * 20
    waited = (20 - WINDOW // CALL_SLOTS) * CALL_LATENCY + 300 * BASE_LATENCY
    assert modelled_cycles(calls_first, order) > waited > 20 * CALL_LATENCY
    sines = [v for v in order if calls_first.ops[v] is Op.SIN]
    leaves = [v for v in order if not calls_first.args[v]]
    adds = [v for v in order if calls_first.args[v] and calls_first.ops[v] is not Op.SIN][:-1]
    last = order[-1:]
    adds_first = leaves + adds + sines + last
    assert modelled_cycles(calls_first, adds_first) > waited
    mixed = leaves + [v for i, s in enumerate(sines) for v in [s, *adds[15 * i : 15 * i + 15]]] + last
    assert modelled_cycles(calls_first, mixed) == 20 * CALL_LATENCY + BASE_LATENCY


def _two_chains(n: int) -> Function:
    """A chain of ``n`` sines and, independent of it, a chain of ``n`` multiply-adds fed by the
    cosines (the shape of a primal and a tangent sweep): the depth-first order computes every
    sine first."""
    x, v = SX.sym("x"), SX.sym("v")
    s, t = x, v
    for k in range(n):
        c = cos(s)
        s = sin(s) + 0.25
        t = t * c + 0.5 * k
    return Function("two", [x, v], [[s, t]], ["x", "v"], ["y"])


def test_independent_chains_are_interleaved_where_the_model_gains() -> None:
    f = _two_chains(60)
    k = _kernel(f)
    dfs = depth_first_order(k)
    base = hoist_last_uses(k, dfs)
    other = interleaved_order(k, dfs)
    assert other is not None
    mixed = hoist_last_uses(k, other)
    assert modelled_cycles(k, mixed) <= INTERLEAVE_GAIN * modelled_cycles(k, base)
    assert choose_order(k, dfs) == other
    out = SchedulePass().run(k)
    verify(out)
    assert format_kernel(out) == format_kernel(reorder(k, mixed))

    # a multiply of the tangent chain comes before the last sine (depth-first: after every one)
    def first_mul_after_sin(kernel: Kernel) -> bool:
        ops = kernel.ops
        last_sin = max(i for i, op in enumerate(ops) if op is Op.SIN)
        tangent = [
            i for i, op in enumerate(ops) if op is Op.MUL and any(ops[a] is Op.COS for a in kernel.args[i])
        ]
        return min(tangent) < last_sin

    assert first_mul_after_sin(out) and not first_mul_after_sin(reorder(k, base))
    point = [[0.3], [1.2]]
    assert [[bits(v) for v in r] for r in run(out, point)] == [[bits(v) for v in r] for r in run(k, point)]


def test_the_order_is_topological_and_keeps_sin_cos_pairs_adjacent() -> None:
    k = _kernel(_two_chains(40))
    order = interleaved_order(k, depth_first_order(k))
    assert order is not None and sorted(order) == sorted(depth_first_order(k))
    at = {v: i for i, v in enumerate(order)}
    assert all(at[a] < at[v] for v in order for a in k.args[v])
    trig = {(k.ops[v], k.args[v][0]): v for v in order if k.ops[v] in (Op.SIN, Op.COS)}
    for (op, a), v in trig.items():
        if op is Op.SIN and (Op.COS, a) in trig:
            assert abs(at[v] - at[trig[(Op.COS, a)]]) == 1


def test_short_chains_and_no_gain_keep_the_depth_first_order() -> None:
    """A kernel whose longest chain fits in one step is not reordered; a primal pendulum (one
    chain) gains nothing in the model and keeps the depth-first order."""
    short = _adds(INTERLEAVE_STEP // BASE_LATENCY - 1)
    assert interleaved_order(short, depth_first_order(short)) is None
    inputs, expr = problems.PROBLEMS["pendulum"](Ours, 5)
    f = Function("pend", inputs, [expr], input_names=["x0", "u"], output_names=["y"])
    for k in (PassManager(simplification_passes("medium")).run(g.kernel) for g in (f, f.gradient(0))):
        base = hoist_last_uses(k, depth_first_order(k))
        assert format_kernel(SchedulePass().run(k)) == format_kernel(reorder(k, base))


def test_the_pendulum_hvp_interleaves_its_tangent_sweep() -> None:
    """In the bench's pendulum HVP, the tangent sweep (the statements reading the direction)
    starts before the primal sweep's last sine; the workspace is no larger than with the
    depth-first order (bench kernel sizes: 222 slots at N = 20 against 225)."""
    from gradgen.passes.allocate import allocate

    inputs, expr = problems.PROBLEMS["pendulum"](Ours, 20)
    f = Function("pend", inputs, [expr], input_names=["x0", "u"], output_names=["y"])
    k = PassManager(simplification_passes("medium")).run(f.hvp(0).kernel)
    out = SchedulePass().run(k)
    direction = len(k.inputs) - 1
    reads = [
        i
        for i, (op, a) in enumerate(zip(out.ops, out.args, strict=True))
        if op not in LEAVES and any(out.ops[x] is Op.INPUT and out.attrs[x][0] == direction for x in a)
    ]
    last_sin = max(i for i, op in enumerate(out.ops) if op is Op.SIN)
    assert min(reads) < last_sin / 2
    base = reorder(k, hoist_last_uses(k, depth_first_order(k)))
    assert allocate(out, 2000).workspace_size <= allocate(base, 2000).workspace_size
    assert modelled_cycles(out, range(len(out.ops))) < 0.9 * modelled_cycles(base, range(len(base.ops)))


def test_an_order_keeping_many_more_values_live_is_not_kept() -> None:
    """The shooting Jacobian: interleaved, the model runs it faster, but it keeps many times the
    values live at once (its entries computed long before their stores), so the depth-first
    order stays."""
    inputs, exprs = problems.PROBLEMS["shooting"](Ours, 30)
    f = Function("shoot", inputs, [exprs], input_names=["in0"], output_names=["y"])
    k = PassManager(simplification_passes("medium")).run(f.sparse_jacobian(0).function.kernel)
    dfs = depth_first_order(k)
    other = interleaved_order(k, dfs)
    assert other is not None
    assert modelled_cycles(k, other) <= INTERLEAVE_GAIN * modelled_cycles(k, dfs)
    assert peak_live(k, other) > INTERLEAVE_LIVE * peak_live(k, dfs)
    assert choose_order(k, dfs) == dfs
    base = hoist_last_uses(k, dfs)
    assert format_kernel(SchedulePass().run(k)) == format_kernel(reorder(k, base))


def test_inputs_only_work_follows_its_consumer() -> None:
    """A value of inputs alone (ready in the first step) read only at the end of a chain of
    sines is computed in its consumer's step, after the sines, not first of all (where it would
    stay live across the whole kernel)."""
    x, v, w = SX.sym("x"), SX.sym("v"), SX.sym("w")
    s, t = x, v
    for _ in range(12):
        c = cos(s)
        s = sin(s) + 0.25
        t = t * c
    k = _kernel(Function("late", [x, v, w], [[s + w * 3.0, t]], ["x", "v", "w"], ["y"]))
    dfs = depth_first_order(k)
    order = interleaved_order(k, dfs)
    assert order is not None
    at = {v: i for i, v in enumerate(order)}
    scaled = next(i for i in order if k.ops[i] is Op.MUL and any(k.ops[a] is Op.CONST for a in k.args[i]))
    last_sin = max((i for i in order if k.ops[i] is Op.SIN), key=at.__getitem__)
    assert at[scaled] > at[last_sin]
