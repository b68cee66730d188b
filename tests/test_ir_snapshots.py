"""IR snapshots, one per stage: after lowering, after each pass of the ``max`` pipeline, and after
scheduling and allocation, collected through the pass manager's callback so that every pass's
effect is visible in its own file (``snapshots/test_ir_snapshots/``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import gradgen as gg
from gradgen import SX, Function, SXVector
from gradgen.ir.printer import format_kernel
from gradgen.passes.manager import PassEvent, PassManager
from gradgen.passes.pipelines import codegen_passes, simplification_passes


def square_plus_one() -> Function:
    x = SX.sym("x")
    return Function("square_plus_one", [x], [x * x + 1], input_names=["x"], output_names=["y"])


def norm_and_special() -> Function:
    v = SXVector.sym("v", 3)
    u = SX.sym("u")
    e = v.norm2() * gg.erf(u / 2) + gg.sqrt(v.norm2sq()) - gg.log(gg.exp(u)) * (v[0] * 3) * 4
    return Function("norm_special", [v, u], [e], input_names=["v", "u"], output_names=["e"])


def branches() -> Function:
    x, y = SX.sym("x"), SX.sym("y")
    below = gg.if_else(-x, -y, x > y)
    flag = 1 - gg.eq(x, y)
    clipped = gg.if_else(gg.if_else(x, y, x < 1), 0.0, x < 1)
    return Function("branches", [x, y], [SXVector([below, flag, clipped])], output_names=["out"])


def shared() -> Function:
    x = SXVector.sym("x", 2)
    s = x[0] * x[1]
    t = gg.sin(s) + gg.cos(s) * s
    return Function("shared", [x], [SXVector([t * t + s / s, (-t) * (-s), t - t])], output_names=["out"])


CASES: dict[str, Callable[[], Function]] = {
    "square_plus_one": square_plus_one,
    "norm_special": norm_and_special,
    "branches": branches,
    "shared": shared,
}


def _stages(f: Function) -> list[tuple[str, str]]:
    stages = [("0-lowered", format_kernel(f.kernel))]

    def record(event: PassEvent) -> None:
        stages.append((f"{event.index + 1}-{event.name}", format_kernel(event.after)))

    PassManager(simplification_passes("max") + codegen_passes(), callback=record).run(f.kernel)
    return stages


@pytest.mark.parametrize("case", sorted(CASES))
def test_ir_after_each_stage(case: str, ir_snapshot) -> None:
    stages = _stages(CASES[case]())
    assert [name for name, _ in stages] == ["0-lowered", "1-simplify", "2-cse", "3-schedule", "4-allocate"]
    for name, text in stages:
        assert text == ir_snapshot(name=name)
