"""The layout pass of staged kernels (``passes.staging``): a loop's state buffers placed on the
temporaries a carry starts from or ends in, so that no copy moves the state between calls; and
kept apart whenever the loop would overwrite a slice something else still reads."""

from __future__ import annotations

import math
import pathlib
import re
from typing import Any

import attrs
import pytest

import gradgen as gg
import gradgen.passes.staging as staging
from gradgen.backends.rust_module import emit_module
from gradgen.config import RustBackendConfig
from gradgen.errors import VerificationError
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.staged import STAGE_LAYOUT, Call, Carry, Ref, StageLayout, final_buffer, unrolled
from gradgen.ir.verify import verify
from gradgen.pipeline import compile_kernel
from tests.staged_crates import build_and_compare
from tests.test_shooting import X0, P, _controls, _direction, pendulum


def _layout(kernel: Kernel) -> StageLayout:
    layout = compile_kernel(kernel, RustBackendConfig()).note(STAGE_LAYOUT)
    assert isinstance(layout, StageLayout)
    return layout


# ---- small staged kernels, one rule each ---------------------------------------------------------
def _stage_functions() -> tuple[gg.Function, gg.Function, gg.Function]:
    """``step(acc[2], x, c[2]) -> acc_next[2]``, ``twist(a[2]) -> b[2]``, ``add(a[2], b[2])``."""
    acc, x, c = gg.SXVector.sym("acc", 2), gg.SX.sym("x"), gg.SXVector.sym("c", 2)
    step = gg.Function(
        "step",
        [acc, x, c],
        [[acc[0] * gg.cos(x) + c[0] * acc[1], acc[1] - gg.sin(acc[0]) * x + c[1]]],
        ["acc", "x", "c"],
        ["acc_next"],
    )
    a, b = gg.SXVector.sym("a", 2), gg.SXVector.sym("b", 2)
    twist = gg.Function("twist", [a], [[gg.sin(a[1]) + a[0], a[0] * a[1] - 0.5]], ["a"], ["b"])
    add = gg.Function("add", [a, b], [[a[0] + 2.0 * b[0], a[1] - b[1]]], ["a", "b"], ["s"])
    return step, twist, add


def _kernel(name: str, n: int, temps: int, steps: tuple[Call, ...]) -> Kernel:
    ins = (Port("a0", 2), Port("xs", n))
    return Kernel(name, ins, (Port("out", 2),), [], [], [], [[]], steps=steps, temps=(2,) * temps)


def _shared(n: int) -> Kernel:
    """A single call ending in ``t0``; a loop from ``t0`` into ``t1``; a reversed loop from
    ``t1`` that reads ``t0`` at every stage (so the first loop's state may not live in ``t0``)."""
    step, _, _ = _stage_functions()
    k = step.kernel
    return _kernel(
        "shared",
        n,
        2,
        (
            Call(
                k, 1, (None, Ref("in", 1), Ref("in", 0)), (None,), (Carry(0, 0, Ref("in", 0), Ref("tmp", 0)),)
            ),
            Call(
                k,
                n,
                (None, Ref("in", 1, 0, 1), Ref("in", 0)),
                (None,),
                (Carry(0, 0, Ref("tmp", 0), Ref("tmp", 1)),),
            ),
            Call(
                k,
                n,
                (None, Ref("in", 1, 0, 1), Ref("tmp", 0)),
                (None,),
                (Carry(0, 0, Ref("tmp", 1), Ref("out", 0)),),
                reverse=True,
            ),
        ),
    )


def _read_later(n: int) -> Kernel:
    """A loop from ``t0`` into ``t1``, and a call reading ``t0`` again after it."""
    step, twist, add = _stage_functions()
    return _kernel(
        "read_later",
        n,
        2,
        (
            Call(twist.kernel, 1, (Ref("in", 0),), (Ref("tmp", 0),)),
            Call(
                step.kernel,
                n,
                (None, Ref("in", 1, 0, 1), Ref("in", 0)),
                (None,),
                (Carry(0, 0, Ref("tmp", 0), Ref("tmp", 1)),),
            ),
            Call(add.kernel, 1, (Ref("tmp", 0), Ref("tmp", 1)), (Ref("out", 0),)),
        ),
    )


def _both_ends(n: int) -> Kernel:
    """Loops from one temporary into another: the first buffer is the start, the end is copied."""
    step, twist, _ = _stage_functions()
    k = step.kernel
    return _kernel(
        "both_ends",
        n,
        3,
        (
            Call(twist.kernel, 1, (Ref("in", 0),), (Ref("tmp", 0),)),
            Call(
                k,
                n,
                (None, Ref("in", 1, 0, 1), Ref("in", 0)),
                (None,),
                (Carry(0, 0, Ref("tmp", 0), Ref("tmp", 1)),),
            ),
            Call(
                k,
                1,
                (None, Ref("in", 1), Ref("in", 0)),
                (None,),
                (Carry(0, 0, Ref("tmp", 1), Ref("tmp", 2)),),
            ),
            Call(twist.kernel, 1, (Ref("tmp", 2),), (Ref("out", 0),)),
        ),
    )


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_which_buffers_are_temporaries(n: int) -> None:
    shared = _layout(_shared(n))
    t0, t1 = shared.temp_offsets
    single, forward, backward = (s.carry_buffers[0] for s in shared.steps)
    assert single[1] == t0 and single[0] >= 4  # a single call writes its second buffer
    assert t0 not in forward  # the reversed loop reads t0: the forward state lives elsewhere
    end = final_buffer(_shared(n).steps[1], shared.steps[1].unroll)
    assert forward[end] == t1
    assert forward[1 - end] >= 4
    assert backward[0] == t1 and backward[1] >= 4
    later = _layout(_read_later(n))
    end = final_buffer(_read_later(n).steps[1], later.steps[1].unroll)
    assert later.steps[1].carry_buffers[0][end] == later.temp_offsets[1]
    assert later.temp_offsets[0] not in later.steps[1].carry_buffers[0]  # read again by the add
    ends = _layout(_both_ends(n))
    # the start wins whatever the parity of n (the printed code is the same for every n)
    assert ends.steps[1].carry_buffers[0][0] == ends.temp_offsets[0]
    assert ends.steps[1].carry_buffers[0][1] >= 6
    assert ends.steps[2].carry_buffers[0][0] == ends.temp_offsets[1]
    assert ends.size == 6 + 2  # the temporaries and one buffer of 2


def test_the_buffer_holding_the_end_counts_swaps() -> None:
    """A loop swaps its state buffers after each iteration of ``unroll`` stages and after each
    stage left over; a single call writes the second buffer."""
    call = _shared(1).steps[0]
    assert final_buffer(call) == final_buffer(call, 2) == 1
    for count, one, two in ((2, 0, 1), (3, 1, 0), (4, 0, 0), (5, 1, 1), (6, 0, 1), (7, 1, 0), (8, 0, 0)):
        looped = attrs.evolve(call, count=count)
        assert (final_buffer(looped), final_buffer(looped, 2)) == (one, two), count
        # the same as counting the swaps
        whole, left = divmod(count, 2)
        assert final_buffer(looped, 2) == (whole + left) % 2


def _loop_over(callee: Kernel, count: int) -> Call:
    """``count`` stages of ``callee(state, x) -> state_next``."""
    carry = Carry(0, 0, Ref("in", 0), Ref("out", 0))
    return Call(callee, count, (None, Ref("in", 1, 0, 1)), (None,), (carry,))


def _chain(name: str, state: int, links: int) -> Kernel:
    """``state_next[i] = state[i] * cos(x) + ...``: about ``3 * links`` instructions."""
    s, x = gg.SXVector.sym("s", state), gg.SX.sym("x")
    v = s[0]
    for k in range(links):
        v = v * gg.cos(x + k) + s[k % state]
    return gg.Function(name, [s, x], [[v + s[i] for i in range(state)]], ["s", "x"], ["s_next"]).kernel


def test_small_loops_run_two_stages_per_iteration() -> None:
    small = _chain("small", 2, 10)
    assert staging.unroll_of(_loop_over(small, 4)) == staging.UNROLL == 2
    assert staging.unroll_of(_loop_over(small, 1000)) == 2
    assert staging.unroll_of(_loop_over(small, 3)) == 1  # fewer than two iterations
    big = _chain("big", 2, staging.UNROLL_MAX_OPS // 3 + 1)
    assert len(big.ops) > staging.UNROLL_MAX_OPS
    assert staging.unroll_of(_loop_over(big, 10)) == 1  # enough work in one stage
    wide = _chain("wide", staging.UNROLL_MAX_CARRY + 1, 3)
    assert staging.unroll_of(_loop_over(wide, 10)) == 1  # a large local
    # one carried value (LLVM keeps it in a register on its own), or none (a map: nothing passes)
    assert staging.unroll_of(_loop_over(_chain("one", 1, 10), 10)) == 1
    mapped = Call(small, 10, (Ref("in", 0, 0, 2), Ref("in", 1, 0, 1)), (Ref("out", 0, 0, 2),))
    assert staging.unroll_of(mapped) == 1
    nested = _read_later(2)  # a staged callee: its loops are its own
    call = Call(nested, 10, (None, Ref("in", 1, 0, 2)), (None,), (Carry(0, 0, Ref("in", 0), Ref("out", 0)),))
    assert staging.unroll_of(call) == 1
    # the layout records it; the printer marks the callees of unrolled loops inline
    for n, unroll in ((3, 1), (4, 2)):
        layout = _layout(_shared(n))
        assert [s.unroll for s in layout.steps] == [1, unroll, unroll]
        text = emit_module([compile_kernel(_shared(n), RustBackendConfig())])
        assert text.count("#[inline(always)]\nfn shared_step(") == (unroll > 1)


def test_an_unrolled_loop_keeps_the_state_between_its_two_stages_in_a_local() -> None:
    problem = pendulum(7)
    source = problem.gradient().generate_rust().source
    entry = source[source.index("pub fn pendulum_gradient") :]
    helpers = re.findall(
        r"(#\[inline\(always\)\]\n)?(?:#\[allow\(.*\)\]\n)?fn (pendulum_gradient_\w+)\(", source
    )
    assert {name for inline, name in helpers if inline} == {
        "pendulum_gradient_pendulum_rollout",
        "pendulum_gradient_pendulum_adjoint",
    }
    assert {name for inline, name in helpers if not inline} == {"pendulum_gradient_pendulum_terminal"}
    # each loop: two calls, the second reading the state the first wrote into a local array;
    # the seventh stage after the forward loop, and the first after the reversed one
    loops = entry.split("for ")[1:]
    assert len(loops) == 2
    for loop in loops:
        body = loop[: loop.index("\n    }\n")]
        local = re.search(r"let mut (w\d+) = \[0\.0; 2\];", body)
        assert local is not None
        assert body.count(f"&mut {local.group(1)}") == 1 and body.count(f"&{local.group(1)},") == 1
        assert len(re.findall(r"pendulum_gradient_pendulum_\w+\(", body)) == 2
        after = loop[loop.index("\n    }\n") :]
        assert (
            len(re.findall(r"pendulum_gradient_pendulum_(?:rollout|adjoint)\(", after.split("for ")[0])) == 1
        )
    assert problem.gradient()(X0, _controls(7), P) == pytest.approx(
        problem.gradient().to_function()(X0, _controls(7), P), rel=1e-13
    )


def _in_place(n: int) -> Kernel:
    """A loop writing each stage's block of the output ``ys``, then a reversed loop that reads
    stage k's block and overwrites it (an input bound to the slice an output writes)."""
    x, y, acc = gg.SX.sym("x"), gg.SXVector.sym("y", 2), gg.SXVector.sym("acc", 2)
    lift = gg.Function("lift", [x], [[gg.sin(x), x * x]], ["x"], ["y"])
    update = gg.Function(
        "update",
        [y, acc, x],
        [[acc[0] * 0.5 + y[0], acc[1] - y[1] * x], [y[0] * acc[1] + x, y[1] - acc[0]]],
        ["y", "acc", "x"],
        ["acc_next", "y_next"],
    )
    block = Ref("out", 1, 0, 2)
    steps = (
        Call(lift.kernel, n, (Ref("in", 1, 0, 1),), (block,)),
        Call(
            update.kernel,
            n,
            (block, None, Ref("in", 1, 0, 1)),
            (None, block),
            (Carry(1, 0, Ref("in", 0), Ref("out", 0)),),
            reverse=True,
        ),
    )
    ins = (Port("a0", 2), Port("xs", n))
    return Kernel("in_place", ins, (Port("out", 2), Port("ys", 2 * n)), [], [], [], [[], []], steps=steps)


def test_a_call_reads_the_slice_it_overwrites_as_it_was_before_the_call() -> None:
    n = 3
    xs = [0.3, -0.7, 1.1]
    acc = [0.7, -0.4]
    ys = [v for x in xs for v in (math.sin(x), x * x)]
    for k in reversed(range(n)):
        y0, y1 = ys[2 * k], ys[2 * k + 1]
        ys[2 * k], ys[2 * k + 1] = y0 * acc[1] + xs[k], y1 - acc[0]
        acc = [acc[0] * 0.5 + y0, acc[1] - y1 * xs[k]]
    kernel = _in_place(n)
    verify(kernel)
    got = run(kernel, [[0.7, -0.4], xs])
    assert got[0] == pytest.approx(acc, rel=1e-15) and got[1] == pytest.approx(ys, rel=1e-15)
    assert run(unrolled(kernel), [[0.7, -0.4], xs]) == run(kernel, [[0.7, -0.4], xs])
    # in Rust, stage k's block is copied into a local array, then the block itself is lent out
    for count in (n, 1):
        text = emit_module([compile_kernel(_in_place(count), RustBackendConfig())])
        copy = re.search(r"let mut (w\d+) = \[0\.0; 2\];\n +\1\.copy_from_slice\((\w+)\);\n +(.*)", text)
        assert copy is not None
        assert copy.group(3).startswith(f"in_place_update(&{copy.group(1)}, ")
        assert copy.group(3).endswith(f", {copy.group(2)}, &mut [])?;")
    # a read slice that only overlaps the written one, or one read before anything wrote it
    back = kernel.steps[1]
    shifted = attrs.evolve(back, inputs=(Ref("out", 1, 0, 0), None, Ref("in", 1, 0, 1)))
    with pytest.raises(VerificationError, match="a written slice of out1 overlaps another slice"):
        verify(attrs.evolve(kernel, steps=(kernel.steps[0], shifted)))
    with pytest.raises(VerificationError, match=r"reads out1\[0:6\] before it is written"):
        verify(attrs.evolve(kernel, steps=(back,)))


class _Raw:
    """A staged kernel as a build_and_compare case, evaluated through its unrolled kernel."""

    def __init__(self, kernel: Kernel) -> None:
        verify(kernel)
        self.kernel = kernel

    def __call__(self, *args: list[float]) -> tuple[list[float], ...]:
        flat = run(unrolled(self.kernel), [list(a) for a in args])
        assert flat == run(self.kernel, [list(a) for a in args])
        return tuple(flat)


@pytest.mark.parametrize(("scalar", "mode"), [("f64", "std"), ("f32", "no_std")])
def test_compiled_kernels_equal_their_unrolled_form(
    tmp_path: pathlib.Path, scalar: str, mode: str, cargo_available: None
) -> None:
    """Odd and even stage counts (the buffer holding the end differs), each rule, and the
    single-shooting kernels, against the unrolled kernels and the unrolled functions."""
    cases: list[tuple[str, Any, list[list[float]]]] = []
    for n in (3, 4, 5):
        xs = [0.3 - 0.2 * k for k in range(n)]
        for make in (_shared, _read_later, _both_ends, _in_place):
            cases.append((f"{make.__name__.strip('_')}_{n}", _Raw(make(n)), [[0.7, -0.4], xs]))
    cases.append(("in_place_1", _Raw(_in_place(1)), [[0.7, -0.4], [0.9]]))
    reference: dict[str, list[float]] = {}
    for n in (5, 6):
        problem, args = pendulum(n), [X0, _controls(n), P]
        for label, fn, a in (
            ("gradient", problem.gradient(), args),
            ("hvp", problem.hvp(), [*args, _direction(n)]),
            ("states", problem.primal(include_states=True), args),
        ):
            cases.append((f"ocp_{label}_{n}", fn, a))
            flat = fn.to_function()(*a)
            flat = flat if isinstance(flat, tuple) else (flat,)
            for j, o in enumerate(flat):
                reference[f"ocp_{label}_{n}.{j}"] = [o] if isinstance(o, float) else list(o)
    config = RustBackendConfig().with_scalar_type(scalar).with_backend_mode(mode)
    rust, python = build_and_compare(tmp_path, f"layout_{scalar}", cases, config)
    tol = {"rel": 1e-12, "abs": 1e-14} if scalar == "f64" else {"rel": 1e-3, "abs": 1e-4}
    for label, ref in python.items():
        assert rust[label] == pytest.approx(ref, **tol), label
    if scalar == "f64":
        for label, ref in reference.items():
            assert python[label] == pytest.approx(ref, rel=1e-12, abs=1e-14), label


def test_three_stages_per_iteration_run_the_two_left_over_in_a_loop(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, cargo_available: None
) -> None:
    """With ``UNROLL`` at 3, 8 stages are two iterations and a loop over the 2 left over (the
    last two, the first two for a reversed loop), 7 stages leave one call after the loop and 9
    none: compiled, against the unrolled kernels."""
    monkeypatch.setattr(staging, "UNROLL", 3)
    cases: list[tuple[str, Any, list[list[float]]]] = []
    for n in (7, 8, 9):
        xs = [0.3 - 0.1 * k for k in range(n)]
        for make in (_shared, _in_place):
            cases.append((f"{make.__name__.strip('_')}_{n}", _Raw(make(n)), [[0.7, -0.4], xs]))
    problem = pendulum(8)
    cases.append(("ocp_gradient_8", problem.gradient(), [X0, _controls(8), P]))
    cases.append(("ocp_hvp_8", problem.hvp(), [X0, _controls(8), P, _direction(8)]))
    reference: dict[str, list[float]] = {}
    for name, fn, a in cases[-2:]:
        flat = fn.to_function()(*a)
        for j, o in enumerate(flat if isinstance(flat, tuple) else (flat,)):
            reference[f"{name}.{j}"] = [o] if isinstance(o, float) else list(o)
    layouts = {n: _layout(_shared(n)).steps[1].unroll for n in (7, 8, 9)}
    assert layouts == {7: 3, 8: 3, 9: 3}
    source = emit_module([compile_kernel(_shared(8), RustBackendConfig())])
    entry = source[source.index("pub fn shared(") :]
    # the forward loop: chunks of 3 stages, then a loop over chunks of 1 (the 2 left over)
    assert ".chunks_exact(3)" in entry and ".chunks_exact(1)" in entry
    assert entry.count("for ") == 4  # both loops of the forward and of the reversed call
    rust, python = build_and_compare(tmp_path, "unroll_three", cases, RustBackendConfig())
    for label, ref in python.items():
        assert rust[label] == pytest.approx(ref, rel=1e-12, abs=1e-14), label
    for label, ref in reference.items():
        assert python[label] == pytest.approx(ref, rel=1e-12, abs=1e-14), label


# ---- single shooting: the state stays where the next call reads it -------------------------------
def _state_copies(source: str) -> int:
    """The ``copy_from_slice`` calls of ``source`` but those filling a local array (the tape
    values a reversed stage reads from the output element it then writes)."""
    lines = source.splitlines()
    local = {m.group(1) for m in re.finditer(r"let mut (w\d+) = \[0\.0; \d+\];", source)}
    return sum(".copy_from_slice(" in x and x.strip().split(".")[0] not in local for x in lines)


@pytest.mark.parametrize("n", [5, 6])
def test_shooting_copies_only_the_initial_state(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gradient copies x0 into the forward loop's buffer and nothing else (the final state
    is left where the terminal cost reads it, which writes the adjoint where the reversed loop
    starts); the HVP copies x0 and the tangent's final value (its start, the zero tangent,
    keeps the first buffer). Each saves its copies' workspace."""
    problem = pendulum(n)
    grad, hvp = problem.gradient().generate_rust(), problem.hvp().generate_rust()
    assert _state_copies(grad.source) == 1
    assert grad.source.count(".copy_from_slice(x0);") == 1
    assert _state_copies(hvp.source) == 2
    assert hvp.source.count(".copy_from_slice(x0);") == 1
    # and one tape value per stage out of the output element the reversed stage then writes:
    # one copy per call of the reversed stage (two per iteration, an odd horizon's last apart)
    calls = staging.UNROLL + n % staging.UNROLL
    assert grad.source.count(".copy_from_slice(") == hvp.source.count(".copy_from_slice(") - 1 == 1 + calls
    monkeypatch.setattr(
        staging,
        "carry_buffers",
        lambda kernel, offsets, unrolls: [[(None, None)] * len(c.carries) for c in kernel.steps],
    )
    apart_grad, apart_hvp = problem.gradient().generate_rust(), problem.hvp().generate_rust()
    assert _state_copies(apart_grad.source) == 3
    assert _state_copies(apart_hvp.source) == 6
    assert grad.workspace_size == apart_grad.workspace_size - 2
    assert hvp.workspace_size == apart_hvp.workspace_size - 4
