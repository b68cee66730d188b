"""The schedule moves a statement that is the last use of two or more values up to its operands:
never more values live at once than the depth-first order, the same values, a valid order, and
``sin``/``cos`` pairs still next to each other."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from gradgen import SX, Function, sin
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import LEAVES, Op
from gradgen.ir.printer import format_kernel
from gradgen.ir.verify import verify
from gradgen.passes.allocate import allocate
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import simplification_passes
from gradgen.passes.schedule import (
    SchedulePass,
    choose_order,
    depth_first_order,
    reorder,
)
from gradgen.passes.schedule_pressure import hoist_last_uses
from tests.bench_kernels import Ours
from tests.benchmarks import problems
from tests.random_programs import (
    HypothesisDraw,
    Program,
    chain_program,
    general_program,
    shared_program,
)
from tests.test_allocate import allocated, execute
from tests.test_passes import PROPERTY, bits


def peak_live(kernel: Kernel, order: list[int]) -> int:
    """The largest number of computed values live across one statement of ``order`` (a value is
    live from its statement to its last reader; results are written when they are computed)."""
    at = {v: k for k, v in enumerate(order)}
    last = {}
    for v in order:
        for a in kernel.args[v]:
            last[a] = at[v]
    delta = [0] * (len(order) + 1)
    for v in order:
        if kernel.ops[v] not in LEAVES and v in last:
            delta[at[v]] += 1
            delta[last[v]] -= 1
    peak = live = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return peak


@st.composite
def _programs(draw: st.DrawFn) -> Program:
    d = HypothesisDraw(draw)
    pick = draw(st.integers(0, 2))
    if pick == 0:
        return general_program(d, max_nodes=80)
    if pick == 1:
        return chain_program(d, 20, 80)
    return shared_program(d, 5, 20)


@PROPERTY
@given(_programs(), st.sampled_from(("none", "medium", "max")))
def test_hoisting_never_raises_the_number_of_live_values(program: Program, level: str) -> None:
    k = PassManager(simplification_passes(level)).run(program.function("p").kernel)
    dfs = depth_first_order(k)
    hoisted = hoist_last_uses(k, dfs)
    assert sorted(hoisted) == sorted(dfs)
    position = {v: i for i, v in enumerate(hoisted)}
    assert all(position[a] < position[v] for v in hoisted for a in k.args[v])
    assert peak_live(k, hoisted) <= peak_live(k, dfs)
    for i in range(len(dfs) - 1):  # the pairs the schedule put side by side stay side by side
        a, b = dfs[i], dfs[i + 1]
        if {k.ops[a], k.ops[b]} == {Op.SIN, Op.COS} and k.args[a] == k.args[b]:
            assert position[b] == position[a] + 1


def test_a_late_product_of_two_early_values_is_computed_with_them() -> None:
    x = SX.sym("x")
    a, b = x * 7.5, x + 0.5
    e = a + b  # the other reader of ``a`` and ``b``
    for i in range(10):
        e = sin(e) * (x + (2.0 + i))  # two values live at each step
    f = Function("late", [x], [e + a * b], output_names=["y"])
    k = f.kernel
    dfs = depth_first_order(k)
    hoisted = hoist_last_uses(k, dfs)
    of_x = {k.attrs[v[1]]: u for u, v in enumerate(k.args) if len(v) == 2 and k.ops[v[1]] is Op.CONST}
    pair = {of_x[7.5], of_x[0.5]}  # ``a`` and ``b``
    product = next(v for v in dfs if k.ops[v] is Op.MUL and set(k.args[v]) == pair)
    first_sine = next(v for v in dfs if k.ops[v] is Op.SIN)
    assert dfs.index(product) > dfs.index(first_sine)  # depth first: needed only at the end
    assert hoisted.index(product) < hoisted.index(first_sine)  # now with its operands
    assert peak_live(k, dfs) == 4 and peak_live(k, hoisted) == 3  # ``a * b`` instead of ``a``, ``b``
    out = SchedulePass().run(k)
    t = 0.25 * 7.5 + (0.25 + 0.5)
    for i in range(10):
        t = math.sin(t) * (0.25 + (2.0 + i))
    assert run(out, [[0.25]]) == run(k, [[0.25]]) == [[t + (0.25 * 7.5) * (0.25 + 0.5)]]


def _sweep(n: int, extra: int = 1) -> Function:
    """A reverse-sweep shape: ``t_k = a_k * 2`` is read by the chain (``a_{k-1} = sin(t_k) *
    x``) and by output ``y_k = t_k + u_k * 0.02 (* 1.5 ...)``, whose other operand (``extra``
    statements over inputs) the depth-first order reaches only after the whole chain."""
    x = SX.sym("x")
    u = [SX.sym(f"u{k}") for k in range(n)]
    a = x
    ys: list[SX] = []
    for k in range(n - 1, -1, -1):
        t = a * 2.0
        a = sin(t) * x
        term = u[k] * 0.02
        for j in range(extra - 1):
            term = term * (1.5 + j)
        ys.append(t + term)
    # the end of the chain first: the depth-first order starts there
    return Function("sweep", [x, *u], [a, *reversed(ys)])


def test_an_output_is_written_as_soon_as_its_chain_value_is_ready() -> None:
    """``y_k = t_k + u_k * 0.02``: ``u_k * 0.02`` is brought along (it needs only inputs and
    one statement), so ``y_k`` is computed right after ``t_k``'s other reader and ``t_k`` is
    not kept to the end: far fewer values live at once, and the same results."""
    n = 12
    f = _sweep(n)
    k = f.kernel
    dfs = depth_first_order(k)
    hoisted = hoist_last_uses(k, dfs)
    assert sorted(hoisted) == sorted(dfs)
    position = {v: i for i, v in enumerate(hoisted)}
    assert all(position[a] < position[v] for v in hoisted for a in k.args[v])
    assert peak_live(k, dfs) >= n
    assert peak_live(k, hoisted) <= 4
    sines = [v for v in hoisted if k.ops[v] is Op.SIN]
    outputs = [res[0] for res in k.results[1:]]  # y_0 .. y_{n-1}
    # every y_k but y_0 (its t_0 feeds the last sine) comes before the last sine
    assert sum(position[y] < position[sines[-1]] for y in outputs) == n - 1
    out = SchedulePass().run(k)
    point = [[0.3]] + [[0.1 * (j + 1)] for j in range(n)]
    assert run(out, point) == run(k, point)


def test_an_operand_needing_more_than_pull_max_statements_is_not_brought_along() -> None:
    """With ``PULL_MAX`` statements over inputs the operand comes along; with one more it
    does not, and ``t_k`` stays live until the depth-first order reaches ``y_k``."""
    from gradgen.passes.schedule_pressure import PULL_MAX

    n = 8
    for extra, moved in ((PULL_MAX, True), (PULL_MAX + 1, False)):
        k = _sweep(n, extra).kernel
        dfs = depth_first_order(k)
        hoisted = hoist_last_uses(k, dfs)
        assert (peak_live(k, hoisted) < peak_live(k, dfs)) is moved, extra
        assert peak_live(k, hoisted) <= peak_live(k, dfs)


def _workspace(kernel: Kernel, order: list[int], max_chunk: int) -> int:
    return allocate(reorder(kernel, order), max_chunk).workspace_size


def _pendulum_gradient(n: int) -> Kernel:
    """The bench's RK4 pendulum gradient over ``n`` stages, simplified at the bench's level."""
    inputs, expr = problems.PROBLEMS["pendulum"](Ours, n)
    f = Function("pend", inputs, [expr], input_names=["x0", "u"], output_names=["y"])
    return PassManager(simplification_passes("medium")).run(f.gradient(0).kernel)


def test_outputs_are_written_early_even_where_that_costs_a_workspace_slot() -> None:
    """Pendulum(2) gradient cut into chunks of 150 statements: written early, the outputs hold
    fewer values crossing chunks (5 workspace slots instead of 4); the schedule writes them early
    all the same (one walk, no second order to compare: the slot is cheaper than the build time),
    and the values stay those of the kernel."""
    k = _pendulum_gradient(2)
    dfs = depth_first_order(k)
    freeing, keeping = hoist_last_uses(k, dfs), hoist_last_uses(k, dfs, free_outputs=False)
    assert freeing != keeping
    assert _workspace(k, freeing, 150) == 5 and _workspace(k, keeping, 150) == 4
    out = SchedulePass().run(k)
    assert format_kernel(out) == format_kernel(reorder(k, freeing))
    verify(out)
    point = [[0.3, -0.2], [0.5, 0.25]]
    for chunk in (150, 300):
        alloc = allocated(out, chunk)
        assert alloc.allocation is not None and alloc.allocation.workspace_size == (5 if chunk == 150 else 0)
        assert execute(alloc, point) == run(k, point)


@st.composite
def _many_outputs(draw: st.DrawFn) -> Program:
    d = HypothesisDraw(draw)
    return general_program(d, max_nodes=60, every_output=draw(st.booleans()))


@PROPERTY
@given(_many_outputs(), st.sampled_from(("none", "medium")), st.integers(1, 8))
def test_the_output_freeing_schedule_keeps_values_and_never_more_live(
    program: Program, level: str, max_chunk: int
) -> None:
    k = PassManager(simplification_passes(level)).run(program.function("p").kernel)
    dfs = depth_first_order(k)
    freeing, keeping = hoist_last_uses(k, dfs), hoist_last_uses(k, dfs, free_outputs=False)
    assert peak_live(k, freeing) <= peak_live(k, dfs) and peak_live(k, keeping) <= peak_live(k, dfs)
    out = SchedulePass().run(k)
    verify(out)
    # the output-freeing order, or the interleaved one where the model core runs it faster
    chosen = hoist_last_uses(k, choose_order(k, dfs))
    assert format_kernel(out) == format_kernel(reorder(k, chosen))
    alloc = allocated(out, max_chunk)
    inputs = [[0.5 + 0.25 * j for j in range(program.n_inputs)]]
    assert [[bits(v) for v in r] for r in execute(alloc, inputs)] == [
        [bits(v) for v in r] for r in run(k, inputs)
    ]


def test_writing_outputs_early_can_also_save_slots() -> None:
    """Pendulum(2) HVP in chunks of 300 statements: the output-freeing order needs 9 workspace
    slots, the other 10."""
    inputs, expr = problems.PROBLEMS["pendulum"](Ours, 2)
    f = Function("pend", inputs, [expr], input_names=["x0", "u"], output_names=["y"])
    k = PassManager(simplification_passes("medium")).run(f.hvp(0).kernel)
    dfs = depth_first_order(k)
    freeing, keeping = hoist_last_uses(k, dfs), hoist_last_uses(k, dfs, free_outputs=False)
    assert _workspace(k, freeing, 300) == 9 and _workspace(k, keeping, 300) == 10
    out = SchedulePass().run(k)
    assert format_kernel(out) == format_kernel(reorder(k, freeing))
    point = [[0.3, -0.2], [0.5, 0.25], [1.0, -0.75]]
    assert execute(allocated(out, 300), point) == run(k, point)
