"""Deep and heavily shared graphs: nothing recurses over depth and nothing expands a shared DAG.

``x = x*x + 1`` repeated 100,000 times goes through evaluation, every simplification level, the
CSE plan and scheduling + allocation; 60 levels of self-reuse (whose expanded tree has ~2^60
nodes) are printed, planned, simplified and evaluated with node counts bounded by the DAG size.
"""

from __future__ import annotations

import pytest

import gradgen as gg
from gradgen import SX, Function
from gradgen.ir.interp import run
from gradgen.passes.cse import cse_plan, use_counts
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import LEVELS, codegen_passes, simplification_passes

DEPTH = 100_000


@pytest.fixture(scope="module")
def deep() -> tuple[SX, SX, Function]:
    x = SX.sym("x")
    e = x
    for _ in range(DEPTH):
        e = e * e + 1
    return x, e, Function("deep", [x], [e], input_names=["x"], output_names=["y"])


def _reference(x0: float, n: int) -> float:
    v = x0
    for _ in range(n):
        v = v * v + 1.0
    return v


def test_deep_chain_differentiates_and_generates_rust(deep) -> None:
    """Reverse mode over 200,000 instructions: no recursion, linear size, Rust generated."""
    x, _, f = deep
    g = f.gradient(0)
    # primal (2 per level) + adjoint (1 per level: the factor 2 of each square joins one
    # coefficient, emitted where it would overflow, about every 1000 levels)
    assert g.kernel.op_count() <= 3 * DEPTH + DEPTH // 500
    source = g.generate_rust().source
    assert source.count("#[inline(never)]") >= g.kernel.op_count() // 1000 - 1
    # the same rules on a shallow chain against the forward recurrence d' = 2 v d
    e6 = x
    for _ in range(6):
        e6 = e6 * e6 + 1
    v, d = 0.3, 1.0
    for _ in range(6):
        v, d = v * v + 1.0, 2.0 * v * d
    assert Function("d6", [x], [e6]).gradient(0)(0.3) == pytest.approx(d, rel=1e-14)


def test_deep_chain_builds_and_evaluates(deep) -> None:
    x, e, f = deep
    assert e.node_count() == 2 * DEPTH + 2  # x, the constant 1, and one mul and one add per level
    assert f.kernel.op_count() == 2 * DEPTH
    assert f.kernel.depth() == 2 * DEPTH
    assert f(0.0) == _reference(0.0, DEPTH) == float("inf")
    short = Function("short", [x], [e.args[0].args[0]])  # a shallower level through the same DAG
    assert short(0.5) == _reference(0.5, DEPTH - 1)


@pytest.mark.parametrize("level", LEVELS)
def test_deep_chain_simplifies_at_every_level(deep, level: str) -> None:
    _, _, f = deep
    out = PassManager(simplification_passes(level)).run(f.kernel)
    assert out.op_count() == 2 * DEPTH  # x*x becomes powi(x, 2) from basic on: same count
    if level != "none":
        assert out.histogram()["powi"] == DEPTH
    assert run(out, [[0.0]]) == [[float("inf")]]


def test_deep_chain_public_simplify(deep) -> None:
    _, _, f = deep
    g = gg.simplify(f, "max")
    assert g.kernel.op_count() == 2 * DEPTH and g(0.0) == float("inf")
    assert g.kernel.histogram()["powi"] == DEPTH


def test_deep_chain_cse_plan_and_allocation(deep) -> None:
    _, e, f = deep
    plan = cse_plan([e])  # use counts are exact big integers: every level reads the last twice
    assert len(plan.assignments) == 2 * DEPTH - 2  # everything below the root add and its mul
    assert plan.assignments[0].use_count == 2 ** (DEPTH - 1)  # x * x
    assert plan.assignments[-1].use_count == 2
    out = PassManager(codegen_passes()).run(f.kernel)
    alloc = out.allocation
    assert alloc is not None
    assert len(alloc.chunks) == 200 and alloc.workspace_size <= 2 and alloc.register_count <= 2


def test_deep_chain_prints_without_expanding(deep) -> None:
    _, e, _ = deep
    text = str(e)
    assert isinstance(text, str) and 0 < len(text) < 100 * (2 * DEPTH + 2)


# ---- 60 levels of self-reuse ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def reuse60() -> tuple[SX, SX]:
    x = SX.sym("x")
    e = x
    for _ in range(60):
        e = e * e + 1
    return x, e


def test_self_reuse_prints_plans_and_evaluates_in_dag_size(reuse60) -> None:
    x, e = reuse60
    assert e.node_count() == 122
    text = str(e)
    assert text.startswith("let ") and len(text) < 40 * 122  # let-form, not the 2^60-node tree
    plan = cse_plan([e])
    assert len(plan.assignments) == 118
    assert sum(a.expr.node_count() for a in plan.assignments) <= 4 * 122
    assert str(plan.outputs[0]).count("w") == 2
    f = Function("reuse", [x], [e], output_names=["y"])
    assert f.kernel.op_count() == 120
    assert f(-0.0) == _reference(-0.0, 60)
    assert use_counts([e])[id(x)] == 2**60


@pytest.mark.parametrize("level", LEVELS)
def test_self_reuse_simplifies_in_dag_size(reuse60, level: str) -> None:
    x, e = reuse60
    s = gg.simplify(e, level)
    assert s.node_count() <= 122
    f = Function("reuse", [x], [e], output_names=["y"])
    out = PassManager(simplification_passes(level)).run(f.kernel)
    assert out.op_count() == 120
    assert run(out, [[0.0]]) == [[_reference(0.0, 60)]]
