"""Common subexpression elimination: the kernel pass (idempotent, merges duplicates, keeps values)
and the user-facing plan of ``gradgen.cse`` with use counts computed on the DAG."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradgen as gg
from gradgen import SX, Function, SXVector
from gradgen.errors import GradgenTypeError
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.ops import Op
from gradgen.ir.printer import format_kernel
from gradgen.ir.verify import verify
from gradgen.passes.cse import CSEPass, cse_plan, use_counts
from tests.test_passes import PROPERTY, bits, kernel_inputs, random_kernels, special_inputs

x, y = SX.sym("x"), SX.sym("y")


@PROPERTY
@given(random_kernels(), st.lists(special_inputs, min_size=3, max_size=3))
def test_cse_twice_changes_nothing_and_keeps_values(kernel: Kernel, xs: list[float]) -> None:
    once = CSEPass().run(kernel)
    twice = CSEPass().run(once)
    verify(once, "cse")
    assert format_kernel(twice) == format_kernel(once)
    want = run(kernel, kernel_inputs(kernel, xs))
    got = run(once, kernel_inputs(once, xs))
    assert [[bits(v) for v in r] for r in want] == [[bits(v) for v in r] for r in got]


def test_cse_merges_duplicate_instructions_including_commuted_ones() -> None:
    # built by hand: the builder would never produce duplicates
    k = Kernel(
        name="dups",
        inputs=(Port("x", 2),),
        outputs=(Port("y", 1, True),),
        ops=[Op.INPUT, Op.INPUT, Op.MUL, Op.MUL, Op.ADD, Op.SIN, Op.SIN, Op.ADD],
        args=[(), (), (0, 1), (1, 0), (2, 3), (4,), (4,), (5, 6)],
        attrs=[(0, 0), (0, 1), None, None, None, None, None, None],
        results=[[7]],
    )
    verify(k)
    out = CSEPass().run(k)
    assert out.histogram() == {"add": 2, "input": 2, "mul": 1, "sin": 1}
    assert run(out, [[0.5, 3.0]]) == run(k, [[0.5, 3.0]])
    assert format_kernel(out) == (
        "kernel dups(x[2]) -> (y: scalar)\n"
        "  v0 = input x[0]\n  v1 = input x[1]\n  v2 = mul v0, v1\n  v3 = add v2, v2\n"
        "  v4 = sin v3\n  v5 = add v4, v4\n  y[0] = v5\n"
    )


def test_cse_plan_of_the_seed_example() -> None:
    z = x * x + 1
    out = z + z * z
    plan = gg.cse(out)
    assert [(a.name, str(a.expr), a.use_count) for a in plan.assignments] == [
        ("w0", "x * x", 3),
        ("w1", "w0 + 1", 3),
    ]
    assert [str(o) for o in plan.outputs] == ["w1 + w1 * w1"]
    assert len(plan) == 2
    f = Function("f", [x], [out], output_names=["y"])
    assert [(a.name, a.use_count) for a in f.cse().assignments] == [("w0", 3), ("w1", 3)]


def test_cse_plan_options_and_names() -> None:
    w0 = SX.sym("w0")
    e = gg.sin(x * w0) + gg.cos(x * w0) * (x * w0)
    plan = gg.cse([e, SXVector([x * w0, y])], min_uses=3, prefix="w")
    assert [(a.name, str(a.expr), a.use_count) for a in plan.assignments] == [("w1", "x * w0", 4)]
    assert [str(o) for o in plan.outputs] == ["sin(w1) + cos(w1) * w1", "w1", "y"]
    every = gg.cse(e, min_uses=1, prefix="t")
    assert [a.name for a in every.assignments] == ["t0", "t1", "t2", "t3", "t4"]
    assert all(a.use_count >= 1 for a in every.assignments)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_uses": 0}, r"min_uses must be a positive integer, got 0"),
        ({"min_uses": 2.0}, r"min_uses must be a positive integer, got 2\.0"),
        ({"min_uses": True}, r"min_uses must be a positive integer, got True"),
        ({"prefix": ""}, r"prefix must be a non-empty string, got ''"),
        ({"prefix": 3}, r"prefix must be a non-empty string, got 3"),
    ],
)
def test_cse_plan_rejects_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(GradgenTypeError, match=message):
        gg.cse(x * x, **kwargs)


def test_cse_rejects_non_expressions() -> None:
    with pytest.raises(GradgenTypeError, match=r"cse expects expressions, got object"):
        gg.cse(object())


def _self_reuse(levels: int) -> SX:
    e = x
    for _ in range(levels):
        e = e * e + 1
    return e


def test_use_count_on_a_60_level_self_reuse_dag_is_exact() -> None:
    e = _self_reuse(60)
    counts = use_counts([e])
    assert counts[id(x)] == 2**60
    plan = cse_plan([e])
    # e_k = m_k + 1 with m_k = e_{k-1} * e_{k-1}: e_k and m_k occur 2^(60-k) times, k = 1..59
    assert len(plan.assignments) == 2 * 59
    expected = sorted([2 ** (60 - k) for k in range(1, 60)] * 2, reverse=True)
    assert [a.use_count for a in plan.assignments] == expected
    assert plan.assignments[0].use_count == 2**59 and str(plan.assignments[0].expr) == "x * x"
    assert str(plan.outputs[0]) == "w117 * w117 + 1"
    # the plan is as large as the DAG, not the tree
    assert sum(a.expr.node_count() for a in plan.assignments) <= 4 * e.node_count()
