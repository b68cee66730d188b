"""The staged IR (``ir.staged``): calls and loops over sub-slices, their verifier, printer,
interpreter and inliner, the layout pass and the module pass manager."""

from __future__ import annotations

import math
import pathlib

import attrs
import pytest

import gradgen as gg
from gradgen.config import RustBackendConfig
from gradgen.dump import main as dump_main
from gradgen.errors import VerificationError
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.printer import format_module
from gradgen.ir.staged import STAGE_LAYOUT, Call, Carry, Ref, module_of, unrolled
from gradgen.ir.verify import verify
from gradgen.passes.manager import PassEvent
from gradgen.pipeline import compile_kernel


def _stage_functions() -> tuple[gg.Function, gg.Function]:
    x = gg.SXVector.sym("x", 2)
    # f: R^2 -> R^3, g: (acc in R, y in R^3) -> acc
    f = gg.Function("f", [x], [[gg.sin(x[0]) * x[1], x[0] + x[1], x[1] ** 2]], ["x"], ["y"])
    acc, y = gg.SX.sym("acc"), gg.SXVector.sym("y", 3)
    g = gg.Function("g", [acc, y], [acc * gg.cos(y[0]) + y[1] * y[2]], ["acc", "y"], ["acc_next"])
    return f, g


def _pipeline_kernel(n: int) -> Kernel:
    """map f over n blocks into a temporary, then fold g over it: every feature of the IR."""
    f, g = _stage_functions()
    steps = (
        Call(f.kernel, n, (Ref("in", 1, 0, 2),), (Ref("tmp", 0, 0, 3),)),
        Call(g.kernel, n, (None, Ref("tmp", 0, 0, 3)), (None,), (Carry(0, 0, Ref("in", 0), Ref("out", 0)),)),
    )
    return Kernel(
        "pipeline",
        (Port("acc0", 1, True), Port("x_seq", 2 * n)),
        (Port("total", 1, True),),
        [],
        [],
        [],
        [[]],
        steps=steps,
        temps=(3 * n,),
    )


def _reference(acc: float, xs: list[float]) -> float:
    for k in range(len(xs) // 2):
        a, b = xs[2 * k], xs[2 * k + 1]
        y = (math.sin(a) * b, a + b, b**2)
        acc = acc * math.cos(y[0]) + y[1] * y[2]
    return acc


def test_interpreter_and_unrolled_kernel_equal_a_python_loop() -> None:
    n = 7
    kernel = _pipeline_kernel(n)
    verify(kernel)
    xs = [0.1 * k - 0.3 for k in range(2 * n)]
    expected = _reference(0.5, xs)
    assert run(kernel, [[0.5], xs])[0][0] == pytest.approx(expected, rel=1e-14)
    flat = unrolled(kernel)
    assert not flat.steps and len(flat.ops) > 10 * n
    verify(flat)
    assert run(flat, [[0.5], xs]) == run(kernel, [[0.5], xs])


def test_reverse_loop_visits_stages_in_descending_order() -> None:
    x = gg.SX.sym("x")
    acc = gg.SX.sym("acc")
    step = gg.Function("step", [acc, x], [acc * 10 + x], ["acc", "x"], ["out"])
    call = Call(
        step.kernel, 3, (None, Ref("in", 1, 0, 1)), (None,), (Carry(0, 0, Ref("in", 0), Ref("out", 0)),)
    )
    k = Kernel("digits", (Port("a", 1), Port("xs", 3)), (Port("o", 1),), [], [], [], [[]], steps=(call,))
    assert run(k, [[0.0], [1.0, 2.0, 3.0]]) == [[123.0]]
    rev = attrs.evolve(k, steps=(attrs.evolve(call, reverse=True),))
    assert run(rev, [[0.0], [1.0, 2.0, 3.0]]) == [[321.0]]
    assert run(unrolled(rev), [[0.0], [1.0, 2.0, 3.0]]) == [[321.0]]


def test_printer_shows_calls_loops_and_carries(ir_snapshot) -> None:
    text = format_module([_pipeline_kernel(4)])
    assert "s0 = loop k in 4: call f(in1[0+2k;2]) -> (t0[0+3k;3])" in text
    assert "carry acc_next -> acc: init in0[0;1], final out0[0;1]" in text
    assert text == ir_snapshot


def test_module_lists_each_callee_once_before_its_callers() -> None:
    inner = _pipeline_kernel(3)
    outer = Kernel(
        "outer",
        inner.inputs,
        inner.outputs,
        [],
        [],
        [],
        [[]],
        steps=(Call(inner, 1, (Ref("in", 0), Ref("in", 1)), (Ref("out", 0),)),),
    )
    names = [k.name for k in module_of([outer, inner])]
    assert names == ["f", "g", "pipeline", "outer"]
    verify(outer)
    assert run(outer, [[0.5], [0.1] * 6]) == run(inner, [[0.5], [0.1] * 6])


def test_module_pipeline_compiles_callees_first_and_lays_out_the_workspace() -> None:
    events: list[PassEvent] = []
    kernel = compile_kernel(_pipeline_kernel(5), RustBackendConfig(), callback=events.append)
    order = [e.after.name for e in events]
    assert order.index("f") < order.index("g") < order.index("pipeline")
    layout = kernel.note(STAGE_LAYOUT)
    # the temporary (3 * 5), then the largest scratch: two carry buffers of 1 (+ g's workspace)
    g_work = kernel.steps[1].callee.allocation.workspace_size
    assert layout.temp_offsets == (0,)
    assert layout.size == 15 + max(kernel.steps[0].callee.allocation.workspace_size, 2 + g_work)
    assert kernel.steps[0].callee.allocation is not None  # callees point at the compiled kernels


def _broken(**changes: object) -> Kernel:
    k = _pipeline_kernel(3)
    step0, step1 = k.steps
    edits = {
        "zero_stages": lambda: attrs.evolve(k, steps=(attrs.evolve(step0, count=0), step1)),
        "past_the_end": lambda: attrs.evolve(
            k, steps=(attrs.evolve(step0, inputs=(Ref("in", 1, 2, 2),)), step1)
        ),
        "bad_stride": lambda: attrs.evolve(
            k, steps=(attrs.evolve(step0, inputs=(Ref("in", 1, 0, 1),)), step1)
        ),
        "write_input": lambda: attrs.evolve(
            k, steps=(attrs.evolve(step0, outputs=(Ref("in", 1, 0, 3),)), step1)
        ),
        "read_before_write": lambda: attrs.evolve(k, steps=(step1,)),
        "output_unwritten": lambda: attrs.evolve(k, steps=(step0,)),
        "overlap": lambda: attrs.evolve(
            k, steps=(step0, attrs.evolve(step1, carries=(Carry(0, 0, Ref("in", 0), Ref("tmp", 0, 4)),)))
        ),
        "overlapping_reads": lambda: attrs.evolve(
            k,
            steps=(
                step0,
                attrs.evolve(step1, inputs=(None, Ref("tmp", 0, 0, 3))),
                attrs.evolve(
                    step1,
                    count=1,
                    inputs=(None, Ref("tmp", 0, 1)),
                    carries=(Carry(0, 0, Ref("tmp", 0, 2)),),
                ),
            ),
        ),
        "binding_count": lambda: attrs.evolve(k, steps=(attrs.evolve(step0, inputs=()), step1)),
        "carry_size": lambda: attrs.evolve(
            k, steps=(step0, attrs.evolve(step1, carries=(Carry(1, 0, Ref("tmp", 0), None),)))
        ),
        "not_a_kernel": lambda: attrs.evolve(k, steps=(attrs.evolve(step0, callee="f"), step1)),
        "missing_buffer": lambda: attrs.evolve(
            k, steps=(attrs.evolve(step0, outputs=(Ref("tmp", 3, 0, 3),)), step1)
        ),
    }
    return edits[str(changes["case"])]()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("zero_stages", "runs 0 stages"),
        ("past_the_end", "past 6"),
        ("bad_stride", "must have stride 0 or 2"),
        ("write_input", "writes the invalid buffer 'in'"),
        ("read_before_write", "before it is written"),
        ("output_unwritten", "is not written completely"),
        ("overlap", "overlaps another slice"),
        ("overlapping_reads", "two slices of tmp0 read by the call overlap"),
        ("binding_count", "binds 0 input(s)"),
        ("carry_size", "carries output 'acc_next' (1) into input 'y' (3)"),
        ("not_a_kernel", "calls 'f', which is not a kernel"),
        ("missing_buffer", "missing buffer tmp3"),
    ],
)
def test_verifier_names_each_broken_invariant(case: str, message: str) -> None:
    with pytest.raises(VerificationError) as info:
        verify(_broken(case=case), "test")
    assert message in str(info.value)
    assert "(after test)" in str(info.value)


def test_dump_tool_prints_the_module(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "target.py"
    target.write_text(
        "import gradgen as gg\n"
        "from gradgen.staged import map_function\n"
        "x = gg.SXVector.sym('x', 2)\n"
        "f = gg.Function('f', [x], [x * 2.0], ['x'], ['y'])\n"
        "mapped = map_function(f, 4)\n"
    )
    assert dump_main([f"{target}:mapped"]) == 0
    out = capsys.readouterr().out
    assert out.index("kernel f(x[2]) -> (y[2])\n  ; rust fn f_map_f(x, y, _work)") < out.index(
        "kernel f_map("
    )
    assert "s0 = loop k in 4: call f(in0[0+2k;2]) -> (out0[0+2k;2])" in out
    assert dump_main([f"{target}:mapped", "--kernel", "gradient"]) == 2
