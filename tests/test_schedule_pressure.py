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
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import simplification_passes
from gradgen.passes.schedule import SchedulePass, depth_first_order
from gradgen.passes.schedule_pressure import hoist_last_uses
from tests.random_programs import HypothesisDraw, Program, chain_program, general_program, shared_program
from tests.test_passes import PROPERTY


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
